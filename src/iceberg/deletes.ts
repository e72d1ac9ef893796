/**
 * Iceberg position-delete files (spec, "Position Delete Files"): Parquet with
 * the reserved field ids 2147483546 (`file_path`, string) and 2147483545
 * (`pos`, long), rows sorted by file path then position. hyparquet-writer
 * writes a schema element's `field_id` as given, so the ids need nothing but
 * an explicit schema.
 *
 * @module
 */
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { TidemarkError } from "../errors.ts";
import { DELETE_FILE_PATH_ID, DELETE_POS_ID } from "./spec.ts";

/** A row position to delete: a data file (its absolute path) and a file-global row position. */
export interface PositionDelete {
  path: string;
  pos: number;
}

/** Orders deletes as the spec requires: by file path, then position. */
export function comparePositionDeletes(a: PositionDelete, b: PositionDelete): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : a.pos - b.pos;
}

/**
 * A position-delete file of `deletes` (sorted here, duplicates dropped).
 * Snappy, as merutable's data files; one row group.
 */
export function encodeDeleteFile(deletes: readonly PositionDelete[]): {
  bytes: Uint8Array;
  rows: PositionDelete[];
} {
  const sorted = [...deletes].sort(comparePositionDeletes);
  const rows = sorted.filter(
    (d, i) => i === 0 || comparePositionDeletes(sorted[i - 1] as PositionDelete, d) !== 0,
  );
  const buffer = parquetWriteBuffer({
    schema: [
      { name: "table", num_children: 2 },
      {
        name: "file_path",
        type: "BYTE_ARRAY",
        repetition_type: "REQUIRED",
        converted_type: "UTF8",
        logical_type: { type: "STRING" },
        field_id: DELETE_FILE_PATH_ID,
      },
      { name: "pos", type: "INT64", repetition_type: "REQUIRED", field_id: DELETE_POS_ID },
    ],
    columnData: [
      { name: "file_path", data: rows.map((d) => d.path) },
      { name: "pos", data: BigInt64Array.from(rows, (d) => BigInt(d.pos)) },
    ],
    rowGroupSize: Math.max(1, rows.length),
    createdBy: "tidemark",
  });
  return { bytes: new Uint8Array(buffer), rows };
}

/**
 * The rows of a position-delete file.
 *
 * @param what its name, for messages.
 * @throws TidemarkError `Corrupt` when it is not such a file.
 */
export async function decodeDeleteFile(bytes: Uint8Array, what: string): Promise<PositionDelete[]> {
  try {
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const rows = await parquetReadObjects({ file, columns: ["file_path", "pos"] });
    return rows.map((r) => {
      const path = r.file_path as unknown;
      const pos = r.pos as unknown;
      if (typeof path !== "string" || (typeof pos !== "bigint" && typeof pos !== "number")) {
        throw new Error("a row without file_path or pos");
      }
      return { path, pos: Number(pos) };
    });
  } catch (e) {
    throw new TidemarkError("Corrupt", `${what}: not a position-delete file: ${(e as Error).message}`, {
      key: what,
      cause: e,
    });
  }
}
