/**
 * A merutable data file as the manifest and the file format name it: the
 * columns every data file has (`_merutable_ikey`, `_merutable_seq`,
 * `_merutable_op`, the row blob of level-0 files) and a live file's
 * manifest entry (size, rows, key and sequence ranges, where its deletion
 * vector lies). Apart from the reading of files (`data-file.ts`) so that a
 * reader of manifests (the Iceberg view) needs no Parquet code.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { DataFileRef } from "../manifest/gen/manifest_pb.ts";

/** The internal-key column every merutable data file has. */
export const IKEY_COLUMN = "_merutable_ikey";
/** The sequence-number column. */
export const SEQ_COLUMN = "_merutable_seq";
/** The op column (0 delete, 1 put). */
export const OP_COLUMN = "_merutable_op";
/** The postcard row blob (level-0 "dual" files); never read here. */
export const VALUE_COLUMN = "_merutable_value";

/** A live data file of a version, as its manifest entry describes it. */
export interface DataFileEntry {
  path: string;
  size: number;
  numRows: number;
  level: number;
  /** User-key range (no tag); empty when the manifest does not say. */
  keyMin: Uint8Array;
  keyMax: Uint8Array;
  seqMin: bigint;
  seqMax: bigint;
  /** The deletion vector: a blob of `dv.path` at `dv.offset` for `dv.length` bytes. */
  dv?: { path: string; offset: number; length: number };
}

/**
 * The manifest entry `f` as a {@link DataFileEntry}.
 *
 * @throws TidemarkError `Corrupt` for a deletion vector with some of its
 *   coordinates missing (merutable refuses the same).
 */
export function dataFileEntry(f: DataFileRef): DataFileEntry {
  const e: DataFileEntry = {
    path: f.path,
    size: Number(f.fileSize),
    numRows: Number(f.numRows),
    level: f.level,
    keyMin: f.keyMin,
    keyMax: f.keyMax,
    seqMin: f.seqMin,
    seqMax: f.seqMax,
  };
  const coords = [f.dvPath, f.dvOffset, f.dvLength].filter((x) => x !== undefined).length;
  if (coords === 3) {
    e.dv = { path: f.dvPath as string, offset: Number(f.dvOffset), length: Number(f.dvLength) };
  } else if (coords !== 0) {
    throw new TidemarkError(
      "Corrupt",
      `${f.path}: inconsistent deletion-vector coordinates in the manifest`,
      {
        key: f.path,
      },
    );
  }
  return e;
}
