/**
 * The inspector's Parquet preview (worker/public/parquet-preview.ts) against
 * a real HTTP server on loopback (a public bucket: test/support/bucket-server.ts):
 * the rows it reads equal pyarrow's and duckdb's, for files the demo writer
 * wrote and files pyarrow wrote; the requests it makes (the size comes from
 * the manifest: no HEAD); its errors (401, 403, 404, not Parquet, corrupt,
 * a size that differs from the manifest); merutable's keys made readable.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, beforeAll, describe, it } from "vitest";
import { checkTableSchema, schemaJson } from "../../src/catalog/schema.ts";
import { DEMO_SCHEMA, demoCommit } from "../../src/demo/writer.ts";
import { Catalog, errorCodeOf, liveDataFiles, MemoryStore } from "../../src/index.ts";
import {
  type MeruSchema,
  readableBytes,
  readableInternalKey,
  readableUserKey,
} from "../../worker/public/meru.ts";
import { isNotParquet, PREVIEW_ROWS, previewParquet, rawValue } from "../../worker/public/parquet-preview.ts";
import { type BucketServer, serveBucket } from "../support/bucket-server.ts";
import { interopPython, readParquetPeer, writeParquetPeer } from "../support/parquet-peer.ts";

const python = interopPython();
const tmp = mkdtempSync(join(tmpdir(), "tidemark-preview-"));
const store = new MemoryStore();
let bucket: BucketServer;
let lenient: BucketServer;
const demoFiles: Array<{ path: string; size: number; level: number }> = [];

const source = (server: BucketServer, key: string, size?: number) => ({
  key,
  size: size ?? Number.NaN,
  url: async () => new URL(key, server.url).href,
});
const sizeOf = async (key: string) => (await store.head(key)).size;

beforeAll(async () => {
  // Five demo commits: level-0 files and a compacted one.
  const catalog = await Catalog.open(store);
  let v = 0;
  for (let i = 0; i < 5; i++) v = await demoCommit(store, { files: 2, rows: 150, compactAt: 6 });
  for (const f of liveDataFiles(await catalog.manifest(v))) {
    demoFiles.push({ path: f.path, size: Number(f.fileSize), level: f.level });
  }
  await store.put("data/notes.txt", "these are not the rows you are looking for\n".repeat(4));
  const good = await (await store.get(demoFiles[0]!.path)).bytes();
  // Parquet magic at both ends, garbage between: a corrupt footer.
  const corrupt = new Uint8Array(good.length).fill(0x5a);
  corrupt.set(new TextEncoder().encode("PAR1"), 0);
  corrupt.set(new TextEncoder().encode("PAR1"), corrupt.length - 4);
  await store.put("data/corrupt.parquet", corrupt);
  await store.put("data/private.parquet", good);
  bucket = await serveBucket(store, {
    statusOf: (k) => (k === "data/private.parquet" ? 401 : k === "data/forbidden.parquet" ? 403 : undefined),
  });
  lenient = await serveBucket(store, { ignoreRange: true });
});

afterAll(async () => {
  await bucket?.close();
  await lenient?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The preview's rows in canonical form, column order of the file. */
function canonicalRows(p: Awaited<ReturnType<typeof previewParquet>>) {
  return p.rows.map((r) => p.columns.map((c) => rawValue(r[c.name], p.types[c.name] ?? "")));
}

