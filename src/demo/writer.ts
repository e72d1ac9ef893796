/**
 * The demo writer: demo tables of real Parquet data files laid out as
 * merutable writes them, with the history real tables have, for the Worker's
 * admin commit route (`npm start`, `DEMO_WRITER=1`) and the CLI's
 * `memory:demo` store.
 *
 * merutable's data files (`parquet/codec.rs`, `parquet/writer.rs`,
 * `types/key.rs` in https://github.com/salesforce-misc/merutable) are
 * Snappy-compressed Parquet with the columns `_merutable_ikey` (binary: the
 * order-preserving primary key, then an 8-byte big-endian tag of the inverted
 * sequence number and the op), `_merutable_seq` (int64), `_merutable_op`
 * (int32: 0 delete, 1 put), `_merutable_value` (binary: the postcard-encoded
 * row; level-0 "dual" files only), then the user columns in schema order
 * (text columns annotated as UTF-8 strings). Rows are sorted by the internal
 * key (primary key ascending, newest first). A tombstone carries the deleted
 * row's previous values, in its typed columns and its value blob, as
 * merutable writes it (`engine/flush.rs`, its issue #33). The footer holds
 * the table schema as JSON under `merutable.schema`; every manifest carries
 * it as the properties `merutable.schema.json` and
 * `merutable.format_version`, which merutable's decoder requires.
 *
 * Each commit flushes new rows into level-0 files: inserts, updates of
 * earlier keys, updates again of keys the previous flush wrote, and deletes
 * of live keys (a key may change several times within one file). When
 * enough level-0 files are live, a compaction comes first, alternating as an
 * LSM tree's levels do (`engine/compaction/iterator.rs`): every live file
 * merged into one bottom-level file (level 2: the newest version of each
 * key, tombstones dropped, nothing lies below), then next time the level-0
 * files merged into one level-1 file that keeps its tombstones (level 2
 * below may still hold the keys they delete). Compacted files have no value
 * blob. Web-standard globals only: it runs in Node, Deno and workerd.
 *
 * @module
 */
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { Catalog } from "../catalog/catalog.ts";
import type { DataFileInput } from "../catalog/commit.ts";
import { type ColumnType, checkTableSchema, schemaJson, type TableSchema } from "../catalog/schema.ts";
import { CheckpointStore } from "../checkpoint/checkpoint-store.ts";
import { TidemarkError } from "../errors.ts";
import { liveDataFiles } from "../manifest/live.ts";
import { numberOption } from "../options.ts";
import { compareBytes, encodeUserKey, internalKey, type KeyValue, splitInternalKey } from "../rows/ikey.ts";
import type { Value } from "../rows/values.ts";
import type { ObjectStore } from "../store/types.ts";

/** The orders table's schema (the `demo` table, `memory:demo`): an Int64 key and four user columns. */
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

/** The inventory table's schema: a composite text key (warehouse, sku). */
export const INVENTORY_SCHEMA: TableSchema = {
  table_name: "inventory",
  columns: [
    { name: "warehouse", col_type: "ByteArray", nullable: false, field_id: 1 },
    { name: "sku", col_type: "ByteArray", nullable: false, field_id: 2 },
    { name: "on_hand", col_type: "Int32", nullable: false, field_id: 3 },
    { name: "price", col_type: "Double", nullable: true, field_id: 4 },
    { name: "note", col_type: "ByteArray", nullable: true, field_id: 5 },
  ],
  primary_key: [0, 1],
  schema_id: 0,
  last_column_id: 5,
};

/** A demo table: its schema, its keys, and the rows written for them (every ByteArray column is text). */
interface DemoTable {
  schema: TableSchema;
  /** Key number `h` (a hash): the key columns' values. */
  key(h: number): KeyValue[];
  /** A row of `key` (every column, schema order), its other values from the hash `g`. */
  row(key: KeyValue[], g: number): Value[];
}

const CUSTOMERS = ["alice", "bob", "carol", "dave", "Zoë Ångström", "Łukasz Żółć", "O'Brien & Sons", "eve"];
const WAREHOUSES = ["Berlin", "São Paulo", "Zürich", "東京", "Ōsaka"];
const NOTES = ["reorder soon", "damaged box", "on hold", "counted twice", "ÉTÉ promo"];

