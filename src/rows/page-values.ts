/**
 * The values of a decoded Parquet page, read in place where they can be:
 * byte values as ranges of the decompressed page (a copy only when asked
 * for), plain numbers and booleans read from the page's bytes, dictionary
 * indexes resolved on read. Apart from the decoder (`page-decoder.ts`) so
 * that what a page holds is one small module a reader of rows can see whole:
 * a merge reads tens of thousands of pages and makes no object per value.
 *
 * @module
 */
import type { ParquetType } from "hyparquet";
import type { TidemarkError } from "../errors.ts";

/** Values of a page (or of a dictionary), by index. */
export interface Values {
  get(i: number): unknown;
}

let slab = new Uint8Array(0);
let slabAt = 0;

/**
 * A copy of `src[start, end)` as a view of a shared 64 KiB slab: an object
 * of its own but no buffer of its own (small values given out of a page
 * buffer that is used again for the next page).
 */
export function copyOut(src: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  // V8 keeps typed arrays of up to 64 bytes in its heap: a copy of its own is young garbage then.
  if (n <= 64) return src.slice(start, end);
  if (slabAt + n > slab.length) {
    slab = new Uint8Array(Math.max(64 * 1024, n));
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + n);
  for (let i = 0; i < n; i++) slab[slabAt + i] = src[start + i] as number;
  slabAt += n;
  return out;
}

/**
 * Byte values as ranges of one buffer: a decompressed page (`reused`: the
 * buffer holds the next page later, so values given out are copies), a
 * dictionary, or values packed together.
 */
export class ByteRanges implements Values {
  readonly buf: Uint8Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly #reused: boolean;

  constructor(buf: Uint8Array, starts: Int32Array, ends: Int32Array, reused = false) {
    this.buf = buf;
    this.starts = starts;
    this.ends = ends;
    this.#reused = reused;
  }

  get length(): number {
    return this.starts.length;
  }

  get(i: number): Uint8Array {
    const a = this.starts[i] as number;
    const b = this.ends[i] as number;
    return this.#reused ? copyOut(this.buf, a, b) : this.buf.subarray(a, b);
  }

  /** Value `i` as a view of the buffer (for reading it at once). */
  view(i: number): Uint8Array {
    return this.buf.subarray(this.starts[i] as number, this.ends[i] as number);
  }

  /** Values given as separate arrays, packed into one buffer. */
  static pack(values: ArrayLike<Uint8Array>): ByteRanges {
    let total = 0;
    for (let i = 0; i < values.length; i++) total += (values[i] as Uint8Array).length;
    const buf = new Uint8Array(total);
    const starts = new Int32Array(values.length);
    const ends = new Int32Array(values.length);
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as Uint8Array;
      buf.set(v, at);
      starts[i] = at;
      at += v.length;
      ends[i] = at;
    }
    return new ByteRanges(buf, starts, ends);
  }
}

// ignoreBOM: a leading U+FEFF is part of the value, never stripped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Byte values read as UTF-8 text. */
export class Texts implements Values {
  readonly #bytes: ByteRanges;
  readonly #bad: () => TidemarkError;

  constructor(bytes: ByteRanges, bad: () => TidemarkError) {
    this.#bytes = bytes;
    this.#bad = bad;
  }

  get(i: number): string {
    try {
      return utf8.decode(this.#bytes.view(i));
    } catch {
      throw this.#bad();
    }
  }
}

/** Values of a JS or typed array. */
export class Plain implements Values {
  readonly #a: ArrayLike<unknown>;

  constructor(a: ArrayLike<unknown>) {
    this.#a = a;
  }

  get(i: number): unknown {
    return this.#a[i];
  }
}

/** 64-bit integers decoded as numbers (all within 2^53), given as bigints. */
export class Int64Numbers implements Values {
  readonly #a: Float64Array;

  constructor(a: Float64Array) {
    this.#a = a;
  }

  get(i: number): bigint {
    return BigInt(this.#a[i] as number);
  }
}

/** Plain numbers (or bigints) read in place from a page: no copy, nothing made but the value. */
export class PlainNumbers implements Values {
  readonly #view: DataView;
  readonly #at: number;
  readonly #type: ParquetType;

  constructor(page: Uint8Array, at: number, type: ParquetType) {
    this.#view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    this.#at = at;
    this.#type = type;
  }

  get(i: number): number | bigint {
    const v = this.#view;
    switch (this.#type) {
      case "INT32":
        return v.getInt32(this.#at + 4 * i, true);
      case "FLOAT":
        return v.getFloat32(this.#at + 4 * i, true);
      case "DOUBLE":
        return v.getFloat64(this.#at + 8 * i, true);
      default:
        return v.getBigInt64(this.#at + 8 * i, true);
    }
  }
}

/** Plain booleans read in place (a bit each, the first in the lowest bit). */
export class PlainBits implements Values {
  readonly #page: Uint8Array;
  readonly #at: number;

  constructor(page: Uint8Array, at: number) {
    this.#page = page;
    this.#at = at;
  }

  get(i: number): boolean {
    return (((this.#page[this.#at + (i >>> 3)] as number) >>> (i & 7)) & 1) === 1;
  }
}

/** Booleans decoded as 0 and 1 (RLE). */
export class Bits implements Values {
  readonly #a: Uint8Array;

  constructor(a: Uint8Array) {
    this.#a = a;
  }

  get(i: number): boolean {
    return this.#a[i] === 1;
  }
}

/** A text dictionary's values, each decoded once. */
export class Memo implements Values {
  readonly #inner: Values;
  readonly #made: unknown[];

  constructor(inner: Values, size: number) {
    this.#inner = inner;
    this.#made = new Array(size);
  }

  get(i: number): unknown {
    let v = this.#made[i];
    if (v === undefined) {
      v = this.#inner.get(i);
      this.#made[i] = v;
    }
    return v;
  }
}

/** Dictionary-encoded values: indexes into the chunk's dictionary. */
export class Indexed implements Values {
  readonly #indexes: Int32Array;
  readonly #dict: Values;
  readonly #size: number;
  readonly #bad: () => TidemarkError;

  constructor(indexes: Int32Array, dict: Values, size: number, bad: () => TidemarkError) {
    this.#indexes = indexes;
    this.#dict = dict;
    this.#size = size;
    this.#bad = bad;
  }

  get(i: number): unknown {
    const k = this.#indexes[i] as number;
    if (k >= this.#size) throw this.#bad();
    return this.#dict.get(k);
  }
}

/** A decoded data page: rows `firstRow` to `firstRow + rows`. */
export class DecodedPage {
  readonly firstRow: number;
  readonly rows: number;
  readonly values: Values;
  /** Row to value slot, -1 for a null; absent when no row is null. */
  readonly slots: Int32Array | undefined;

  constructor(firstRow: number, rows: number, values: Values, slots: Int32Array | undefined) {
    this.firstRow = firstRow;
    this.rows = rows;
    this.values = values;
    this.slots = slots;
  }

  /** The value of row `row` of the group (`null` for a null). */
  get(row: number): unknown {
    const i = row - this.firstRow;
    const slot = this.slots ? (this.slots[i] as number) : i;
    return slot < 0 ? null : this.values.get(slot);
  }
}
