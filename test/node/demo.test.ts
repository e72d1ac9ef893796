/**
 * The demo writer (worker's commit route, `npm start`, `memory:demo`) writes
 * real Parquet files in merutable's layout: checked with independent readers
 * (pyarrow for metadata and rows, duckdb for the rows again), and the
 * manifest it commits carries merutable's schema and describes each file
 * truthfully (size, rows, sequence and key ranges, format).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { demoCommit, seedDemo } from "../../src/demo/writer.ts";
import { Catalog, liveDataFiles, type Manifest, MemoryStore, type ObjectStore } from "../../src/index.ts";
import { assertRejectsOption } from "../support/harness.ts";
import { interopPython, type PeerRead, type PeerValue, readParquetPeer } from "../support/parquet-peer.ts";

const python = interopPython();
const tmp = mkdtempSync(join(tmpdir(), "tidemark-demo-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SEQNUM_MAX = (1n << 56n) - 1n;
const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The schema JSON merutable expects (types/schema.rs), written out here independently of the writer. */
// merutable's serde form: every optional field present (`initial_default`, `write_default`: null).
const col = (name: string, col_type: string, nullable: boolean, field_id: number) => ({
  name,
  col_type,
  nullable,
  field_id,
  initial_default: null,
  write_default: null,
});
const EXPECTED_SCHEMA = {
  table_name: "demo",
  columns: [
    col("id", "Int64", false, 1),
    col("customer", "ByteArray", true, 2),
    col("amount", "Double", true, 3),
    col("quantity", "Int32", false, 4),
    col("paid", "Boolean", true, 5),
  ],
  primary_key: [0],
  schema_id: 0,
  last_column_id: 5,
};

/** Reads `path` of `store` with pyarrow and duckdb. */
async function peer(store: ObjectStore, path: string): Promise<PeerRead> {
  const file = join(tmp, path.replaceAll("/", "_"));
  writeFileSync(file, await (await store.get(path)).bytes());
  const read = readParquetPeer(python!, file);
  assert.ok(read.duckdbAgrees, `duckdb reads the same rows as pyarrow from ${path}`);
  return read;
}

/** Column `name` of every row of `read`. */
function column(read: PeerRead, name: string): PeerValue[] {
  const i = read.columns.findIndex((c) => c.name === name);
  assert.ok(i >= 0, `column ${name}`);
  return read.rows.map((r) => r[i] ?? null);
}

const bytesOf = (v: PeerValue) => Buffer.from((v as { b: string }).b, "hex");
const intOf = (v: PeerValue) => BigInt((v as { i: string }).i);

/** A postcard decoder of merutable's Row (written here, independently of the writer's encoder). */
function decodeRow(blob: Uint8Array): unknown[] {
  let at = 0;
  const varint = () => {
    let n = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = blob[at++] ?? 0;
      n |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return n;
    }
  };
  const unzigzag = (n: bigint) => (n & 1n ? -(n >> 1n) - 1n : n >> 1n);
  const count = Number(varint());
  const fields: unknown[] = [];
  for (let i = 0; i < count; i++) {
    if (blob[at++] === 0) {
      fields.push(null);
      continue;
    }
    const variant = Number(varint());
    if (variant === 0) fields.push(blob[at++] === 1);
    else if (variant === 1 || variant === 2) fields.push(unzigzag(varint()));
    else if (variant === 4) {
      fields.push(new DataView(blob.buffer, blob.byteOffset + at, 8).getFloat64(0, true));
      at += 8;
    } else if (variant === 5) {
      const n = Number(varint());
      fields.push(hexOf(blob.subarray(at, at + n)));
      at += n;
    } else throw new Error(`unexpected FieldValue variant ${variant}`);
  }
  assert.equal(at, blob.length, "the blob holds exactly one row");
  return fields;
}

/** A table of `commits` demo commits (3 files of 40 rows each, compacting at 4 level-0 files). */
async function demoTable(commits: number): Promise<{ store: MemoryStore; manifests: Manifest[] }> {
  const store = new MemoryStore();
  const manifests: Manifest[] = [];
  const catalog = await Catalog.open(store);
  for (let i = 0; i < commits; i++) {
    const v = await demoCommit(store, { files: 3, rows: 40, compactAt: 4 });
    manifests.push(await catalog.manifest(v));
  }
  return { store, manifests };
}

