/**
 * LaminarDB's state-v2 checkpoint layout in Node: the fixture roots read and
 * verified, and the checkpoint mirror of either layout (state-v2, and the
 * layout before it), on memory (every case, and the crash sweeps),
 * directories, Ceph RGW and moto (the cases that exercise the store); and
 * the fixture file is what its Python generator writes.
 * Run with the S3 servers: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run test/node/state-v2.test.ts
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileStore } from "../../src/node/fs-store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { prefixed } from "../../src/store/prefixed.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { checkpointMirrorContract, SERVICE_SKIPS } from "../contract/checkpoint-mirror.contract.ts";
import { LEGACY_SERVICE_SKIPS, legacyMirrorContract } from "../contract/legacy-mirror.contract.ts";
import { HEADERS_ONLY_CASES, STORE_CASES, stateV2Contract } from "../contract/state-v2.contract.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { rgwConfig } from "../support/rgw.ts";
import { parseBundle } from "../support/state-v2-fixtures.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = join(import.meta.dirname, "..", "..");
const bundle = parseBundle(readFileSync(join(root, "test/fixtures/laminardb-state-v2.json"), "utf8"));

describe("the fixture file", () => {
  it("is what test/support/laminardb_state_v2.py writes", () => {
    const r = spawnSync("python3", [join(root, "test/support/laminardb_state_v2.py"), "--check"], {
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("state-v2 on MemoryStore", () => {
  stateV2Contract(vitestHarness, bundle, () => new MemoryStore());
});

describe("checkpoint mirror on MemoryStore", () => {
  const memory = () => ({
    source: new MemoryStore(),
    target: new MemoryStore(),
    another: () => new MemoryStore(),
  });
  checkpointMirrorContract(vitestHarness, bundle, memory, {
    exhaustive: true,
    onCrashPoints: (n) => console.log(`checkpoint mirror crash sweep: ${n} crash points`),
  });
  describe("the layout before state-v2", () => {
    legacyMirrorContract(vitestHarness, bundle, memory, {
      exhaustive: true,
      onCrashPoints: (n) => console.log(`legacy checkpoint mirror crash sweep: ${n} crash points`),
    });
  });
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const directory = () => {
  const d = mkdtempSync(join(tmpdir(), "tidemark-state-v2-"));
  dirs.push(d);
  return new FileStore(d);
};
describe("state-v2 on FileStore", () => {
  stateV2Contract(vitestHarness, bundle, directory, { cases: STORE_CASES });
  const directories = () => ({ source: directory(), target: directory(), another: directory });
  checkpointMirrorContract(vitestHarness, bundle, directories);
  describe("the layout before state-v2", () => {
    legacyMirrorContract(vitestHarness, bundle, directories);
  });
});

for (const [name, cfg] of [
  ["Ceph RGW", rgwConfig((k) => process.env[k])],
  ["moto", motoConfig((k) => process.env[k])],
] as const) {
  describe.skipIf(!cfg)(`state-v2 on S3Store (${name})`, () => {
    const s3 = cfg ? new S3Store({ ...cfg, forcePathStyle: true }) : undefined;
    const fresh = (): ObjectStore => prefixed(s3!, uniquePrefix("state-v2"));
    stateV2Contract(vitestHarness, bundle, fresh, {
      cases: STORE_CASES,
      headersOnlyCases: HEADERS_ONLY_CASES,
    });
    const pair = () => ({ source: fresh(), target: fresh(), another: fresh });
    checkpointMirrorContract(vitestHarness, bundle, pair, { timeoutMs: 120_000, skip: SERVICE_SKIPS });
    describe("the layout before state-v2", () => {
      legacyMirrorContract(vitestHarness, bundle, pair, { timeoutMs: 120_000, skip: LEGACY_SERVICE_SKIPS });
    });
  });
}
