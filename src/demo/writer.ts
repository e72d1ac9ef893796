/**
 * The demo writer: a demo table of real Parquet data files laid out as
 * merutable writes them, for the Worker's admin commit route (`npm start`,
 * `DEMO_WRITER=1`) and the CLI's `memory:demo` store.
 *
 * merutable's data files (`parquet/codec.rs`, `parquet/writer.rs`,
 * `types/key.rs` in https://github.com/salesforce-misc/merutable) are
 * Snappy-compressed Parquet with the columns `_merutable_ikey` (binary: the
 * order-preserving primary key, then an 8-byte big-endian tag of the inverted
 * sequence number and the op), `_merutable_seq` (int64), `_merutable_op`
 * (int32: 0 delete, 1 put), `_merutable_value` (binary: the postcard-encoded
 * row; level-0 "dual" files only), then the user columns in schema order.
 * Rows are sorted by the internal key (primary key ascending, newest first);
 * a tombstone carries default values in non-nullable columns and NULL in the
 * others; the footer holds the table schema as JSON under `merutable.schema`.
 * Every manifest carries the schema as the properties `merutable.schema.json`
 * and `merutable.format_version`, which merutable's decoder requires.
 *
 * The demo writer commits flushes (level-0 files of new rows: inserts,
 * updates of earlier keys, deletes) and now and then a compaction: every
 * live file read back, merged to the newest version of each key, tombstones
 * dropped, written as one level-1 file without the value blob, the inputs
 * removed. Web-standard globals only: it runs in Node, Deno and workerd.
 *
 * @module
 */
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { Catalog } from "../catalog/catalog.ts";
import type { DataFileInput } from "../catalog/commit.ts";
import { checkTableSchema, schemaJson, type TableSchema } from "../catalog/schema.ts";
import { CheckpointStore } from "../checkpoint/checkpoint-store.ts";
import { TidemarkError } from "../errors.ts";
import { liveDataFiles } from "../manifest/live.ts";
import { numberOption } from "../options.ts";
import type { ObjectStore } from "../store/types.ts";

/** The demo table's schema: an Int64 key and four user columns of other types. */
export const DEMO_SCHEMA: TableSchema = {
  table_name: "demo",
  columns: [
    { name: "id", col_type: "Int64", nullable: false, field_id: 1 },
    { name: "customer", col_type: "ByteArray", nullable: true, field_id: 2 },
    { name: "amount", col_type: "Double", nullable: true, field_id: 3 },
    { name: "quantity", col_type: "Int32", nullable: false, field_id: 4 },
    { name: "paid", col_type: "Boolean", nullable: true, field_id: 5 },
  ],
  primary_key: [0],
  schema_id: 0,
  last_column_id: 5,
};

/** The property where the demo writer keeps the last sequence number it used. */
const LAST_SEQ = "tidemark.demo.last_seq";

/** Distinct keys: small enough that flushes update and delete earlier rows. */
const KEYS = 1000;

/** merutable's `SEQNUM_MAX` (56 bits): tags store `SEQNUM_MAX - seq`, so newer sorts first. */
const SEQNUM_MAX = (1n << 56n) - 1n;

const CUSTOMERS = ["alice", "bob", "carol", "dave", "Zoë Ångström", "Łukasz Żółć", "O'Brien & Sons", "eve"];

/** One row of the demo table as merutable stores it. */
interface DemoRow {
  /** The primary key (column `id`). */
  key: bigint;
  seq: bigint;
  /** 1 put, 0 delete. */
  op: 0 | 1;
  customer: Uint8Array | null;
  amount: number | null;
  quantity: number;
  paid: boolean | null;
}

const encoder = new TextEncoder();

