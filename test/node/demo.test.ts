/**
 * The demo writer (worker's commit route, `npm start`, `memory:demo`) writes
 * real Parquet files in merutable's layout with the history real tables
 * have: checked with independent readers (pyarrow for metadata and rows,
 * duckdb for the rows again, and duckdb's projection for outside readers
 * for the table's rows at every version); the manifest it commits carries
 * merutable's schema and describes each file truthfully (size, rows,
 * sequence and key ranges, format).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { Catalog } from "../../src/catalog/catalog.ts";
import { openTable } from "../../src/catalog/table.ts";
import { type DemoTableName, demoCommit, seedDemo } from "../../src/demo/writer.ts";
import type { Manifest } from "../../src/manifest/gen/manifest_pb.ts";
import { liveDataFiles } from "../../src/manifest/live.ts";
import { TableRows } from "../../src/rows/table-rows.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { assertRejectsOption } from "../support/harness.ts";
import { interopPython, type PeerRead, type PeerValue, readParquetPeers } from "../support/parquet-peer.ts";
import { runHelper, type Tagged, tagRow } from "../support/rows-fixture.ts";

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
  orders: {
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
  },
  inventory: {
    table_name: "inventory",
    columns: [
      col("warehouse", "ByteArray", false, 1),
      col("sku", "ByteArray", false, 2),
      col("on_hand", "Int32", false, 3),
      col("price", "Double", true, 4),
      col("note", "ByteArray", true, 5),
    ],
    primary_key: [0, 1],
    schema_id: 0,
    last_column_id: 5,
  },
};
const USER_COLUMNS = {
  orders: ["id", "customer", "amount", "quantity", "paid"],
  inventory: ["warehouse", "sku", "on_hand", "price", "note"],
};
const PHYSICAL: Record<string, string> = {
  Int64: "INT64",
  Int32: "INT32",
  Double: "DOUBLE",
  Boolean: "BOOLEAN",
  ByteArray: "BYTE_ARRAY",
};

/** Reads `paths` of `store` with pyarrow and duckdb (one Python process for them all). */
async function peers(store: ObjectStore, paths: string[]): Promise<PeerRead[]> {
  const files = await Promise.all(
    paths.map(async (path) => {
      const file = join(tmp, `${Math.random().toString(36).slice(2)}-${path.replaceAll("/", "_")}`);
      writeFileSync(file, await (await store.get(path)).bytes());
      return file;
    }),
  );
  const reads = readParquetPeers(python!, files);
  for (const [i, r] of reads.entries()) {
    assert.ok(r.duckdbAgrees, `duckdb reads the same rows as pyarrow from ${paths[i]}`);
  }
  return reads;
}

/** Each row of `read` as an object by column name. */
const objects = (read: PeerRead) =>
  read.rows.map((r) => Object.fromEntries(read.columns.map((c, i) => [c.name, r[i] ?? null])));

const bytesOf = (v: PeerValue) => Buffer.from((v as { b: string }).b, "hex");
const intOf = (v: PeerValue) => BigInt((v as { i: string }).i);

/**
 * merutable's user key of the demo's key columns (types/key.rs), written
 * here independently of the writer: Int64 big-endian with the sign bit
 * flipped; text as UTF-8 with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00.
 */
function keyBytes(values: PeerValue[]): Buffer {
  return Buffer.concat(
    values.map((v) => {
      if (v !== null && typeof v === "object" && "i" in v) {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v.i)) ^ (1n << 63n));
        return b;
      }
      const text = Buffer.from((v as { s: string }).s, "utf8");
      const out: number[] = [];
      for (const x of text) out.push(...(x === 0 ? [0, 0xff] : [x]));
      return Buffer.from([...out, 0, 0]);
    }),
  );
}

/** A postcard decoder of merutable's Row (written here, independently of the writer's encoder). */
function decodeRow(blob: Uint8Array): PeerValue[] {
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
  const fields: PeerValue[] = [];
  for (let i = 0; i < count; i++) {
    if (blob[at++] === 0) {
      fields.push(null);
      continue;
    }
    const variant = Number(varint());
    if (variant === 0) fields.push(blob[at++] === 1);
    else if (variant === 1 || variant === 2) fields.push({ i: String(unzigzag(varint())) });
    else if (variant === 4) {
      fields.push({ f: new DataView(blob.buffer, blob.byteOffset + at, 8).getFloat64(0, true) });
      at += 8;
    } else if (variant === 5) {
      const n = Number(varint());
      fields.push({ s: Buffer.from(blob.subarray(at, at + n)).toString("utf8") });
      at += n;
    } else throw new Error(`unexpected FieldValue variant ${variant}`);
  }
  assert.equal(at, blob.length, "the blob holds exactly one row");
  return fields;
}

