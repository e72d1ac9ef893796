/**
 * A small merutable table for the deep-verification tests, written in every
 * runtime (workerd included: no Python or Java there): Parquet data files
 * laid out as merutable writes them (hyparquet-writer; `_merutable_ikey`,
 * `_merutable_seq`, `_merutable_op`, then the user columns), uncompressed
 * and fixed-width so two tables of the same shape have files of the same
 * sizes (a file of another table with the same name and size), a deletion
 * vector in a Puffin file, and manifests with merutable's schema, committed
 * with `Catalog`. Reading it back is the product's reader's job: the rows
 * tests check it against DuckDB and pyarrow.
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import { Catalog } from "../../src/catalog/catalog.ts";
import type { DataFileInput } from "../../src/catalog/commit.ts";
import { checkTableSchema, schemaJson, type TableSchema } from "../../src/catalog/schema.ts";
import { crc32 } from "../../src/rows/deletion-vector.ts";
import { compareBytes, encodeUserKey, internalKey } from "../../src/rows/ikey.ts";
import type { ObjectStore } from "../../src/store/types.ts";

export const TAMPER_SCHEMA: TableSchema = {
  table_name: "events",
  columns: [
    { name: "id", col_type: "Int64", nullable: false, field_id: 1 },
    { name: "amount", col_type: "Int64", nullable: false, field_id: 2 },
  ],
  primary_key: [0],
  schema_id: 0,
  last_column_id: 2,
};

/** The files of the table {@link writeTamperTable} writes. */
export const TAMPER_FILES = {
  a: "data/L0/a.parquet",
  b: "data/L0/b.parquet",
  c: "data/L0/c.parquet",
  d: "data/L0/d.parquet",
  /** The data file with a deletion vector. */
  e: "data/L0/e.parquet",
  dv: "data/L0/e.dv-3.puffin",
} as const;

const ROWS = 20;

/** A Parquet data file of rows `first..first+ROWS-1` (sequence numbers from `seq`), values from `seed`. */
export function dataFile(
  first: number,
  seq: number,
  seed: number,
): { bytes: Uint8Array; entry: Omit<DataFileInput, "path"> } {
  const rows = Array.from({ length: ROWS }, (_, i) => {
    const id = BigInt(first + i);
    const userKey = encodeUserKey([id], TAMPER_SCHEMA);
    const s = BigInt(seq + i);
    return {
      id,
      userKey,
      seq: s,
      ikey: internalKey(userKey, s, 1),
      amount: BigInt(seed * 1_000_003 + i * 7919),
    };
  }).sort((a, b) => compareBytes(a.ikey, b.ikey));
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: "_merutable_ikey", type: "BYTE_ARRAY", nullable: false, data: rows.map((r) => r.ikey) },
      { name: "_merutable_seq", type: "INT64", nullable: false, data: rows.map((r) => r.seq) },
      { name: "_merutable_op", type: "INT32", nullable: false, data: rows.map(() => 1) },
      { name: "id", type: "INT64", nullable: false, data: rows.map((r) => r.id) },
      { name: "amount", type: "INT64", nullable: false, data: rows.map((r) => r.amount) },
    ],
    codec: "UNCOMPRESSED",
    // Two row groups: the first and last keys come from different groups.
    rowGroupSize: ROWS / 2,
    kvMetadata: [{ key: "merutable.schema", value: schemaJson(checkTableSchema(TAMPER_SCHEMA)) }],
    createdBy: "tidemark tests (merutable's data file layout)",
  });
  const keys = rows.map((r) => r.userKey).sort(compareBytes);
  return {
    bytes: new Uint8Array(buffer),
    entry: {
      fileSize: buffer.byteLength,
      numRows: ROWS,
      level: 0,
      seqMin: BigInt(seq),
      seqMax: BigInt(seq + ROWS - 1),
      keyMin: keys[0] as Uint8Array,
      keyMax: keys[ROWS - 1] as Uint8Array,
      format: 0,
    },
  };
}

/**
 * A deletion-vector blob as merutable writes it (Iceberg's
 * `deletion-vector-v1`: length, magic, one 64-bit Roaring bitmap in its
 * portable form with array containers, CRC-32) marking `positions` (each
 * below 2^16).
 */
export function deletionVectorBlob(positions: number[]): Uint8Array {
  const values = [...positions].sort((a, b) => a - b);
  // One 32-bit bitmap (high 0), one array container (key 0), cookie without run containers.
  const bitmap = 4 + 4 + 4 + 4 + 2 * values.length;
  const body = 4 + 8 + 4 + bitmap; // magic, count, high key, bitmap
  const out = new Uint8Array(4 + body + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, body + 4);
  out.set([0xd1, 0xd3, 0x39, 0x64], 4);
  let at = 8;
  view.setBigUint64(at, 1n, true);
  at += 8;
  view.setUint32(at, 0, true);
  at += 4;
  view.setUint32(at, 12346, true);
  view.setUint32(at + 4, 1, true);
  view.setUint16(at + 8, 0, true);
  view.setUint16(at + 10, values.length - 1, true);
  view.setUint32(at + 12, 4 + 4 + 4 + 4, true);
  at += 16;
  for (const v of values) {
    view.setUint16(at, v, true);
    at += 2;
  }
  view.setUint32(at, crc32(out.subarray(4, at)));
  return out;
}

/**
 * Writes the table on `store`: v1 adds `a`; v2 adds `b`; v3 adds `c`, `d`
 * and `e`, whose deletion vector marks its rows 0 and 3. `seed` changes every value
 * but no size: two tables of different seeds have files of the same names
 * and sizes, with other bytes.
 */
export async function writeTamperTable(
  store: ObjectStore,
  opts: { seed: number; uuid: string },
): Promise<void> {
  const catalog = await Catalog.open(store, {
    schema: TAMPER_SCHEMA,
    newTableUuid: () => opts.uuid,
    now: () => 1_700_000_000_000,
  });
  const put = async (path: string, first: number, seq: number) => {
    const f = dataFile(first, seq, opts.seed + first);
    await store.put(path, f.bytes);
    return { path, ...f.entry };
  };
  await catalog.commit({ add: [await put(TAMPER_FILES.a, 1, 1)] });
  await catalog.commit({ add: [await put(TAMPER_FILES.b, 101, 101)] });
  const blob = deletionVectorBlob([0, 3]);
  // A Puffin file: its magic, the blob, a few bytes after it.
  const puffin = new Uint8Array(4 + blob.length + 8);
  puffin.set([0x50, 0x46, 0x41, 0x31], 0);
  puffin.set(blob, 4);
  await store.put(TAMPER_FILES.dv, puffin);
  const e = await put(TAMPER_FILES.e, 401, 401);
  await catalog.commit({
    add: [
      await put(TAMPER_FILES.c, 201, 201),
      await put(TAMPER_FILES.d, 301, 301),
      { ...e, dvPath: TAMPER_FILES.dv, dvOffset: 4, dvLength: blob.length },
    ],
  });
}