/** A deterministic 32-bit hash of `n` (splitmix32's finaliser): the same rows on every run. */
function mix(n: number): number {
  let h = (n + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The row written at sequence number `seq`: a put of a key (new or an update) or, one in 16, a delete. */
function rowAt(seq: number): DemoRow {
  const h = mix(seq);
  const g = mix(h);
  const key = BigInt(h % KEYS);
  if ((h >>> 12) % 16 === 0) {
    // A tombstone carries Row::default(): merutable writes defaults into
    // non-nullable typed columns and NULL into the others (codec.rs, "Bug K").
    return { key, seq: BigInt(seq), op: 0, customer: null, amount: null, quantity: 0, paid: null };
  }
  return {
    key,
    seq: BigInt(seq),
    op: 1,
    customer: g % 7 === 0 ? null : encoder.encode(CUSTOMERS[g % CUSTOMERS.length] ?? ""),
    amount: (g >>> 3) % 5 === 0 ? null : ((g >>> 8) % 100_000) / 100,
    quantity: 1 + ((g >>> 20) % 12),
    paid: (g >>> 4) % 6 === 0 ? null : ((g >>> 5) & 1) === 1,
  };
}

/** The order-preserving encoding of the Int64 primary key: 8 bytes big-endian, sign bit flipped. */
function userKey(key: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, key) ^ (1n << 63n));
  return out;
}

/** `_merutable_ikey`: the user key, then the tag `(SEQNUM_MAX - seq) << 8 | op`, big-endian. */
function internalKey(r: DemoRow): Uint8Array {
  const out = new Uint8Array(16);
  out.set(userKey(r.key));
  new DataView(out.buffer).setBigUint64(8, ((SEQNUM_MAX - r.seq) << 8n) | BigInt(r.op));
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return a.length - b.length;
}

/** postcard's unsigned LEB128 varint. */
function varint(out: number[], n: bigint): void {
  let v = n;
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/**
 * `_merutable_value`: the row as postcard encodes merutable's `Row { fields:
 * Vec<Option<FieldValue>> }` (a length, then per field 0 for None or 1, the
 * variant index and the value: integers zigzag varints, doubles 8 bytes
 * little-endian, bytes a length and the bytes). A tombstone is the empty row.
 */
function valueBlob(r: DemoRow): Uint8Array {
  const out: number[] = [];
  if (r.op === 0) return new Uint8Array([0]);
  const zigzag = (n: bigint) => varint(out, n >= 0n ? n << 1n : (-n << 1n) - 1n);
  varint(out, BigInt(DEMO_SCHEMA.columns.length));
  out.push(1, 2); // Some(Int64(id))
  zigzag(r.key);
  if (r.customer === null) out.push(0);
  else {
    out.push(1, 5); // Some(Bytes)
    varint(out, BigInt(r.customer.length));
    out.push(...r.customer);
  }
  if (r.amount === null) out.push(0);
  else {
    out.push(1, 4); // Some(Double)
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, r.amount, true);
    out.push(...b);
  }
  out.push(1, 1); // Some(Int32(quantity))
  zigzag(BigInt(r.quantity));
  if (r.paid === null) out.push(0);
  else out.push(1, 0, r.paid ? 1 : 0); // Some(Boolean)
  return new Uint8Array(out);
}

/**
 * One Parquet file of `rows` (sorted here by internal key), one row group,
 * Snappy: what merutable writes. `dual` (level 0) adds `_merutable_value`.
 */
function parquetBytes(rows: DemoRow[], dual: boolean): Uint8Array {
  const keyed = rows.map((r) => ({ r, ikey: internalKey(r) })).sort((a, b) => compareBytes(a.ikey, b.ikey));
  const sorted = keyed.map((k) => k.r);
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: "_merutable_ikey", type: "BYTE_ARRAY", nullable: false, data: keyed.map((k) => k.ikey) },
      { name: "_merutable_seq", type: "INT64", nullable: false, data: sorted.map((r) => r.seq) },
      { name: "_merutable_op", type: "INT32", nullable: false, data: sorted.map((r) => r.op) },
      ...(dual
        ? [
            {
              name: "_merutable_value",
              type: "BYTE_ARRAY" as const,
              nullable: false,
              data: sorted.map(valueBlob),
            },
          ]
        : []),
      // A tombstone's typed id is 0: its key lives in _merutable_ikey only.
      { name: "id", type: "INT64", nullable: false, data: sorted.map((r) => (r.op === 0 ? 0n : r.key)) },
      { name: "customer", type: "BYTE_ARRAY", nullable: true, data: sorted.map((r) => r.customer) },
      { name: "amount", type: "DOUBLE", nullable: true, data: sorted.map((r) => r.amount) },
      { name: "quantity", type: "INT32", nullable: false, data: sorted.map((r) => r.quantity) },
      { name: "paid", type: "BOOLEAN", nullable: true, data: sorted.map((r) => r.paid) },
    ],
    codec: "SNAPPY",
    rowGroupSize: Math.max(1, rows.length),
    // The same JSON the manifests carry (merutable's serde form).
    kvMetadata: [{ key: "merutable.schema", value: schemaJson(checkTableSchema(DEMO_SCHEMA)) }],
    createdBy: "tidemark demo writer (merutable's data file layout)",
  });
  return new Uint8Array(buffer);
}

