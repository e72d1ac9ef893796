/**
 * A Parquet file's footer read without what no reader here needs, and
 * where its page indexes lie. merutable's footer carries a bloom filter
 * (about 2.5 bytes a row, most of the footer) as a key-value metadata
 * value: the footer's thrift is walked over the bytes held so far, and what
 * is missing but for such large values is read, in as few requests as the
 * walk allows. Apart from `data-file.ts`, which parses what these bytes
 * hold, because this is a byte-level walk of the thrift compact protocol
 * with nothing of merutable in it but the page-index columns it looks for.
 *
 * @module
 */
import type { FileMetaData } from "hyparquet";
import { IKEY_COLUMN } from "./data-file-entry.ts";
import type { RangeFile } from "./range-file.ts";

/** A footer's bytes and what precedes them in the reads: see {@link readFooterBytes}. */
export interface FooterBytes {
  /** File offset of `bytes[0]`. */
  at: number;
  bytes: Uint8Array;
  /** Positions in the key-value metadata of the values not read (left zero in `bytes`). */
  skipped: number[];
}

/**
 * The footer's bytes (with what precedes it in the bytes read): the
 * file's last `footerBytes` (kept: a small file's rows are in it), and
 * when the footer is longer, the rest of it but for the values of its
 * key-value metadata not read yet (merutable's bloom filter, 2.5 bytes a
 * row, most of its footer and of no use here), which are left zero and
 * named in `skipped`. The first read of the rest reaches back a quarter of
 * `footerBytes` before the footer, where writers put the page indexes.
 *
 * @throws Error (not a `TidemarkError`: the caller names the file, as
 *   `Corrupt`) when the bytes are not a Parquet file's end; the store's errors.
 */
export async function readFooterBytes(
  file: RangeFile,
  size: number,
  footerBytes: number,
): Promise<FooterBytes> {
  const tailAt = Math.max(0, size - footerBytes);
  const tail = new Uint8Array(await file.slice(tailAt, size));
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  if (view.getUint32(tail.length - 4, true) !== 0x31524150) throw new Error("no PAR1 magic at its end");
  const length = view.getUint32(tail.length - 8, true);
  if (length + 8 > size) throw new Error(`a footer of ${length} bytes in a file of ${size}`);
  if (length + 8 <= tail.length) return { at: tailAt, bytes: tail, skipped: [] };
  const start = size - 8 - length;
  const held: Array<{ at: number; bytes: Uint8Array }> = [{ at: tailAt, bytes: tail }];
  let ask = footerBytes;
  for (let round = 0; ; round++) {
    const gaps = walkFooter(start, held);
    if (!(gaps instanceof NeedBytes)) {
      const at = Math.min(...held.map((h) => h.at));
      const bytes = new Uint8Array(size - at);
      for (const h of held) bytes.set(h.bytes, h.at - at);
      return { at, bytes, skipped: gaps };
    }
    if (round > 16) throw new Error("a footer that does not end");
    // What is missing from the first byte needed, up to the next bytes held: all of it when that is
    // not much, else a part (twice as much each round), in which the walk finds what to leave unread.
    const from = round === 0 ? Math.max(0, Math.min(gaps.at, start - (footerBytes >> 2))) : gaps.at;
    const next = Math.min(...held.map((h) => h.at).filter((a) => a > gaps.at));
    const to = next - from <= 2 * ask ? next : from + ask;
    ask *= 2;
    held.push({ at: from, bytes: await file.read(from, to) });
    held.sort((a, b) => a.at - b.at);
  }
}

/** Key-value metadata values of at least this size are not read when the first read of a footer lacks them. */
export const SKIPPED_VALUE = 4096;

/** A byte a walk of the footer needs and does not have. */
class NeedBytes {
  readonly at: number;
  constructor(at: number) {
    this.at = at;
  }
}

/**
 * Walks a Parquet footer (a thrift compact `FileMetaData` from byte `start`)
 * over the bytes `held`: the positions of the key-value metadata whose
 * values are not held (to leave unread), or the first byte needed and not
 * held. Every other byte of the footer must be held for it to be parsed.
 */