/** Distinct keys: few enough that flushes update and delete earlier rows. */
const ORDER_KEYS = 1000;
const SKUS = 120;

/** The demo's tables by the name a commit asks for. */
const TABLES = {
  orders: {
    schema: DEMO_SCHEMA,
    key: (h) => [BigInt(h % ORDER_KEYS)],
    row: (key, g) => [
      key[0] as bigint,
      g % 7 === 0 ? null : (CUSTOMERS[g % CUSTOMERS.length] as string),
      (g >>> 3) % 5 === 0 ? null : ((g >>> 8) % 100_000) / 100,
      1 + ((g >>> 20) % 12),
      (g >>> 4) % 6 === 0 ? null : ((g >>> 5) & 1) === 1,
    ],
  },
  inventory: {
    schema: INVENTORY_SCHEMA,
    key: (h) => [
      WAREHOUSES[h % WAREHOUSES.length] as string,
      `sku-${String((h >>> 4) % SKUS).padStart(3, "0")}`,
    ],
    row: (key, g) => [
      key[0] as string,
      key[1] as string,
      (g >>> 2) % 500,
      (g >>> 3) % 5 === 0 ? null : ((g >>> 8) % 50_000) / 100,
      g % 4 === 0 ? null : (NOTES[(g >>> 11) % NOTES.length] as string),
    ],
  },
} satisfies Record<string, DemoTable>;

/** The demo tables a commit can write. */
export type DemoTableName = keyof typeof TABLES;
/** Their names. */
export const DEMO_TABLES = Object.keys(TABLES) as DemoTableName[];

/** The property where the demo writer keeps the last sequence number it used. */
const LAST_SEQ = "tidemark.demo.last_seq";