/** Writes `rows` as a Parquet file at `path` (create-only) and returns its manifest entry. */
async function writeDataFile(
  store: ObjectStore,
  path: string,
  rows: DemoRow[],
  level: number,
): Promise<DataFileInput> {
  const dual = level === 0;
  const bytes = parquetBytes(rows, dual);
  // Files before the manifest that references them, as on any primary.
  await store.put(path, bytes, { mode: "create", contentType: "application/vnd.apache.parquet" });
  const keys = rows.map((r) => r.key).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const seqs = rows.map((r) => r.seq);
  return {
    path,
    fileSize: bytes.length,
    numRows: rows.length,
    level,
    seqMin: seqs.reduce((a, b) => (b < a ? b : a)),
    seqMax: seqs.reduce((a, b) => (b > a ? b : a)),
    // merutable's key range is the user key (the ikey without its tag).
    keyMin: userKey(keys[0] ?? 0n),
    keyMax: userKey(keys[keys.length - 1] ?? 0n),
    format: dual ? 1 : 0,
  };
}

/** A flush: `count` new rows from sequence number `firstSeq` on, as a level-0 file. */
function flush(store: ObjectStore, path: string, firstSeq: number, count: number): Promise<DataFileInput> {
  const rows = Array.from({ length: count }, (_, i) => rowAt(firstSeq + i));
  return writeDataFile(store, path, rows, 0);
}

/** Reads a demo data file back (hyparquet), keys from `_merutable_ikey`. */
async function readDataFile(store: ObjectStore, path: string): Promise<DemoRow[]> {
  const bytes = await (await store.get(path)).bytes();
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({
    file,
    utf8: false,
    columns: ["_merutable_ikey", "_merutable_seq", "_merutable_op", "customer", "amount", "quantity", "paid"],
  })) as Array<Record<string, unknown>>;
  return rows.map((o) => {
    const ikey = o._merutable_ikey as Uint8Array;
    if (!(ikey instanceof Uint8Array) || ikey.length !== 16) {
      throw new TidemarkError("Corrupt", `demo file ${path}: _merutable_ikey is not an Int64 key and a tag`);
    }
    const view = new DataView(ikey.buffer, ikey.byteOffset, 16);
    return {
      key: BigInt.asIntN(64, view.getBigUint64(0) ^ (1n << 63n)),
      seq: BigInt(o._merutable_seq as bigint),
      op: o._merutable_op === 0 ? 0 : 1,
      customer: (o.customer as Uint8Array | null) ?? null,
      amount: (o.amount as number | null) ?? null,
      quantity: Number(o.quantity),
      paid: (o.paid as boolean | null) ?? null,
    };
  });
}

/**
 * A compaction into the last level: the rows of `inputs` merged to the
 * newest version of each key, tombstones dropped (nothing older lies below
 * them), one level-1 file at `path`. `undefined` when every key was deleted.
 */
async function compact(
  store: ObjectStore,
  inputs: string[],
  path: string,
): Promise<DataFileInput | undefined> {
  const newest = new Map<bigint, DemoRow>();
  for (const rows of await Promise.all(inputs.map((p) => readDataFile(store, p)))) {
    for (const r of rows) {
      const seen = newest.get(r.key);
      if (seen === undefined || r.seq > seen.seq) newest.set(r.key, r);
    }
  }
  const live = [...newest.values()].filter((r) => r.op === 1);
  return live.length === 0 ? undefined : writeDataFile(store, path, live, 1);
}

/** Options of {@link demoCommit}. */
export interface DemoCommitOptions {
  /** New level-0 files per commit (default 2; 1 to 2,000). */
  files?: number;
  /** Rows per new file (default 100; 1 to 10,000). */
  rows?: number;
  /**
   * Compact (every live file into one level-1 file) when this many level-0
   * files are live (default 8; 0: never; at most 10,000).
   */
  compactAt?: number;
}