function walkFooter(
  start: number,
  held: ReadonlyArray<{ at: number; bytes: Uint8Array }>,
): number[] | NeedBytes {
  const holds = (from: number, to: number): number => {
    // The first position of [from, to) not held, or `to`.
    let at = from;
    for (let moved = true; moved && at < to; ) {
      moved = false;
      for (const h of held) {
        if (h.at <= at && at < h.at + h.bytes.length) {
          at = Math.min(to, h.at + h.bytes.length);
          moved = true;
        }
      }
    }
    return at;
  };
  const byte = (pos: number): number => {
    for (const h of held)
      if (h.at <= pos && pos < h.at + h.bytes.length) return h.bytes[pos - h.at] as number;
    throw new NeedBytes(pos);
  };
  let pos = start;
  const varint = (): number => {
    let r = 0;
    for (let shift = 0; ; shift += 7) {
      const b = byte(pos++);
      r += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return r;
    }
  };
  const need = (n: number) => {
    const missing = holds(pos, pos + n);
    if (missing < pos + n) throw new NeedBytes(missing);
    pos += n;
  };
  const skip = (type: number): void => {
    switch (type) {
      case 1:
      case 2:
        return;
      case 3:
        need(1);
        return;
      case 4:
      case 5:
      case 6:
        varint();
        return;
      case 7:
        need(8);
        return;
      case 8:
        need(varint());
        return;
      case 9:
      case 10: {
        const h = byte(pos++);
        const size = h >> 4 === 15 ? varint() : h >> 4;
        // Booleans in a list are a byte each.
        const et = h & 15;
        for (let i = 0; i < size; i++) skip(et === 1 || et === 2 ? 3 : et);
        return;
      }
      case 11: {
        const size = varint();
        if (size === 0) return;
        const kv = byte(pos++);
        for (let i = 0; i < size; i++) {
          skip(kv >> 4);
          skip(kv & 15);
        }
        return;
      }
      case 12:
        struct(() => false);
        return;
      case 13:
        need(16);
        return;
      default:
        throw new Error(`thrift type ${type} in the footer`);
    }
  };
  /** Walks a struct's fields; `own(id, type)` handles a field itself when it returns true. */
  const struct = (own: (id: number, type: number) => boolean): void => {
    let id = 0;
    for (;;) {
      const b = byte(pos++);
      const type = b & 15;
      if (type === 0) return;
      const delta = b >> 4;
      if (delta) id += delta;
      else {
        const z = varint();
        id = (z >>> 1) ^ -(z & 1);
      }
      if (!own(id, type)) skip(type);
    }
  };
  const skipped: number[] = [];
  try {
    struct((id, type) => {
      // field 5: key_value_metadata, a list of KeyValue { 1: key, 2: value }
      if (id !== 5 || type !== 9) return false;
      const h = byte(pos++);
      const size = h >> 4 === 15 ? varint() : h >> 4;
      for (let i = 0; i < size; i++) {
        struct((fid, ftype) => {
          if (fid !== 2 || ftype !== 8) return false;
          const n = varint();
          const missing = holds(pos, pos + n);
          if (missing < pos + n) {
            // A large value (a bloom filter) is left unread; a small one is read with the rest.
            if (n < SKIPPED_VALUE) throw new NeedBytes(missing);
            skipped.push(i);
          }
          pos += n;
          return true;
        });
      }
      return true;
    });
  } catch (e) {
    if (e instanceof NeedBytes) return e;
    throw e;
  }
  return skipped;
}

/** Where a file's page indexes lie, when every column chunk has an offset index. */
export function pageIndexRange(metadata: FileMetaData): [number, number] | undefined {
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  if (metadata.row_groups.length === 0) return undefined;
  for (const g of metadata.row_groups) {
    for (const c of g.columns) {
      if (c.offset_index_offset === undefined || !c.offset_index_length) return undefined;
      lo = Math.min(lo, Number(c.offset_index_offset));
      hi = Math.max(hi, Number(c.offset_index_offset) + c.offset_index_length);
      if (
        c.meta_data?.path_in_schema[0] === IKEY_COLUMN &&
        c.column_index_offset !== undefined &&
        c.column_index_length
      ) {
        lo = Math.min(lo, Number(c.column_index_offset));
        hi = Math.max(hi, Number(c.column_index_offset) + c.column_index_length);
      }
    }
  }
  return [lo, hi];
}
