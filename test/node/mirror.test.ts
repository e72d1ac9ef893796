import assert from "node:assert/strict";
import { afterAll, describe, it } from "vitest";
import {
  createDataFileRef,
  createDeleteFileRef,
  createManifest,
  DELETE_CONTENT,
  encodeManifest,
  MemoryStore,
  manifestKey,
  mirrorSnapshot,
  referencedFiles,
  verifyMirror,
} from "../../src/index.ts";
import { mirrorContract } from "../contract/mirror.contract.ts";
import type { Harness } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
let crashPoints = 0;

describe("mirror on MemoryStore", () => {
  mirrorContract(
    vitestHarness,
    () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
    { exhaustive: true, onCrashPoints: (n) => (crashPoints = n) },
  );
  afterAll(() => {
    if (crashPoints) console.log(`mirror crash-point sweep: ${crashPoints} crash points`);
  });
});

describe("mirror of delete files", () => {
  it("copies a snapshot's delete files before its manifest, and verifyMirror checks them", async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    const data = new Uint8Array(100).fill(1);
    const deletes = new Uint8Array(40).fill(2);
    await source.put("data/f1.parquet", data);
    await source.put("data/eq-deletes-1.parquet", deletes);
    const manifest = createManifest({
      snapshotId: 1n,
      sequenceNumber: 1n,
      tableUuid: "00000000-0000-4000-8000-000000000001",
      dataFiles: [createDataFileRef({ path: "data/f1.parquet", fileSize: 100n, numRows: 10n, status: 1 })],
      deleteFiles: [
        createDeleteFileRef({
          path: "data/eq-deletes-1.parquet",
          fileSize: 40n,
          content: DELETE_CONTENT.equality,
        }),
      ],
    });
    await source.put(manifestKey(1), encodeManifest(manifest), { mode: "create" });

    const r = await mirrorSnapshot({ source, target, version: 1 });
    assert.equal(r.uploadedFiles, 2);
    assert.deepEqual(await (await target.get("data/eq-deletes-1.parquet")).bytes(), deletes);
    assert.deepEqual(await verifyMirror(target, 1), {
      version: 1,
      ok: true,
      missing: [],
      wrongSize: [],
      foreign: [],
    });

    // A delete file missing or of the wrong size on the mirror is reported like a data file.
    await target.put("data/eq-deletes-1.parquet", new Uint8Array(3));
    assert.deepEqual((await verifyMirror(target, 1)).wrongSize, ["data/eq-deletes-1.parquet"]);
    await target.delete("data/eq-deletes-1.parquet");
    assert.deepEqual((await verifyMirror(target, 1)).missing, ["data/eq-deletes-1.parquet"]);
    assert.deepEqual(
      referencedFiles(manifest).map((f) => [f.path, f.kind, f.size]),
      [
        ["data/f1.parquet", "data", 100],
        ["data/eq-deletes-1.parquet", "delete", 40],
      ],
    );
  });
});