/**
 * One demo snapshot on the table in `source`: a compaction when enough
 * level-0 files are live, then a flush of `files` new level-0 files;
 * returns the new version. The table's schema is {@link DEMO_SCHEMA} (every manifest carries it).
 *
 * @throws TidemarkError `InvalidArgument` naming an option out of its range
 * (never clamped: a request for 5,000 files is refused, not served 2,000);
 * `Corrupt` when a file to compact is not a demo data file; the store's and
 * `Catalog.commit`'s errors.
 */
export async function demoCommit(source: ObjectStore, opts: DemoCommitOptions = {}): Promise<number> {
  const files = numberOption("files", opts.files, 2, { min: 1, max: 2000 });
  const rows = numberOption("rows", opts.rows, 100, { min: 1, max: 10_000 });
  const compactAt = numberOption("compactAt", opts.compactAt, 8, { min: 0, max: 10_000 });
  // The schema makes every manifest carry merutable.schema.json and merutable.format_version.
  const catalog = await Catalog.open(source, { schema: DEMO_SCHEMA });
  const head = await catalog.head();
  const base = head > 0 ? await catalog.manifest(head) : undefined;
  const live = base ? liveDataFiles(base) : [];
  // The last sequence number used: recorded by the previous demo commit; a
  // table not written by this writer continues above its newest row.
  let seq = live.reduce((m, f) => Math.max(m, Number(f.seqMax)), 0);
  const recorded = Number(base?.properties[LAST_SEQ]);
  if (Number.isSafeInteger(recorded) && recorded > seq) seq = recorded;

  const batch = crypto.randomUUID().slice(0, 8);
  const add: DataFileInput[] = [];
  const remove: string[] = [];
  if (compactAt > 0 && live.filter((f) => f.level === 0).length >= compactAt) {
    const inputs = live.map((f) => f.path);
    const out = await compact(source, inputs, `data/L1/${head + 1}-${batch}-c.parquet`);
    if (out) add.push(out);
    remove.push(...inputs);
  }
  for (let i = 0; i < files; i += 50) {
    const chunk = Array.from({ length: Math.min(50, files - i) }, (_, j) => i + j);
    add.push(
      ...(await Promise.all(
        chunk.map((n) =>
          flush(source, `data/L0/${head + 1}-${batch}-${n}.parquet`, seq + 1 + n * rows, rows),
        ),
      )),
    );
  }
  seq += files * rows;
  return catalog.commit({
    add,
    remove,
    properties: { [LAST_SEQ]: String(seq), writer: "tidemark-demo" },
  });
}

/**
 * Fills `store` with the `memory:demo` table and checkpoint state: three
 * snapshots (two flushes, then part-00001 compacted into level 1 as
 * part-00004) and four checkpoint epochs, three of them sealed.
 */
export async function seedDemo(store: ObjectStore): Promise<void> {
  // merutable's table schema, so the demo table restores into something merutable opens.
  const catalog = await Catalog.open(store, { schema: DEMO_SCHEMA });
  await catalog.commit({
    add: [await flush(store, "data/part-00001.parquet", 1, 40)],
  });
  await catalog.commit({
    add: [
      await flush(store, "data/part-00002.parquet", 41, 60),
      await flush(store, "data/part-00003.parquet", 101, 20),
    ],
  });
  const compacted = await compact(store, ["data/part-00001.parquet"], "data/part-00004.parquet");
  await catalog.commit({
    add: compacted ? [compacted] : [],
    remove: ["data/part-00001.parquet"],
    properties: { "demo.note": "compacted part-00001 into level 1" },
  });

  const cp = new CheckpointStore(store, { instanceId: "demo-job-1", vnodeCapacity: 4 });
  for (let epoch = 1; epoch <= 4; epoch++) {
    for (let vnode = 0; vnode < 4; vnode++) {
      await cp.writePartial(vnode, epoch, 1, encoder.encode(`state of vnode ${vnode} at epoch ${epoch}`));
    }
    // Epoch 4 stays unsealed: a checkpoint in progress.
    if (epoch < 4) await cp.sealEpoch(epoch, [0, 1, 2, 3]);
  }
}
