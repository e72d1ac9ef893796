/**
 * merutable's deletion vectors: the row positions of one data file that a
 * reader must skip, as the blob merutable writes at `dv_offset` for
 * `dv_length` bytes of the Puffin file `dv_path`
 * (https://github.com/salesforce-misc/merutable/blob/41101e3/crates/merutable/src/iceberg/deletion_vector.rs):
 *
 * a 4-byte big-endian length (of what follows, CRC included), the magic
 * `D1 D3 39 64`, a 64-bit Roaring bitmap in its portable form (a
 * little-endian u64 count of 32-bit bitmaps, each a little-endian u32 key
 * for the upper 32 bits and a portable 32-bit Roaring bitmap), then a
 * big-endian CRC-32 of the magic and the bitmap: Iceberg v3's
 * `deletion-vector-v1` blob. {@link readDeletionVector} reads one from its
 * Puffin file (one request for the blob) and checks it against the data
 * file's row count.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { RangeFile } from "./range-file.ts";
import { readRoaring32 } from "./roaring.ts";

const MAGIC = [0xd1, 0xd3, 0x39, 0x64];

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib and Rust's crc32fast compute it). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = (crcTable[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The positions a deletion vector marks, ascending. */
export class DeletionVector {
  /** Marked row positions (file-global), ascending, distinct. */
  readonly positions: Float64Array;

  constructor(positions: Float64Array) {
    this.positions = positions;
  }

  /** How many rows it marks. */
  get cardinality(): number {
    return this.positions.length;
  }

  /** The highest marked position, or -1 when it marks none. */
  get max(): number {
    return this.positions.length === 0 ? -1 : (this.positions[this.positions.length - 1] as number);
  }

  /** Whether row `position` is marked (binary search). */
  has(position: number): boolean {
    const p = this.positions;
    let lo = 0;
    let hi = p.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = p[mid] as number;
      if (v === position) return true;
      if (v < position) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}

/**
 * Decodes a deletion-vector blob (the bytes at `dv_offset`, `dv_length`).
 *
 * @param where names the blob in messages (its Puffin file).
 * @throws TidemarkError `Corrupt` for a length that is not the blob's, a
 *   wrong magic, a CRC mismatch, bitmaps out of order or a bad bitmap.
 */
export function decodeDeletionVector(blob: Uint8Array, where: string): DeletionVector {
  const corrupt = (why: string) => new TidemarkError("Corrupt", `deletion vector in ${where}: ${why}`);
  if (blob.length < 4 + 4 + 8 + 4) throw corrupt(`${blob.length} bytes is too short for a blob`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const length = view.getUint32(0);
  if (length !== blob.length - 4) {
    throw corrupt(`its length field says ${length} bytes, the manifest's range holds ${blob.length - 4}`);
  }
  if (MAGIC.some((b, i) => blob[4 + i] !== b)) throw corrupt("no deletion-vector-v1 magic (D1 D3 39 64)");
  const stored = view.getUint32(blob.length - 4);
  const computed = crc32(blob.subarray(4, blob.length - 4));
  if (stored !== computed) {
    throw corrupt(`CRC-32 mismatch (stored ${stored.toString(16)}, computed ${computed.toString(16)})`);
  }
  const data = blob.subarray(8, blob.length - 4);
  const dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = dataView.getBigUint64(0, true);
  if (count > 0xffffffffn) throw corrupt(`claims ${count} bitmaps`);
  let at = 8;
  const parts: Array<{ high: number; values: Uint32Array }> = [];
  let previous = -1;
  for (let i = 0; i < Number(count); i++) {
    if (at + 4 > data.length) throw corrupt(`truncated before bitmap ${i}`);
    const high = dataView.getUint32(at, true);
    if (high <= previous) throw corrupt(`bitmap keys out of order (${high} after ${previous})`);
    previous = high;
    const r = readRoaring32(data, at + 4, `deletion vector in ${where}`);
    parts.push({ high, values: r.values });
    at = r.end;
  }
  if (at !== data.length) throw corrupt(`${data.length - at} byte(s) after its bitmaps`);
  const total = parts.reduce((n, p) => n + p.values.length, 0);
  const positions = new Float64Array(total);
  let n = 0;
  for (const { high, values } of parts) {
    const base = high * 2 ** 32;
    for (const v of values) positions[n++] = base + v;
  }
  return new DeletionVector(positions);
}

/**
 * The deletion vector `dv` of the data file `dataPath` (of `numRows` rows),
 * read from its Puffin file `file` (one request for the blob).
 *
 * @throws TidemarkError `Corrupt` when the range lies outside the Puffin
 *   file, the blob does not decode, or it marks a position at or past the
 *   file's row count; the store's errors.
 */
export async function readDeletionVector(
  file: RangeFile,
  dv: { path: string; offset: number; length: number },
  dataPath: string,
  numRows: number,
): Promise<DeletionVector> {
  const corrupt = (why: string) => new TidemarkError("Corrupt", `${dataPath}: ${why}`, { key: dataPath });
  if (dv.offset < 0 || dv.length < 0 || dv.offset + dv.length > file.byteLength) {
    throw corrupt(`its deletion vector's range ${dv.offset}+${dv.length} is outside ${dv.path}`);
  }
  const v = decodeDeletionVector(new Uint8Array(await file.slice(dv.offset, dv.offset + dv.length)), dv.path);
  if (v.max >= numRows)
    throw corrupt(`its deletion vector (${dv.path}) marks row ${v.max}, the file has ${numRows}`);
  return v;
}