/** A table of `commits` demo commits (3 files of 40 rows each, compacting at 4 level-0 files). */
async function demoTable(
  commits: number,
  schema: DemoTableName = "orders",
  opts: { files?: number; rows?: number; compactAt?: number } = {},
): Promise<{ store: MemoryStore; manifests: Manifest[] }> {
  const store = new MemoryStore();
  const manifests: Manifest[] = [];
  const catalog = await Catalog.open(store);
  for (let i = 0; i < commits; i++) {
    const v = await demoCommit(store, { files: 3, rows: 40, compactAt: 4, schema, ...opts });
    manifests.push(await catalog.manifest(v));
  }
  return { store, manifests };
}

describe("demo writer", () => {
  it.skipIf(!python)(
    "writes snappy parquet with merutable's columns in order, one row group, text annotated as strings, read alike by pyarrow and duckdb",
    async () => {
      for (const schema of ["orders", "inventory"] as const) {
        const { store, manifests } = await demoTable(3, schema); // v3 compacts the six level-0 files of v1 and v2
        const head = manifests.at(-1)!;
        const l0 = liveDataFiles(head).find((f) => f.level === 0)!;
        const compacted = liveDataFiles(head).find((f) => f.level > 0)!;
        assert.ok(l0 && compacted, "level-0 and compacted files are live");
        const expected = EXPECTED_SCHEMA[schema];
        const internal = ["_merutable_ikey", "_merutable_seq", "_merutable_op"];
        const reads = await peers(store, [l0.path, compacted.path]);
        for (const [file, names, read] of [
          [l0, [...internal, "_merutable_value", ...USER_COLUMNS[schema]], reads[0]!],
          [compacted, [...internal, ...USER_COLUMNS[schema]], reads[1]!],
        ] as const) {
          assert.deepEqual(
            read.columns.map((c) => c.name),
            names,
            `${file.path}: internal columns first (the value blob at level 0 only), then the user's`,
          );
          const types: Record<string, [string, boolean]> = {
            _merutable_ikey: ["BYTE_ARRAY", false],
            _merutable_seq: ["INT64", false],
            _merutable_op: ["INT32", false],
            _merutable_value: ["BYTE_ARRAY", false],
            ...Object.fromEntries(
              expected.columns.map((c) => [c.name, [PHYSICAL[c.col_type] as string, c.nullable]]),
            ),
          };
          for (const c of read.columns) {
            const [type, nullable] = types[c.name]!;
            assert.equal(c.physicalType, type, `${file.path} ${c.name}`);
            assert.equal(c.nullable, nullable, `${file.path} ${c.name} nullable`);
            assert.equal(c.compression, "SNAPPY", `${file.path} ${c.name}`);
          }
          // Text columns are strings to pyarrow (a UTF-8 annotation), not bytes.
          const text = expected.columns.filter((c) => c.col_type === "ByteArray").map((c) => c.name);
          for (const row of objects(read)) {
            for (const n of text) assert.ok(row[n] === null || "s" in (row[n] as object), `${n}: text`);
          }
          assert.equal(read.rowGroups, 1);
          assert.deepEqual(JSON.parse(read.kv["merutable.schema"] ?? "null"), expected);
        }
      }
    },
  );

  it.skipIf(!python)(
    "each manifest entry matches its file: size, rows, sequence range, key range and format",
    async () => {
      for (const schema of ["orders", "inventory"] as const) {
        const { store, manifests } = await demoTable(5, schema);
        const files = [
          ...new Map(manifests.flatMap((m) => liveDataFiles(m)).map((f) => [f.path, f])).values(),
        ];
        const reads = await peers(
          store,
          files.map((f) => f.path),
        );
        const checked = new Set<string>();
        for (const [i, f] of files.entries()) {
          const bytes = await (await store.get(f.path)).bytes();
          assert.equal(Number(f.fileSize), bytes.length, `${f.path} size`);
          const read = reads[i]!;
          assert.equal(Number(f.numRows), read.numRows, `${f.path} rows`);
          const rows = objects(read);
          const seqs = rows.map((r) => intOf(r._merutable_seq!));
          assert.equal(
            f.seqMin,
            seqs.reduce((a, b) => (b < a ? b : a)),
          );
          assert.equal(
            f.seqMax,
            seqs.reduce((a, b) => (b > a ? b : a)),
          );
          const ikeys = rows.map((r) => (r._merutable_ikey as { b: string }).b);
          assert.deepEqual(ikeys, [...ikeys].sort(), `${f.path}: rows sorted by internal key`);
          // merutable's key range is the user key: the internal key without its 8-byte tag.
          assert.equal(hexOf(f.keyMin), ikeys[0]?.slice(0, -16));
          assert.equal(hexOf(f.keyMax), ikeys.at(-1)?.slice(0, -16));
          assert.equal(f.format, f.level === 0 ? 1 : 0, `${f.path}: dual at level 0, columnar above`);
          checked.add(f.path);
        }
        assert.ok(checked.size >= 8, `checked ${checked.size} files`);
      }
    },
  );

  it.skipIf(!python)(
    "rows carry merutable's internal key, tag and value blob; a tombstone carries the deleted row's values",
    async () => {
      for (const schema of ["orders", "inventory"] as const) {
        const { store, manifests } = await demoTable(2, schema);
        // Every row ever written (v2's six level-0 files hold the whole history), by key.
        const history = new Map<string, Array<{ seq: bigint; op: bigint; row: PeerValue[] }>>();
        let puts = 0;
        let deletes = 0;
        const files = liveDataFiles(manifests.at(-1)!).map((f) => f.path);
        for (const read of await peers(store, files)) {
          for (const r of objects(read)) {
            const ikey = bytesOf(r._merutable_ikey!);
            const seq = intOf(r._merutable_seq!);
            const op = intOf(r._merutable_op!);
            const row = USER_COLUMNS[schema].map((n) => r[n] ?? null);
            const key = EXPECTED_SCHEMA[schema].primary_key.map((i) => row[i] ?? null);
            // The internal key: the key columns' values encoded, then the tag.
            assert.equal(hexOf(ikey.subarray(0, -8)), hexOf(keyBytes(key)), "the key columns are the key");
            assert.equal(ikey.readBigUInt64BE(ikey.length - 8), ((SEQNUM_MAX - seq) << 8n) | op, "tag");
            // The value blob is the row: a put's values, a delete's pre-image.
            assert.deepEqual(decodeRow(bytesOf(r._merutable_value!)), row);
            if (op === 1n) puts++;
            else deletes++;
            const id = hexOf(ikey.subarray(0, -8));
            history.set(id, [...(history.get(id) ?? []), { seq, op, row }]);
          }
        }
        assert.ok(puts > 100 && deletes > 5, `${schema}: ${puts} puts, ${deletes} deletes`);
        let twice = 0;
        for (const rows of history.values()) {
          rows.sort((a, b) => (a.seq < b.seq ? -1 : 1));
          rows.forEach((r, i) => {
            if (r.op !== 0n) return;
            // A delete removes a live key and carries its values.
            const before = rows[i - 1];
            assert.ok(before && before.op === 1n, "a delete follows a put of its key");
            assert.deepEqual(r.row, before.row, "a tombstone carries the deleted row's values");
          });
          if (rows.filter((r) => r.op === 1n).length > 1) twice++;
        }
        assert.ok(twice > 10, `${schema}: ${twice} keys written more than once`);
      }
    },
  );

  it.skipIf(!python)(
    "compactions alternate: every file into level 2 without tombstones, then level 0 into level 1 keeping them",
    async () => {
      const store = new MemoryStore();
      const catalog = await Catalog.open(store);
      const seen = new Set<number>();
      let prev: Manifest | undefined;
      for (let i = 0; i < 8 && seen.size < 2; i++) {
        const m = await catalog.manifest(await demoCommit(store, { files: 2, rows: 150, compactAt: 4 }));
        const before = prev ? liveDataFiles(prev) : [];
        prev = m;
        const now = liveDataFiles(m);
        const out = now.find((f) => f.level > 0 && !before.some((b) => b.path === f.path));
        if (!out) continue;
        seen.add(out.level);
        const inputs = before.filter((b) => !now.some((f) => f.path === b.path));
        assert.deepEqual(
          inputs.map((f) => f.level > 0),
          inputs.map(() => out.level === 2 && before.some((f) => f.level === 2)),
          out.level === 1 ? "level 1 takes level 0 only" : "level 2 takes every file",
        );
        const newest = new Map<string, { seq: bigint; op: bigint; row: PeerValue[] }>();
        const reads = await peers(store, [...inputs.map((f) => f.path), out.path]);
        for (const read of reads.slice(0, -1)) {
          for (const r of objects(read)) {
            const key = (r._merutable_ikey as { b: string }).b.slice(0, -16);
            const seq = intOf(r._merutable_seq!);
            if ((newest.get(key)?.seq ?? -1n) < seq) {
              newest.set(key, {
                seq,
                op: intOf(r._merutable_op!),
                row: USER_COLUMNS.orders.map((n) => r[n] ?? null),
              });
            }
          }
        }
        const expected = [...newest.entries()]
          .filter(([, v]) => v.op === 1n || out.level === 1)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([, v]) => [{ i: String(v.op) }, ...v.row]);
        const read = objects(reads.at(-1)!);
        assert.deepEqual(
          read.map((r) => [r._merutable_op, ...USER_COLUMNS.orders.map((n) => r[n] ?? null)]),
          expected,
        );
        const tombstones = read.filter((r) => intOf(r._merutable_op!) === 0n).length;
        if (out.level === 1) assert.ok(tombstones > 0, "level 1 keeps its tombstones");
        else assert.equal(tombstones, 0, "level 2 is the bottom: no tombstones");
      }
      assert.deepEqual([...seen].sort(), [1, 2], "both kinds of compaction happened");
    },
  );

  it.skipIf(!python)(
    "every version's rows are DuckDB's with merutable's projection, for the orders and the composite text key",
    async () => {
      for (const schema of ["orders", "inventory"] as const) {
        const { store, manifests } = await demoTable(10, schema, { files: 2, rows: 60 });
        const dir = join(tmp, `oracle-${schema}`);
        for (const k of new Set(manifests.flatMap((m) => liveDataFiles(m).map((f) => f.path)))) {
          mkdirSync(dirname(join(dir, k)), { recursive: true });
          writeFileSync(join(dir, k), await (await store.get(k)).bytes());
        }
        const table = new TableRows(await openTable(store));
        const { schema: meru } = await table.version(1);
        const oracle = runHelper(python!, "oracle", {
          schema: meru,
          versions: manifests.map((m) => liveDataFiles(m).map((f) => join(dir, f.path))),
        }) as Tagged[][][];
        const ops = { insert: 0, update: 0, delete: 0 };
        for (let v = 1; v <= manifests.length; v++) {
          const got: Tagged[][] = [];
          for await (const r of (await table.rows({ version: v })).rows) got.push(tagRow(meru, r.values));
          assert.deepEqual(got, oracle[v - 1], `${schema} v${v}`);
          if (v > 1) for await (const c of (await table.diff(v - 1, v)).changes) ops[c.op]++;
        }
        assert.ok(ops.insert > 0 && ops.update > 0 && ops.delete > 0, JSON.stringify(ops));
        // Level 1 held tombstones at some version: the reader applied them as DuckDB did.
        const l1 = manifests.flatMap((m) => liveDataFiles(m)).find((f) => f.level === 1);
        assert.ok(l1, "a level-1 compaction happened");
      }
    },
  );

  it("commits merutable's schema and format version as manifest properties", async () => {
    for (const schema of ["orders", "inventory"] as const) {
      const { manifests } = await demoTable(2, schema);
      for (const m of manifests) {
        assert.deepEqual(
          JSON.parse(m.properties["merutable.schema.json"] ?? "null"),
          EXPECTED_SCHEMA[schema],
        );
        assert.equal(m.properties["merutable.format_version"], "3");
      }
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

  it("refuses options out of range and an unknown or different schema, naming them, before writing anything", async () => {
    const store = new MemoryStore();
    await assertRejectsOption("files", [0, 2001, 1.5, Number.NaN, "2"], (files) =>
      demoCommit(store, { files }),
    );
    await assertRejectsOption("rows", [0, 10_001, 0.5, Number.POSITIVE_INFINITY], (rows) =>
      demoCommit(store, { rows }),
    );
    await assertRejectsOption("compactAt", [-1, 10_001], (compactAt) => demoCommit(store, { compactAt }));
    await assert.rejects(
      demoCommit(store, { schema: "toString" as DemoTableName }),
      /InvalidArgument.*schema/,
    );
    const listed = [];
    for await (const o of store.list("")) listed.push(o.key);
    assert.deepEqual(listed, []);
    await demoCommit(store, { rows: 5 });
    await assert.rejects(
      demoCommit(store, { schema: "inventory" }),
      /InvalidArgument.*schema does not match/,
    );
  });

  it.skipIf(!python)(
    "memory:demo: three snapshots (updates and deletes in the second), part-00001 compacted into level 1 as part-00004",
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
      // part-00001 is still there: only expire deletes files.
      const [input, out] = (await peers(store, ["data/part-00001.parquet", "data/part-00004.parquet"])) as [
        PeerRead,
        PeerRead,
      ];
      const keys = new Map<string, bigint>();
      for (const [ikey, , op] of input.rows) {
        const k = (ikey as { b: string }).b.slice(0, 16);
        if (!keys.has(k)) keys.set(k, intOf(op!)); // sorted newest first per key
      }
      assert.equal(out.numRows, [...keys.values()].filter((op) => op === 1n).length);
      const changes = { insert: 0, update: 0, delete: 0 };
      for await (const c of (await new TableRows(await openTable(store)).diff(1, 2)).changes) changes[c.op]++;
      assert.ok(changes.update > 0 && changes.delete > 0 && changes.insert > 0, JSON.stringify(changes));
    },
  );
});
