/**
 * The checkpoint mirror over the layout LaminarDB wrote before state-v2, in
 * Node: on memory (every test, and the crash sweep), directories, Ceph RGW
 * and moto (the tests that exercise the store).
 * Run with the S3 servers: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run test/node/legacy-mirror.test.ts
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { FileStore } from "../../src/node/fs-store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { prefixed } from "../../src/store/prefixed.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { LEGACY_SERVICE_SKIPS, legacyMirrorContract } from "../contract/legacy-mirror.contract.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { rgwConfig } from "../support/rgw.ts";
import { parseBundle } from "../support/state-v2-fixtures.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = join(import.meta.dirname, "..", "..");
const bundle = parseBundle(readFileSync(join(root, "test/fixtures/laminardb-state-v2.json"), "utf8"));

describe("legacy checkpoint mirror on MemoryStore", () => {
  legacyMirrorContract(
    vitestHarness,
    bundle,
    () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
    {
      exhaustive: true,
      onCrashPoints: (n) => console.log(`legacy checkpoint mirror crash sweep: ${n} crash points`),
    },
  );
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const directory = () => {
  const d = mkdtempSync(join(tmpdir(), "tidemark-legacy-mirror-"));
  dirs.push(d);
  return new FileStore(d);
};
describe("legacy checkpoint mirror on FileStore", () => {
  legacyMirrorContract(vitestHarness, bundle, () => ({
    source: directory(),
    target: directory(),
    another: directory,
  }));
});

for (const [name, cfg] of [
  ["Ceph RGW", rgwConfig((k) => process.env[k])],
  ["moto", motoConfig((k) => process.env[k])],
] as const) {
  describe.skipIf(!cfg)(`legacy checkpoint mirror on S3Store (${name})`, () => {
    const s3 = cfg ? new S3Store({ ...cfg, forcePathStyle: true }) : undefined;
    const fresh = (): ObjectStore => prefixed(s3!, uniquePrefix("legacy-mirror"));
    legacyMirrorContract(
      vitestHarness,
      bundle,
      () => ({ source: fresh(), target: fresh(), another: fresh }),
      {
        timeoutMs: 120_000,
        skip: LEGACY_SERVICE_SKIPS,
      },
    );
  });
}