describe("parquet preview", () => {
  it.skipIf(!python)("reads the first rows of every demo file exactly as pyarrow and duckdb do", async () => {
    assert.ok(demoFiles.some((f) => f.level === 0) && demoFiles.some((f) => f.level > 0));
    for (const f of demoFiles) {
      const p = await previewParquet(source(bucket, f.path, f.size));
      const local = join(tmp, f.path.replaceAll("/", "_"));
      writeFileSync(local, await (await store.get(f.path)).bytes());
      const peer = readParquetPeer(python!, local, PREVIEW_ROWS);
      assert.ok(peer.duckdbAgrees);
      assert.equal(p.numRows, peer.numRows);
      assert.equal(p.rowGroups, peer.rowGroups);
      assert.deepEqual(p.compression, ["SNAPPY"]);
      assert.deepEqual(
        p.columns.map((c) => c.name),
        peer.columns.map((c) => c.name),
      );
      assert.deepEqual(canonicalRows(p), peer.rows, f.path);
      assert.equal(p.rows.length, Math.min(PREVIEW_ROWS, peer.numRows));
      assert.deepEqual(
        JSON.parse(p.kv["merutable.schema"] ?? "null"),
        JSON.parse(schemaJson(checkTableSchema(DEMO_SCHEMA))),
      );
    }
  });

  it.skipIf(!python)(
    "reads files pyarrow wrote (dictionary pages, statistics, strings, small row groups) as pyarrow does",
    async () => {
      // One row group; three (the first holds the preview); row groups of 40 rows (three are read).
      for (const [rows, group] of [
        [250, 250],
        [3000, 1000],
        [250, 40],
      ] as const) {
        const local = join(tmp, `pyarrow-${rows}-${group}.parquet`);
        writeParquetPeer(python!, local, rows, group);
        const key = `data/pyarrow-${rows}-${group}.parquet`;
        await store.put(key, new Uint8Array(readFileSync(local)));
        const p = await previewParquet(source(bucket, key, await sizeOf(key)));
        const peer = readParquetPeer(python!, local, PREVIEW_ROWS);
        assert.equal(p.rowGroups, Math.ceil(rows / group));
        assert.equal(p.rows.length, PREVIEW_ROWS);
        assert.deepEqual(canonicalRows(p), peer.rows);
        assert.ok(p.columns.find((c) => c.name === "name")?.type.includes("STRING"));
      }
    },
  );

  it.skipIf(!python)(
    "a nested column is listed, not previewed; the flat ones are read as pyarrow reads them",
    async () => {
      const local = join(tmp, "pyarrow-nested.parquet");
      writeParquetPeer(python!, local, 120, 120, true);
      await store.put("data/nested.parquet", new Uint8Array(readFileSync(local)));
      const p = await previewParquet(
        source(bucket, "data/nested.parquet", await sizeOf("data/nested.parquet")),
      );
      const peer = readParquetPeer(python!, local, PREVIEW_ROWS);
      const tags = p.columns.find((c) => c.name.startsWith("tags."));
      assert.ok(tags && !tags.flat, JSON.stringify(p.columns.map((c) => [c.name, c.flat])));
      assert.ok(p.columns.filter((c) => c !== tags).every((c) => c.flat));
      const flat = p.columns.map((c, i) => [c, i] as const).filter(([c]) => c.flat);
      assert.deepEqual(
        canonicalRows(p).map((r) => flat.map(([, i]) => r[i])),
        peer.rows.map((r) => r.slice(0, flat.length)),
      );
      assert.ok(p.rows.every((r) => r[tags.name] === undefined));
    },
  );

  it("a one-row-group file takes 1 request under 512 KiB, and never a HEAD", async () => {
    const f = demoFiles[0]!;
    bucket.requests.clear();
    bucket.ranges.clear();
    const p = await previewParquet(source(bucket, f.path, f.size));
    assert.equal(p.requests, 1);
    assert.equal(bucket.requests.get(f.path), 1, "one GET reached the server");
    assert.deepEqual(bucket.ranges.get(f.path), [`bytes=0-${f.size - 1}`]);
  });

  it("a one-row-group file over 512 KiB: 2 requests, no byte read twice, not the whole row group for 100 rows", async () => {
    // Random bytes: Snappy cannot shrink them, so the sizes are what the test needs.
    const rng = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const write = async (key: string, rows: number) => {
      const bytes = new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            {
              name: "blob",
              type: "BYTE_ARRAY",
              data: Array.from({ length: rows }, (_, i) => rng(300 + (i % 7))),
            },
            { name: "n", type: "INT64", data: Array.from({ length: rows }, (_, i) => BigInt(i)) },
          ],
          rowGroupSize: rows,
          pageSize: 256 * 1024,
        }),
      );
      await store.put(key, bytes);
      return bytes.length;
    };
    const read = (key: string) =>
      (bucket.ranges.get(key) ?? []).map((r) => {
        const [a, b] = r.slice("bytes=".length).split("-").map(Number);
        return [a!, b! + 1] as const;
      });
    // 0.9 MiB: the row group (under 2 MiB) in one request, less what the tail read already holds.
    const medium = await write("data/medium.parquet", 3000);
    // 3.6 MiB: the first page of the wide column only (through the offset index).
    const large = await write("data/large.parquet", 12_000);
    for (const [key, size, maxBytes] of [
      ["data/medium.parquet", medium, medium],
      ["data/large.parquet", large, 1024 * 1024],
    ] as const) {
      assert.ok(size > 512 * 1024, `${key}: ${size} bytes`);
      bucket.requests.clear();
      bucket.ranges.clear();
      const p = await previewParquet(source(bucket, key, size));
      assert.equal(p.rowGroups, 1);
      assert.equal(p.rows.length, PREVIEW_ROWS);
      assert.deepEqual(p.rows[99]?.n, 99n);
      assert.equal(p.requests, 2, `${key} (${size} bytes): requests`);
      assert.equal(bucket.requests.get(key), 2);
      const ranges = read(key);
      assert.deepEqual(ranges[0], [size - 512 * 1024, size], "the tail first");
      assert.ok((ranges[1]?.[1] ?? 0) <= size - 512 * 1024, `no byte twice: ${JSON.stringify(ranges)}`);
      const bytes = ranges.reduce((s, [a, b]) => s + b - a, 0);
      assert.ok(bytes <= maxBytes, `${key}: ${bytes} bytes read`);
    }
  });

  it("a server that ignores Range is read from the one whole response", async () => {
    const f = demoFiles.find((x) => x.level > 0)!;
    lenient.requests.clear();
    const p = await previewParquet(source(lenient, f.path, f.size));
    assert.equal(lenient.requests.get(f.path), 1);
    assert.ok(p.rows.length > 0);
  });

  it("errors: 401 and 403 PermissionDenied, 404 NotFound, not Parquet, corrupt, a size unlike the manifest's", async () => {
    const size = demoFiles[0]!.size;
    const code = async (key: string, s = size) => {
      try {
        await previewParquet(source(bucket, key, s));
      } catch (e) {
        // Never the URL in a message: it may be a signed one.
        assert.doesNotMatch((e as Error).message, /127\.0\.0\.1|http:/);
        return { code: errorCodeOf(e), notParquet: isNotParquet(e), message: (e as Error).message };
      }
      throw new Error(`${key}: previewed`);
    };
    assert.deepEqual(await code("data/private.parquet"), {
      code: "PermissionDenied",
      notParquet: false,
      message: '[PermissionDenied] read "data/private.parquet": HTTP 401',
    });
    assert.equal((await code("data/forbidden.parquet")).code, "PermissionDenied");
    assert.equal((await code("data/gone.parquet")).code, "NotFound");
    const notes = await code("data/notes.txt", await sizeOf("data/notes.txt"));
    assert.deepEqual([notes.code, notes.notParquet], ["Corrupt", true]);
    assert.deepEqual([notes.code, (await code("data/notes.txt", 8)).notParquet], ["Corrupt", true]);
    const corrupt = await code("data/corrupt.parquet");
    assert.deepEqual([corrupt.code, corrupt.notParquet], ["Corrupt", false]);
    assert.match(corrupt.message, /cannot decode data\/corrupt\.parquet/);
    const wrong = await code(demoFiles[0]!.path, size + 10);
    assert.equal(wrong.code, "Corrupt");
    assert.match(wrong.message, new RegExp(`the mirror holds ${size} bytes, the manifest says ${size + 10}`));
  });
});

