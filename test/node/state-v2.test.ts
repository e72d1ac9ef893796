/**
 * LaminarDB's state-v2 checkpoint layout in Node: the fixture roots on memory
 * and directories (all cases) and on Ceph RGW and moto (the cases that
 * exercise the store), and the fixture file is what its Python generator writes.
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
import { checkpointMirrorContract } from "../contract/checkpoint-mirror.contract.ts";
import { STORE_CASES, stateV2Contract } from "../contract/state-v2.contract.ts";
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

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
describe("state-v2 on FileStore", () => {
  stateV2Contract(
    vitestHarness,
    bundle,
    () => {
      const d = mkdtempSync(join(tmpdir(), "tidemark-state-v2-"));
      dirs.push(d);
      return new FileStore(d);
    },
    { cases: STORE_CASES },
  );
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("state-v2 on S3Store (Ceph RGW)", () => {
  const s3 = rgw ? new S3Store({ ...rgw, forcePathStyle: true }) : undefined;
  stateV2Contract(vitestHarness, bundle, () => prefixed(s3!, uniquePrefix("state-v2")), {
    cases: STORE_CASES,
  });
});

const moto = motoConfig((k) => process.env[k]);
describe.skipIf(!moto)("state-v2 on S3Store (moto)", () => {
  const s3 = moto ? new S3Store({ ...moto, forcePathStyle: true }) : undefined;
  stateV2Contract(vitestHarness, bundle, () => prefixed(s3!, uniquePrefix("state-v2")), {
    cases: STORE_CASES,
  });
});

describe("checkpoint mirror on MemoryStore", () => {
  checkpointMirrorContract(
    vitestHarness,
    bundle,
    () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
    {
      exhaustive: true,
      onCrashPoints: (n) => console.log(`checkpoint mirror crash sweep: ${n} crash points`),
    },
  );
});