describe("demo writer", () => {
  it.skipIf(!python)(
    "writes snappy parquet with merutable's columns in order, one row group, read alike by pyarrow and duckdb",
    async () => {
      const { store, manifests } = await demoTable(3); // v3 compacts the six level-0 files of v1 and v2
      const head = manifests.at(-1)!;
      const l0 = liveDataFiles(head).find((f) => f.level === 0)!;
      const l1 = liveDataFiles(head).find((f) => f.level === 1)!;
      assert.ok(l0 && l1, "level-0 and level-1 files are live");
      const types = {
        _merutable_ikey: ["BYTE_ARRAY", false],
        _merutable_seq: ["INT64", false],
        _merutable_op: ["INT32", false],
        _merutable_value: ["BYTE_ARRAY", false],
        id: ["INT64", false],
        customer: ["BYTE_ARRAY", true],
        amount: ["DOUBLE", true],
        quantity: ["INT32", false],
        paid: ["BOOLEAN", true],
      } as const;
      for (const [file, names] of [
        [l0, Object.keys(types)],
        [l1, Object.keys(types).filter((n) => n !== "_merutable_value")],
      ] as const) {
        const read = await peer(store, file.path);
        assert.deepEqual(
          read.columns.map((c) => c.name),
          names,
          `${file.path}: internal columns first (the value blob at level 0 only), then the user's`,
        );
        for (const c of read.columns) {
          const [type, nullable] = types[c.name as keyof typeof types];
          assert.equal(c.physicalType, type, `${file.path} ${c.name}`);
          assert.equal(c.nullable, nullable, `${file.path} ${c.name} nullable`);
          assert.equal(c.compression, "SNAPPY", `${file.path} ${c.name}`);
        }
        assert.equal(read.rowGroups, 1);
        assert.deepEqual(JSON.parse(read.kv["merutable.schema"] ?? "null"), EXPECTED_SCHEMA);
      }
    },
  );

  it.skipIf(!python)(
    "each manifest entry matches its file: size, rows, sequence range, key range and format",
    async () => {
      const { store, manifests } = await demoTable(6);
      const checked = new Set<string>();
      for (const m of manifests) {
        for (const f of liveDataFiles(m)) {
          if (checked.has(f.path)) continue;
          const bytes = await (await store.get(f.path)).bytes();
          assert.equal(Number(f.fileSize), bytes.length, `${f.path} size`);
          const read = await peer(store, f.path);
          assert.equal(Number(f.numRows), read.numRows, `${f.path} rows`);
          const seqs = column(read, "_merutable_seq").map(intOf);
          assert.equal(
            f.seqMin,
            seqs.reduce((a, b) => (b < a ? b : a)),
          );
          assert.equal(
            f.seqMax,
            seqs.reduce((a, b) => (b > a ? b : a)),
          );
          const ikeys = column(read, "_merutable_ikey").map((v) => (v as { b: string }).b);
          assert.deepEqual(ikeys, [...ikeys].sort(), `${f.path}: rows sorted by internal key`);
          // merutable's key range is the user key: the internal key without its 8-byte tag.
          assert.equal(hexOf(f.keyMin), ikeys[0]?.slice(0, -16));
          assert.equal(hexOf(f.keyMax), ikeys.at(-1)?.slice(0, -16));
          assert.equal(f.format, f.level === 0 ? 1 : 0, `${f.path}: dual at level 0, columnar above`);
          checked.add(f.path);
        }
      }
      assert.ok(checked.size >= 10, `checked ${checked.size} files`);
    },
  );

  it.skipIf(!python)(
    "rows carry merutable's internal key, tag and value blob; tombstones default their typed columns",
    async () => {
      const { store, manifests } = await demoTable(2);
      let puts = 0;
      let deletes = 0;
      for (const f of liveDataFiles(manifests.at(-1)!).filter((x) => x.level === 0)) {
        const read = await peer(store, f.path);
        const ikey = column(read, "_merutable_ikey").map(bytesOf);
        const seq = column(read, "_merutable_seq").map(intOf);
        const op = column(read, "_merutable_op").map(intOf);
        const value = column(read, "_merutable_value").map(bytesOf);
        const user = ["id", "customer", "amount", "quantity", "paid"].map((n) => column(read, n));
        read.rows.forEach((_, r) => {
          const k = ikey[r]!;
          assert.equal(k.length, 16, "an Int64 key (8 bytes) and the tag (8 bytes)");
          const key = BigInt.asIntN(64, k.readBigUInt64BE(0) ^ (1n << 63n));
          assert.equal(k.readBigUInt64BE(8), ((SEQNUM_MAX - seq[r]!) << 8n) | op[r]!, "tag");
          const [id, customer, amount, quantity, paid] = user.map((c) => c[r] ?? null);
          if (op[r] === 1n) {
            puts++;
            assert.equal(intOf(id!), key, "a put's id column is its key");
            assert.deepEqual(decodeRow(value[r]!), [
              key,
              customer === null ? null : (customer as { b: string }).b,
              amount === null ? null : (amount as { f: number }).f,
              intOf(quantity!),
              paid,
            ]);
          } else {
            deletes++;
            assert.equal(op[r], 0n);
            assert.deepEqual(
              [id, customer, amount, quantity, paid],
              [{ i: "0" }, null, null, { i: "0" }, null],
            );
            assert.deepEqual(decodeRow(value[r]!), [], "a tombstone's blob is the empty row");
          }
        });
      }
      assert.ok(puts > 100 && deletes > 0, `${puts} puts, ${deletes} deletes`);
    },
  );

  it.skipIf(!python)(
    "a compaction keeps the newest version of each key, drops tombstones and removes its inputs",
    async () => {
      const store = new MemoryStore();
      const catalog = await Catalog.open(store);
      let before: Manifest | undefined;
      let after: Manifest | undefined;
      for (let i = 0; i < 4 && !after; i++) {
        const prev = i === 0 ? undefined : await catalog.manifest(await catalog.head());
        const m = await catalog.manifest(await demoCommit(store, { files: 2, rows: 300, compactAt: 4 }));
        if (liveDataFiles(m).some((f) => f.level === 1)) [before, after] = [prev, m];
      }
      assert.ok(before && after, "a compaction happened");
      const inputs = liveDataFiles(before).map((f) => f.path);
      const live = new Set(liveDataFiles(after).map((f) => f.path));
      for (const p of inputs) assert.ok(!live.has(p), `${p} removed`);
      const newest = new Map<string, { seq: bigint; op: bigint; row: PeerValue[] }>();
      for (const p of inputs) {
        const read = await peer(store, p);
        const names = read.columns.map((c) => c.name);
        for (const row of read.rows) {
          const at = (n: string) => row[names.indexOf(n)] ?? null;
          const key = (at("_merutable_ikey") as { b: string }).b.slice(0, 16);
          const seq = intOf(at("_merutable_seq"));
          if ((newest.get(key)?.seq ?? -1n) < seq) {
            newest.set(key, {
              seq,
              op: intOf(at("_merutable_op")),
              row: ["id", "customer", "amount", "quantity", "paid"].map(at),
            });
          }
        }
      }
      const expected = [...newest.entries()]
        .filter(([, v]) => v.op === 1n)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([, v]) => v.row);
      assert.ok(newest.size > expected.length, "some keys were deleted");
      const out = liveDataFiles(after).find((f) => f.level === 1)!;
      const read = await peer(store, out.path);
      assert.deepEqual(
        read.rows.map((r) => r.slice(3)), // without _merutable_ikey/_seq/_op
        expected,
      );
    },
  );

  it("commits merutable's schema and format version as manifest properties", async () => {
    const { manifests } = await demoTable(2);
    for (const m of manifests) {
      assert.deepEqual(JSON.parse(m.properties["merutable.schema.json"] ?? "null"), EXPECTED_SCHEMA);
      assert.equal(m.properties["merutable.format_version"], "3");
    }
    // Sequence numbers never repeat across commits, compactions included.
    const store = new MemoryStore();
    const catalog = await Catalog.open(store);
    let last = 0n;
    for (let i = 0; i < 6; i++) {
      const m = await catalog.manifest(await demoCommit(store, { files: 1, rows: 10, compactAt: 2 }));
      const fresh = liveDataFiles(m).filter((f) => f.level === 0 && f.seqMin > last);
      assert.equal(fresh.length, 1);
      assert.equal(fresh[0]!.seqMin, last + 1n);
      last = fresh[0]!.seqMax;
    }
  });

  it("refuses options out of range, naming them, before writing anything", async () => {
    const store = new MemoryStore();
    await assertRejectsOption("files", [0, 2001, 1.5, Number.NaN, "2"], (files) =>
      demoCommit(store, { files }),
    );
    await assertRejectsOption("rows", [0, 10_001, 0.5, Number.POSITIVE_INFINITY], (rows) =>
      demoCommit(store, { rows }),
    );
    await assertRejectsOption("compactAt", [-1, 10_001], (compactAt) => demoCommit(store, { compactAt }));
    const listed = [];
    for await (const o of store.list("")) listed.push(o.key);
    assert.deepEqual(listed, []);
  });

  it.skipIf(!python)(
    "memory:demo: three snapshots, part-00001 compacted into level 1 as part-00004",
    async () => {
      const store = new MemoryStore();
      await seedDemo(store);
      const catalog = await Catalog.open(store);
      assert.equal(await catalog.head(), 3);
      const m = await catalog.manifest(3);
      assert.deepEqual(
        liveDataFiles(m).map((f) => [f.path, f.level]),
        [
          ["data/part-00002.parquet", 0],
          ["data/part-00003.parquet", 0],
          ["data/part-00004.parquet", 1],
        ],
      );
      const input = await peer(store, "data/part-00001.parquet"); // still there: only expire deletes files
      const keys = new Map<string, bigint>();
      for (const [ikey, , op] of input.rows) {
        const k = (ikey as { b: string }).b.slice(0, 16);
        if (!keys.has(k)) keys.set(k, intOf(op!)); // sorted newest first per key
      }
      const out = await peer(store, "data/part-00004.parquet");
      assert.equal(out.numRows, [...keys.values()].filter((op) => op === 1n).length);
    },
  );
});