/** One row of a demo table as merutable stores it. */
interface DemoRow {
  userKey: Uint8Array;
  seq: bigint;
  /** 1 put, 0 delete (its values: the row it deletes). */
  op: 0 | 1;
  /** Every column, schema order. */
  values: Value[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A deterministic 32-bit hash of `n` (splitmix32's finaliser): the same rows on every run. */
function mix(n: number): number {
  let h = (n + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * The live rows a flush knows (the previous flush's, then its own): what it
 * updates again and deletes, with the values a delete carries.
 */
class KnownRows {
  readonly #rows = new Map<string, DemoRow>();
  readonly #order: string[] = [];

  get size(): number {
    return this.#order.length;
  }

  set(r: DemoRow): void {
    const id = hexOf(r.userKey);
    if (!this.#rows.has(id)) this.#order.push(id);
    this.#rows.set(id, r);
  }

  /** The `n`-th known row (modulo their count). */
  at(n: number): DemoRow {
    return this.#rows.get(this.#order[n % this.#order.length] as string) as DemoRow;
  }

  delete(r: DemoRow): void {
    const id = hexOf(r.userKey);
    this.#rows.delete(id);
    this.#order.splice(this.#order.indexOf(id), 1);
  }
}

/**
 * The rows written at sequence numbers `firstSeq` to `firstSeq + count - 1`:
 * one in 16 deletes a known live key (carrying its values), two in 16
 * update a known key again, the others put a key drawn from the table's
 * keys (an insert, or an update of an older key). `known` follows along.
 */
function flushRows(t: DemoTable, firstSeq: number, count: number, known: KnownRows): DemoRow[] {
  const rows: DemoRow[] = [];
  for (let seq = firstSeq; seq < firstSeq + count; seq++) {
    const h = mix(seq);
    const g = mix(h);
    const kind = (h >>> 12) % 16;
    if (kind === 0 && known.size > 0) {
      const gone = known.at(h >>> 4);
      known.delete(gone);
      rows.push({ userKey: gone.userKey, seq: BigInt(seq), op: 0, values: gone.values });
      continue;
    }
    const key =
      kind <= 2 && known.size > 0
        ? t.schema.primary_key.map((i) => known.at(h >>> 4).values[i] as KeyValue)
        : t.key(h);
    const r: DemoRow = {
      userKey: encodeUserKey(key, t.schema),
      seq: BigInt(seq),
      op: 1,
      values: t.row(key, g),
    };
    known.set(r);
    rows.push(r);
  }
  return rows;
}

/** The newest row of each key in `rows`, in key order. */
function newestByKey(rows: Iterable<DemoRow>): DemoRow[] {
  const newest = new Map<string, DemoRow>();
  for (const r of rows) {
    const id = hexOf(r.userKey);
    const seen = newest.get(id);
    if (seen === undefined || r.seq > seen.seq) newest.set(id, r);
  }
  return [...newest.values()].sort((a, b) => compareBytes(a.userKey, b.userKey));
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
 * variant index (Boolean 0, Int32 1, Int64 2, Float 3, Double 4, Bytes 5)
 * and the value: integers zigzag varints, floats little-endian, bytes a
 * length and the bytes). A tombstone's is the row it deletes.
 */
function valueBlob(schema: TableSchema, values: readonly Value[]): Uint8Array {
  const out: number[] = [];
  const zigzag = (n: bigint) => varint(out, n >= 0n ? n << 1n : (-n << 1n) - 1n);
  varint(out, BigInt(schema.columns.length));
  schema.columns.forEach((c, i) => {
    const v = values[i] ?? null;
    if (v === null) {
      out.push(0);
      return;
    }
    out.push(1);
    switch (c.col_type) {
      case "Boolean":
        out.push(0, v ? 1 : 0);
        return;
      case "Int32":
      case "Int64":
        out.push(c.col_type === "Int32" ? 1 : 2);
        zigzag(BigInt(v as number | bigint));
        return;
      case "Float":
      case "Double": {
        const b = new Uint8Array(c.col_type === "Float" ? 4 : 8);
        const view = new DataView(b.buffer);
        if (b.length === 4) view.setFloat32(0, v as number, true);
        else view.setFloat64(0, v as number, true);
        out.push(c.col_type === "Float" ? 3 : 4, ...b);
        return;
      }
      default: {
        const b = typeof v === "string" ? encoder.encode(v) : (v as Uint8Array);
        out.push(5);
        varint(out, BigInt(b.length));
        out.push(...b);
      }
    }
  });
  return new Uint8Array(out);
}

/** The Parquet type a column is written as (text for ByteArray: every demo byte column holds text). */
function parquetType(t: ColumnType): "BOOLEAN" | "INT32" | "INT64" | "FLOAT" | "DOUBLE" | "STRING" {
  switch (t) {
    case "Boolean":
      return "BOOLEAN";
    case "Int32":
      return "INT32";
    case "Int64":
      return "INT64";
    case "Float":
      return "FLOAT";
    case "Double":
      return "DOUBLE";
    case "ByteArray":
      return "STRING";
    default:
      throw new TidemarkError("NotSupported", "the demo writer writes no FixedLenByteArray column");
  }
}

/**
 * One Parquet file of `rows` (sorted here by internal key), one row group,
 * Snappy: what merutable writes. `dual` (level 0) adds `_merutable_value`.
 */
function parquetBytes(schema: TableSchema, rows: DemoRow[], dual: boolean): Uint8Array {
  const keyed = rows
    .map((r) => ({ r, ikey: internalKey(r.userKey, r.seq, r.op) }))
    .sort((a, b) => compareBytes(a.ikey, b.ikey));
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
              data: sorted.map((r) => valueBlob(schema, r.values)),
            },
          ]
        : []),
      ...schema.columns.map((c, i) => ({
        name: c.name,
        type: parquetType(c.col_type),
        nullable: c.nullable,
        data: sorted.map((r) => r.values[i] ?? null),
      })),
    ],
    codec: "SNAPPY",
    rowGroupSize: Math.max(1, rows.length),
    // The same JSON the manifests carry (merutable's serde form).
    kvMetadata: [{ key: "merutable.schema", value: schemaJson(checkTableSchema(schema)) }],
    createdBy: "tidemark demo writer (merutable's data file layout)",
  });
  return new Uint8Array(buffer);
}

/** Writes `rows` as a Parquet file at `path` (create-only) and returns its manifest entry. */
async function writeDataFile(
  store: ObjectStore,
  schema: TableSchema,
  path: string,
  rows: DemoRow[],
  level: number,
): Promise<DataFileInput> {
  const dual = level === 0;
  const bytes = parquetBytes(schema, rows, dual);
  // Files before the manifest that references them, as on any primary.
  await store.put(path, bytes, { mode: "create", contentType: "application/vnd.apache.parquet" });
  const keys = rows.map((r) => r.userKey).sort(compareBytes);
  const seqs = rows.map((r) => r.seq);
  return {
    path,
    fileSize: bytes.length,
    numRows: rows.length,
    level,
    seqMin: seqs.reduce((a, b) => (b < a ? b : a)),
    seqMax: seqs.reduce((a, b) => (b > a ? b : a)),
    // merutable's key range is the user key (the ikey without its tag).
    keyMin: keys[0] as Uint8Array,
    keyMax: keys[keys.length - 1] as Uint8Array,
    format: dual ? 1 : 0,
  };
}

/** Reads a demo data file back (hyparquet): every row, its key from `_merutable_ikey`. */
async function readDataFile(store: ObjectStore, schema: TableSchema, path: string): Promise<DemoRow[]> {
  const bytes = await (await store.get(path)).bytes();
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const names = schema.columns.map((c) => c.name);
  const rows = (await parquetReadObjects({
    file,
    utf8: false,
    columns: ["_merutable_ikey", "_merutable_seq", "_merutable_op", ...names],
  })) as Array<Record<string, unknown>>;
  // Every demo byte column holds text.
  const value = (v: unknown) => (v instanceof Uint8Array ? decoder.decode(v) : ((v ?? null) as Value));
  return rows.map((o) => {
    const ikey = o._merutable_ikey;
    if (!(ikey instanceof Uint8Array)) {
      throw new TidemarkError("Corrupt", `demo file ${path}: _merutable_ikey is not binary`);
    }
    const { userKey } = splitInternalKey(ikey, `demo file ${path}`);
    return {
      userKey,
      seq: BigInt(o._merutable_seq as bigint),
      op: o._merutable_op === 0 ? 0 : 1,
      values: names.map((n) => value(o[n])),
    };
  });
}

/**
 * A compaction of `inputs` into one file at `path` of `level`: the newest
 * row of each key; tombstones kept unless `dropTombstones` (only when
 * nothing lies below the output level). `undefined` when nothing is left.
 */
async function compact(
  store: ObjectStore,
  schema: TableSchema,
  inputs: string[],
  path: string,
  level: number,
  dropTombstones: boolean,
): Promise<DataFileInput | undefined> {
  const read = await Promise.all(inputs.map((p) => readDataFile(store, schema, p)));
  const rows = newestByKey(read.flat()).filter((r) => r.op === 1 || !dropTombstones);
  return rows.length === 0 ? undefined : writeDataFile(store, schema, path, rows, level);
}

/** What the newest flush left live: its keys' newest rows, deletes left out. */
async function knownRows(store: ObjectStore, schema: TableSchema, path: string | undefined) {
  const known = new KnownRows();
  if (path === undefined) return known;
  for (const r of newestByKey(await readDataFile(store, schema, path))) if (r.op === 1) known.set(r);
  return known;
}

/** Options of {@link demoCommit}. */
export interface DemoCommitOptions {
  /** New level-0 files per commit (default 2; 1 to 2,000). */
  files?: number;
  /** Rows per new file (default 100; 1 to 10,000). */
  rows?: number;
  /**
   * Compact when this many level-0 files are live (default 8; 0: never; at
   * most 10,000).
   */
  compactAt?: number;
  /**
   * The table's schema: `orders` (default; an Int64 key) or `inventory` (a
   * composite text key). A table that exists must have it.
   */
  schema?: DemoTableName;
}

/**
 * One demo snapshot on the table in `source`: a compaction when enough
 * level-0 files are live (see the module notes), then a flush of `files`
 * new level-0 files; returns the new version. Every manifest carries the
 * table's schema ({@link DEMO_SCHEMA} or {@link INVENTORY_SCHEMA}).
 *
 * @throws TidemarkError `InvalidArgument` naming an option out of its range
 * (never clamped: a request for 5,000 files is refused, not served 2,000),
 * or for a table whose schema is not the one asked for; `Corrupt` when a
 * file read back is not a demo data file; the store's and
 * `Catalog.commit`'s errors.
 */
export async function demoCommit(source: ObjectStore, opts: DemoCommitOptions = {}): Promise<number> {
  const files = numberOption("files", opts.files, 2, { min: 1, max: 2000 });
  const rows = numberOption("rows", opts.rows, 100, { min: 1, max: 10_000 });
  const compactAt = numberOption("compactAt", opts.compactAt, 8, { min: 0, max: 10_000 });
  const name = opts.schema ?? "orders";
  if (!Object.hasOwn(TABLES, name)) {
    throw new TidemarkError(
      "InvalidArgument",
      `schema must be one of ${DEMO_TABLES.join(", ")}, got ${JSON.stringify(name)}`,
    );
  }
  const table: DemoTable = TABLES[name];
  const { schema } = table;
  // The schema makes every manifest carry merutable.schema.json and merutable.format_version.
  const catalog = await Catalog.open(source, { schema });
  const head = await catalog.head();
  const base = head > 0 ? await catalog.manifest(head) : undefined;
  const live = base ? liveDataFiles(base) : [];
  // The last sequence number used: recorded by the previous demo commit; a
  // table not written by this writer continues above its newest row.
  let seq = live.reduce((m, f) => Math.max(m, Number(f.seqMax)), 0);
  const recorded = Number(base?.properties[LAST_SEQ]);
  if (Number.isSafeInteger(recorded) && recorded > seq) seq = recorded;
  // The newest file: what the previous flush left, to update again and delete.
  const newest = live.reduce<(typeof live)[number] | undefined>(
    (m, f) => (m === undefined || f.seqMax > m.seqMax ? f : m),
    undefined,
  );
  const known = await knownRows(source, schema, newest?.path);

  const batch = crypto.randomUUID().slice(0, 8);
  const add: DataFileInput[] = [];
  const remove: string[] = [];
  const l0 = live.filter((f) => f.level === 0);
  if (compactAt > 0 && l0.length >= compactAt) {
    const below = live.some((f) => f.level === 2);
    const level1 = live.some((f) => f.level === 1);
    // Alternating: everything into the bottom level, then level 0 into level 1 above it.
    const inputs = below && !level1 ? l0.map((f) => f.path) : live.map((f) => f.path);
    const level = below && !level1 ? 1 : 2;
    const out = await compact(
      source,
      schema,
      inputs,
      `data/L${level}/${head + 1}-${batch}-c.parquet`,
      level,
      level === 2,
    );
    if (out) add.push(out);
    remove.push(...inputs);
  }
  // Generated in order (one history), written 50 files at a time.
  const all = flushRows(table, seq + 1, files * rows, known);
  for (let i = 0; i < files; i += 50) {
    const chunk = Array.from({ length: Math.min(50, files - i) }, (_, j) => i + j);
    add.push(
      ...(await Promise.all(
        chunk.map((n) =>
          writeDataFile(
            source,
            schema,
            `data/L0/${head + 1}-${batch}-${n}.parquet`,
            all.slice(n * rows, (n + 1) * rows),
            0,
          ),
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
 * snapshots (a flush; a flush of two files that updates, updates again and
 * deletes keys of the first; then part-00001 compacted into level 1 as
 * part-00004) and four checkpoint epochs, three of them sealed.
 */
export async function seedDemo(store: ObjectStore): Promise<void> {
  const t = TABLES.orders;
  // merutable's table schema, so the demo table restores into something merutable opens.
  const catalog = await Catalog.open(store, { schema: t.schema });
  const known = new KnownRows();
  const first = flushRows(t, 1, 40, known);
  await catalog.commit({ add: [await writeDataFile(store, t.schema, "data/part-00001.parquet", first, 0)] });
  const second = flushRows(t, 41, 80, known);
  await catalog.commit({
    add: [
      await writeDataFile(store, t.schema, "data/part-00002.parquet", second.slice(0, 60), 0),
      await writeDataFile(store, t.schema, "data/part-00003.parquet", second.slice(60), 0),
    ],
  });
  // Nothing lies below level 1 here: its tombstones go.
  const compacted = await compact(
    store,
    t.schema,
    ["data/part-00001.parquet"],
    "data/part-00004.parquet",
    1,
    true,
  );
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
