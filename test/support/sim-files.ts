/**
 * The data files of the history-integrity simulation (test/support/sim.ts):
 * real merutable data files (Parquet laid out as merutable writes them:
 * `_merutable_ikey`, `_merutable_seq`, `_merutable_op`, then the user
 * columns of the `events` schema), one row each, so the simulation's
 * mirrors can carry Iceberg views of them. Every file is a pure function of
 * its table and number: the oracle recomputes a file's bytes and its row from
 * its name. Uncompressed and fixed-width, so file `n` has the same size in
 * every table (same names and sizes, other bytes: what invariant 5 needs).
 *
 * The rows: file `n` holds key `n % KEYS` (so newer files shadow older
 * rows and the view writes position deletes), every `TOMBSTONE_EVERY`-th
 * file a tombstone of its key, sequence number `n` (merutable's restored
 * table continues far above its source's).
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import type { DataFileInput } from "../../src/catalog/commit.ts";
import { checkTableSchema, schemaJson, type TableSchema } from "../../src/catalog/schema.ts";
import { encodeUserKey, internalKey } from "../../src/rows/ikey.ts";
import { MERUTABLE_SCHEMA_JSON } from "./posix-fixture.ts";

/** merutable's `events` schema (an Int64 key `id`, a nullable ByteArray `payload`): every table's. */
export const SIM_SCHEMA: TableSchema = checkTableSchema(JSON.parse(MERUTABLE_SCHEMA_JSON));
const SCHEMA_JSON = schemaJson(SIM_SCHEMA);

/** Distinct keys: few, so most files shadow an earlier one. */
const KEYS = 5;
const TOMBSTONE_EVERY = 7;
/** The restored directory's files are committed after everything restored into it. */
const RESTORED_SEQ_BASE = 1_000_000;

/** The one row of a simulated data file. */
export interface SimRow {
  id: bigint;
  payload: string;
  seq: bigint;
  /** 1 put, 0 delete (a tombstone carries the key's values, as merutable's do). */
  op: 0 | 1;
}

/** The row of file `n` of `table` (a table name, or `R`: merutable's own files on the restored directory). */
export function simRow(table: string, n: number): SimRow {
  const seq = BigInt((table === "R" ? RESTORED_SEQ_BASE : 0) + n);
  // Fixed width: 1 + 9 characters.
  const payload = `${table}${String(n).padStart(9, "0")}`;
  return { id: BigInt(n % KEYS), payload, seq, op: n % TOMBSTONE_EVERY === 0 ? 0 : 1 };
}

const cache = new Map<string, Uint8Array>();

/** The bytes of file `n` of `table` (cached: the same every time). */
export function simFileBytes(table: string, n: number): Uint8Array {
  const id = `${table}/${n}`;
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const r = simRow(table, n);
  const userKey = encodeUserKey([r.id], SIM_SCHEMA);
  const buffer = parquetWriteBuffer({
    columnData: [
      {
        name: "_merutable_ikey",
        type: "BYTE_ARRAY",
        nullable: false,
        data: [internalKey(userKey, r.seq, r.op)],
      },
      { name: "_merutable_seq", type: "INT64", nullable: false, data: [r.seq] },
      { name: "_merutable_op", type: "INT32", nullable: false, data: [r.op] },
      { name: "id", type: "INT64", nullable: false, data: [r.id] },
      { name: "payload", type: "STRING", nullable: true, data: [r.payload] },
    ],
    codec: "UNCOMPRESSED",
    rowGroupSize: 1,
    kvMetadata: [{ key: "merutable.schema", value: SCHEMA_JSON }],
    createdBy: "tidemark simulation (merutable's data file layout)",
  });
  const bytes = new Uint8Array(buffer);
  cache.set(id, bytes);
  return bytes;
}

/** File `n` of `table` at `data/f{n}.parquet`: its bytes, and its entry for a `Catalog` commit. */
export function simDataFile(table: string, n: number): { bytes: Uint8Array; entry: DataFileInput } {
  const bytes = simFileBytes(table, n);
  const r = simRow(table, n);
  const key = encodeUserKey([r.id], SIM_SCHEMA);
  return {
    bytes,
    entry: {
      path: `data/f${n}.parquet`,
      fileSize: bytes.length,
      numRows: 1,
      level: 0,
      keyMin: key,
      keyMax: key,
      seqMin: r.seq,
      seqMax: r.seq,
    },
  };
}
