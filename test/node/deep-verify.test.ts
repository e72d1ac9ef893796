/**
 * Deep verification (`verifyMirror(store, { deep: true })`) on memory, a
 * directory, Ceph RGW and moto: the shared suite (test/contract/deep-verify.contract.ts).
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project node test/node/deep-verify.test.ts
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { Catalog, MemoryStore, Mirror, S3Store, verifyMirror } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { deepVerifyContract } from "../contract/deep-verify.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { rgwConfig } from "../support/rgw.ts";
import { dataFile, TAMPER_SCHEMA } from "../support/tamper-fixture.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-deep-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("deep verification: MemoryStore", () => {
  const mem = () => new MemoryStore();
  deepVerifyContract(vitestHarness, () => ({ source: mem(), target: mem(), another: mem }));
});

describe("deep verification: FileStore", () => {
  const dir = () => new FileStore(join(root, randomId()), { durable: false });
  deepVerifyContract(vitestHarness, () => ({ source: dir(), target: dir(), another: dir }));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("deep verification: S3Store on Ceph RGW", () => {
  const s3 = () => new S3Store({ ...rgw!, prefix: uniquePrefix("deep") });
  deepVerifyContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }));
});

const moto = motoConfig((k) => process.env[k]);
describe.skipIf(!moto)("deep verification: S3Store on moto", () => {
  const s3 = () => new S3Store({ ...moto!, forcePathStyle: true, prefix: uniquePrefix("deep") });
  deepVerifyContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }));
});

describe("deep verification: what a manifest says against what the file holds (memory)", () => {
  /** A one-version table whose manifest entry is `wrong(entry)` for a file of rows 1..20, sequence numbers 1..20; its mirror. */
  const mirrorOf = async (wrong: (e: ReturnType<typeof dataFile>["entry"]) => object, schema = true) => {
    const source = new MemoryStore();
    const f = dataFile(1, 1, 7);
    await source.put("data/a.parquet", f.bytes);
    const catalog = await Catalog.open(source, schema ? { schema: TAMPER_SCHEMA } : {});
    await catalog.commit({ add: [{ path: "data/a.parquet", ...f.entry, ...wrong(f.entry) }] });
    const target = new MemoryStore();
    await new Mirror({ source, target }).tick();
    return (await verifyMirror(target, { deep: true })).problems.map((p) => [p.key, p.kind, p.detail]);
  };

  it("a manifest's row count, key range or sequence range that the file does not hold is named", async () => {
    assert.deepEqual(await mirrorOf(() => ({})), []);
    assert.deepEqual(await mirrorOf(() => ({ numRows: 19 })), [
      ["data/a.parquet", "parquet", "20 rows, its manifest entry says 19"],
    ]);
    // key_min one key above the file's first key; key_max the file's first key.
    const second = dataFile(2, 1, 7).entry.keyMin as Uint8Array;
    assert.deepEqual(await mirrorOf(() => ({ keyMin: second })), [
      ["data/a.parquet", "keys", "its first key lies below the manifest's key_min"],
    ]);
    assert.deepEqual(await mirrorOf((e) => ({ keyMax: e.keyMin })), [
      ["data/a.parquet", "keys", "its last key lies above the manifest's key_max"],
    ]);
    assert.deepEqual(await mirrorOf(() => ({ seqMax: 19n })), [
      ["data/a.parquet", "sequence", "sequence numbers 1..20, the manifest says 1..19"],
    ]);
  });

  it("a version without merutable.schema.json is named: merutable cannot open it", async () => {
    assert.deepEqual(await mirrorOf(() => ({}), false), [
      [
        "metadata/v1.manifest.bin",
        "schema",
        "carries no merutable.schema.json: merutable cannot open v1 (restore refuses it)",
      ],
    ]);
  });
});
