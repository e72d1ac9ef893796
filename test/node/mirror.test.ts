import assert from "node:assert/strict";
import { afterAll, describe, it } from "vitest";
import { manifestKey } from "../../src/catalog/layout.ts";
import {
  Catalog,
  createDataFileRef,
  createDeleteFileRef,
  createManifest,
  DELETE_CONTENT,
  encodeManifest,
  MemoryStore,
  mirrorSnapshot,
  type ObjectStore,
  referencedFiles,
  verifyMirror,
  wrapperOf,
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

describe("mirror on MemoryStore with server-side copies (the copy path)", () => {
  let points = 0;
  mirrorContract(
    vitestHarness,
    () => {
      const copying = () => new MemoryStore({ serverSideCopy: true });
      return { source: copying(), target: copying(), another: copying };
    },
    { exhaustive: true, onCrashPoints: (n) => (points = n) },
  );
  afterAll(() => {
    if (points) console.log(`mirror crash-point sweep, server-side copies: ${points} crash points`);
  });
});

describe("server-side copies on MemoryStore", () => {
  it("a target that copies from the source reads no file body; one that cannot gets the bytes streamed", async () => {
    for (const copies of [true, false]) {
      const source = new MemoryStore({ serverSideCopy: true });
      const target = new MemoryStore({ serverSideCopy: copies });
      const catalog = await Catalog.open(source);
      for (let i = 0; i < 3; i++) await source.put(`data/f${i}.bin`, new Uint8Array(10 + i).fill(i));
      await catalog.commit({
        add: [0, 1, 2].map((i) => ({ path: `data/f${i}.bin`, fileSize: 10 + i, numRows: 1 })),
      });
      const gets: string[] = [];
      const watched: ObjectStore = {
        ...wrapperOf(source),
        get: (k, o) => {
          gets.push(k);
          return source.get(k, o);
        },
        head: (k) => source.head(k),
        put: (k, b, o) => source.put(k, b, o),
        delete: (k) => source.delete(k),
        deleteMany: (ks) => source.deleteMany(ks),
        list: (p, o) => source.list(p, o),
      };
      const r = await mirrorSnapshot({ source: watched, target, version: 1 });
      assert.equal(r.uploadedFiles, 3);
      assert.equal(gets.filter((k) => k.startsWith("data/")).length, copies ? 0 : 3);
      assert.equal((await verifyMirror(target, 1)).ok, true);
      const meta = await target.head("data/f2.bin");
      assert.equal(meta.metadata?.["tidemark-source"], source.id);
      assert.equal(meta.metadata?.["tidemark-source-etag"], (await source.head("data/f2.bin")).etag);
    }
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