describe("merutable keys made readable", () => {
  const schema = (
    cols: Array<[string, MeruSchema["columns"][number]["col_type"]]>,
    pk: number[],
  ): MeruSchema => ({
    table_name: "t",
    columns: cols.map(([name, col_type]) => ({ name, col_type, nullable: false })),
    primary_key: pk,
  });
  const be = (bits: number, v: bigint) => {
    const b = new Uint8Array(bits / 8);
    const dv = new DataView(b.buffer);
    if (bits === 32) dv.setUint32(0, Number(v));
    else dv.setBigUint64(0, v);
    return [...b];
  };
  const tag = (seq: bigint, op: number) => be(64, (((1n << 56n) - 1n - seq) << 8n) | BigInt(op));

  it("an Int64 key and its tag: id, sequence number and op", () => {
    const s = schema([["id", "Int64"]], [0]);
    const key = new Uint8Array([...be(64, BigInt.asUintN(64, -5n) ^ (1n << 63n)), ...tag(42n, 0)]);
    assert.equal(readableInternalKey(key, s), "id=-5 · seq 42 · delete");
    assert.equal(readableUserKey(key.subarray(0, 8), s), "-5");
    assert.equal(readableInternalKey(key, undefined), undefined);
    assert.equal(readableInternalKey(key.subarray(0, 12), s), undefined, "a truncated key does not decode");
  });

  it("composite keys: byte arrays escaped and terminated, Int32, Double, FixedLenByteArray, Boolean", () => {
    const s = schema(
      [
        ["name", "ByteArray"],
        ["n", "Int32"],
        ["x", "Double"],
        ["h", { FixedLenByteArray: 2 }],
        ["b", "Boolean"],
      ],
      [0, 1, 2, 3, 4],
    );
    const neg = new Uint8Array(8);
    new DataView(neg.buffer).setFloat64(0, -1.5);
    const negKey = neg.map((x) => ~x & 0xff); // negative doubles: every bit flipped
    const key = new Uint8Array([
      ...new TextEncoder().encode("a"),
      0x00,
      0xff, // an escaped 0x00
      ...new TextEncoder().encode("b"),
      0x00,
      0x00, // terminator
      ...be(32, BigInt((7 ^ 0x8000_0000) >>> 0)),
      ...negKey,
      0xca,
      0xfe,
      0x01,
      ...tag(9n, 1),
    ]);
    assert.equal(readableInternalKey(key, s), "name=0x610062, n=7, x=-1.5, h=0xcafe, b=true · seq 9 · put");
  });

  it("bytes as text when printable UTF-8, else hex", () => {
    assert.equal(readableBytes(new TextEncoder().encode("Zoë Ångström")), "Zoë Ångström");
    assert.equal(readableBytes(new Uint8Array([0x66, 0x00])), "0x6600");
    assert.equal(readableBytes(new Uint8Array([0xff, 0xfe])), "0xfffe");
  });
});
