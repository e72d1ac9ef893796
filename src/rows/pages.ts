/**
 * The column chunks of a Parquet row group, read and decoded a page at a
 * time. A chunk's pages are located by its offset index when the file has
 * one (merutable's writer, parquet-rs, writes page indexes), else by walking
 * the page headers of the chunk read whole; only the pages holding the rows
 * asked for are read, and a page is decoded when a row of it is read, so a
 * row group held by a merge costs its compressed bytes and one decoded page
 * per column, not its decoded values.
 *
 * Decoding uses hyparquet's own pieces (page headers, Snappy, RLE and
 * bit-packed runs, delta encodings, plain values of a dictionary), but not
 * its byte-array decoding, which makes one `Uint8Array` per value: byte
 * values here are ranges of the decompressed page (`starts`/`ends`), a value
 * a copy only when asked for, and internal keys are compared in place; plain
 * numbers and booleans are read in place. Each chunk decodes its pages into
 * buffers of its own used again for the next page (a merge decodes tens of
 * thousands of pages); a text dictionary is decoded once.
 *
 * @module
 */
import type { ColumnMetaData, CompressionCodec, DecodedArray, PageHeader, ParquetType } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { decompressPage } from "hyparquet/src/datapage.js";
import { deltaBinaryUnpack, deltaByteArray, deltaLengthByteArray } from "hyparquet/src/delta.js";
import { byteStreamSplit, readRleBitPackedHybrid } from "hyparquet/src/encoding.js";
import { readPlain } from "hyparquet/src/plain.js";
import { snappyUncompress } from "hyparquet/src/snappy.js";
import { TidemarkError } from "../errors.ts";

/** A data page of a chunk: where it lies in the file (its header included) and its rows. */
export interface PageLocation {
  offset: number;
  /** Bytes of header and data. */
  size: number;
  /** Row of the group its first row is. */
  firstRow: number;
  rows: number;
}

/** Values of a page (or of a dictionary), by index. */
interface Values {
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
class Texts implements Values {
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
class Plain implements Values {
  readonly #a: ArrayLike<unknown>;

  constructor(a: ArrayLike<unknown>) {
    this.#a = a;
  }

  get(i: number): unknown {
    return this.#a[i];
  }
}

/** 64-bit integers decoded as numbers (all within 2^53), given as bigints. */
class Int64Numbers implements Values {
  readonly #a: Float64Array;

  constructor(a: Float64Array) {
    this.#a = a;
  }

  get(i: number): bigint {
    return BigInt(this.#a[i] as number);
  }
}

/**
 * Decodes `count` DELTA_BINARY_PACKED 64-bit integers from byte `at` of
 * `page` into `out` as numbers; false as soon as a value, a delta or a bit
 * width could leave the range where numbers are exact (then decode them as
 * bigints). hyparquet's decoder makes several bigints per value.
 */
function deltaAsNumbers(page: Uint8Array, at: number, count: number, out: Float64Array): boolean {
  let pos = at;
  const varint = (): number => {
    let r = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= page.length || shift > 49) return Number.NaN;
      const b = page[pos++] as number;
      r += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return r;
    }
  };
  const zigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);
  const blockSize = varint();
  const miniblocks = varint();
  varint();
  let value = zigzag(varint());
  const perMiniblock = blockSize / miniblocks;
  if (!Number.isSafeInteger(value) || !Number.isInteger(perMiniblock) || perMiniblock % 8 !== 0) return false;
  let n = 0;
  out[n++] = value;
  while (n < count) {
    const minDelta = zigzag(varint());
    if (!Number.isSafeInteger(minDelta)) return false;
    const widths = pos;
    pos += miniblocks;
    for (let m = 0; m < miniblocks && n < count; m++) {
      const width = page[widths + m] as number;
      if (width > 52 || pos + (perMiniblock * width) / 8 > page.length) return false;
      let bit = pos * 8;
      for (let j = 0; j < perMiniblock && n < count; j++) {
        let residual = 0;
        for (let got = 0; got < width; ) {
          const off = bit & 7;
          const take = Math.min(8 - off, width - got);
          residual += (((page[bit >>> 3] as number) >>> off) & ((1 << take) - 1)) * 2 ** got;
          got += take;
          bit += take;
        }
        value += minDelta + residual;
        if (!Number.isSafeInteger(value)) return false;
        out[n++] = value;
      }
      pos += (perMiniblock * width) / 8;
    }
  }
  return true;
}

/** Plain numbers (or bigints) read in place from a page: no copy, nothing made but the value. */
class PlainNumbers implements Values {
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
class PlainBits implements Values {
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
class Bits implements Values {
  readonly #a: Uint8Array;

  constructor(a: Uint8Array) {
    this.#a = a;
  }

  get(i: number): boolean {
    return this.#a[i] === 1;
  }
}

/** A text dictionary's values, each decoded once. */
class Memo implements Values {
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
class Indexed implements Values {
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

/**
 * The buffers a column chunk decodes its pages into, used again for the
 * next page: a decoded page is good until the chunk decodes another (a
 * merge decodes tens of thousands of pages; a buffer each would be garbage
 * the collector sees late, as it is outside the JS heap).
 */
/** A buffer's new length for `n`: an eighth more, as a chunk's pages differ a little in size. */
const grown = (n: number) => n + (n >> 3);

class Scratch {
  #bytes = new Uint8Array(0);
  #u8 = new Uint8Array(0);
  readonly #i32: Int32Array[] = [new Int32Array(0), new Int32Array(0), new Int32Array(0), new Int32Array(0)];
  #f64 = new Float64Array(0);

  bytes(n: number): Uint8Array {
    if (this.#bytes.length < n) this.#bytes = new Uint8Array(grown(n));
    return this.#bytes.subarray(0, n);
  }

  u8(n: number): Uint8Array {
    if (this.#u8.length < n) this.#u8 = new Uint8Array(grown(n));
    return this.#u8.subarray(0, n);
  }

  /** Int32 buffer `k` (0: starts, 1: ends, 2: null slots, 3: indexes and 32-bit values). */
  i32(k: 0 | 1 | 2 | 3, n: number): Int32Array {
    let a = this.#i32[k] as Int32Array;
    if (a.length < n) {
      a = new Int32Array(grown(n));
      this.#i32[k] = a;
    }
    return a.subarray(0, n);
  }

  f64(n: number): Float64Array {
    if (this.#f64.length < n) this.#f64 = new Float64Array(grown(n));
    return this.#f64.subarray(0, n);
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

/** A page of internal keys: row `firstRow + i` is bytes `starts[i]` to `ends[i]` of `buf`. */
export interface KeyPage {
  firstRow: number;
  rows: number;
  buf: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
}

/** What a chunk's values are. */
export interface ChunkSpec {
  /** The column's name (for messages). */
  name: string;
  /** The data file's path (for messages). */
  path: string;
  type: ParquetType;
  typeLength: number | undefined;
  codec: CompressionCodec;
  /** 0 (required) or 1 (optional): flat columns only. */
  maxDefinitionLevel: number;
  /** Byte values decoded as UTF-8 text. */
  text: boolean;
  /** Rows of the row group. */
  rows: number;
}

/**
 * One column chunk of a row group: its pages (located by the offset index,
 * or found when the chunk is read whole), the bytes of those read, its
 * dictionary, and the page last decoded. Rows are read through
 * {@link ColumnChunk.get}, which decodes the page holding them (it must have
 * been read: see {@link ColumnChunk.missing}).
 */
export class ColumnChunk {
  readonly spec: ChunkSpec;
  /** First and last byte of the chunk (its dictionary page included). */
  readonly start: number;
  readonly end: number;
  /** Where the dictionary page lies, when the metadata says (else found with the pages). */
  readonly #dictAt: number | undefined;
  #pages: PageLocation[] | undefined;
  readonly #bytes = new Map<number, Uint8Array>();
  #dictBytes: Uint8Array | undefined;
  #dict: { values: Values; size: number } | undefined;
  #dictRead = false;
  #last: DecodedPage | undefined;
  #lastAt = -1;
  readonly #scratch = new Scratch();
  /** Rows of the pages whose bytes are here. */
  rowsHeld = 0;

  constructor(spec: ChunkSpec, m: ColumnMetaData, fileSize: number, pages: PageLocation[] | undefined) {
    this.spec = spec;
    const dict = m.dictionary_page_offset;
    const start = Number(dict || m.data_page_offset);
    const end = start + Number(m.total_compressed_size);
    if (!(start >= 4 && end <= fileSize)) {
      throw this.#corrupt(`lies outside the file (${start}-${end})`);
    }
    this.start = start;
    this.end = end;
    this.#dictAt = dict ? start : undefined;
    if (pages) {
      let next = 0;
      for (const p of pages) {
        if (p.firstRow !== next || p.rows <= 0 || p.offset < start || p.offset + p.size > end) {
          throw this.#corrupt("its offset index does not match the chunk");
        }
        next += p.rows;
      }
      if (next !== spec.rows)
        throw this.#corrupt(`its offset index holds ${next} rows, the group ${spec.rows}`);
      this.#pages = pages;
    }
  }

  #corrupt(why: string): TidemarkError {
    return new TidemarkError("Corrupt", `${this.spec.path}: column ${this.spec.name} ${why}`, {
      key: this.spec.path,
    });
  }

  /** The pages, once known. */
  get pages(): readonly PageLocation[] | undefined {
    return this.#pages;
  }

  /**
   * Byte ranges still to read for rows `from` to `to` (exclusive): the
   * pages holding them and the dictionary page; the whole chunk when its
   * pages are not known yet.
   */
  missing(from: number, to: number): Array<[number, number]> {
    const pages = this.#pages;
    if (!pages) return this.#bytes.size > 0 ? [] : [[this.start, this.end]];
    const out: Array<[number, number]> = [];
    if (this.#dictAt !== undefined && !this.#dictBytes) {
      const first = pages[0];
      out.push([this.#dictAt, first ? first.offset : this.end]);
    }
    let i = this.pageOf(from);
    for (; i < pages.length; i++) {
      const p = pages[i] as PageLocation;
      if (p.firstRow >= to) break;
      if (this.#bytes.has(i)) continue;
      const last = out[out.length - 1];
      if (last && last[1] === p.offset) last[1] = p.offset + p.size;
      else out.push([p.offset, p.offset + p.size]);
    }
    return out;
  }

  /** Takes read bytes: `bytes` are the file's bytes from `offset` (a range {@link ColumnChunk.missing} gave). */
  add(offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length;
    if (!this.#pages) {
      if (offset !== this.start || end !== this.end)
        throw new TidemarkError("Unknown", "a partial chunk read");
      this.#walk(bytes);
      return;
    }
    if (this.#dictAt !== undefined && offset <= this.#dictAt && !this.#dictBytes) {
      const first = this.#pages[0];
      const dictEnd = first ? first.offset : this.end;
      if (end >= dictEnd) this.#dictBytes = bytes.subarray(this.#dictAt - offset, dictEnd - offset);
    }
    // Pages entirely inside the range.
    for (let i = 0; i < this.#pages.length; i++) {
      const p = this.#pages[i] as PageLocation;
      if (p.offset >= offset && p.offset + p.size <= end && !this.#bytes.has(i)) {
        this.#bytes.set(i, bytes.subarray(p.offset - offset, p.offset - offset + p.size));
        this.rowsHeld += p.rows;
      }
    }
  }

  /** Finds the pages of a chunk read whole, walking their headers. */
  #walk(chunk: Uint8Array): void {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const reader = { view, offset: 0 };
    const pages: PageLocation[] = [];
    let row = 0;
    while (reader.offset < chunk.length) {
      const at = reader.offset;
      let header: PageHeader;
      try {
        header = parquetHeader(reader);
      } catch (e) {
        throw this.#corrupt(
          `has a page header that does not decode at byte ${this.start + at}: ${(e as Error).message}`,
        );
      }
      const size = reader.offset - at + header.compressed_page_size;
      if (!(header.compressed_page_size >= 0) || at + size > chunk.length) {
        throw this.#corrupt(`has a page past its end (at byte ${this.start + at})`);
      }
      reader.offset = at + size;
      if (header.type === "DICTIONARY_PAGE") {
        if (this.#dictBytes || pages.length > 0) throw this.#corrupt("has a second dictionary page");
        this.#dictBytes = chunk.subarray(at, at + size);
      } else if (header.type === "DATA_PAGE" || header.type === "DATA_PAGE_V2") {
        const rows =
          header.type === "DATA_PAGE"
            ? (header.data_page_header?.num_values ?? -1)
            : (header.data_page_header_v2?.num_rows ?? -1);
        if (!(rows > 0)) throw this.#corrupt(`has a data page of ${rows} rows`);
        this.#bytes.set(pages.length, chunk.subarray(at, at + size));
        pages.push({ offset: this.start + at, size, firstRow: row, rows });
        row += rows;
      }
    }
    if (row !== this.spec.rows) throw this.#corrupt(`holds ${row} rows, its row group ${this.spec.rows}`);
    this.#pages = pages;
    this.rowsHeld = row;
  }

  /** Index of the page holding row `row` (binary search; the last page for a row past the end). */
  pageOf(row: number): number {
    const pages = this.#pages;
    if (!pages || pages.length === 0) return 0;
    let lo = 0;
    let hi = pages.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((pages[mid] as PageLocation).firstRow <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Whether the bytes of the page holding `row` are here. */
  has(row: number): boolean {
    return this.#pages !== undefined && this.#bytes.has(this.pageOf(row));
  }

  /** The value of row `row` (`null` for a null). */
  get(row: number): unknown {
    const last = this.#last;
    if (last && row >= last.firstRow && row < last.firstRow + last.rows) return last.get(row);
    return this.page(this.pageOf(row)).get(row);
  }

  /** Page `i`, decoded (the last one decoded is kept). */
  page(i: number): DecodedPage {
    if (this.#lastAt === i && this.#last) return this.#last;
    const loc = this.#pages?.[i];
    const bytes = this.#bytes.get(i);
    if (!loc || !bytes)
      throw new TidemarkError(
        "Unknown",
        `${this.spec.path}: column ${this.spec.name} page ${i} read before its bytes`,
      );
    const page = this.#decode(loc, bytes);
    this.#last = page;
    this.#lastAt = i;
    return page;
  }

  /** Page `i` of an internal-key column: its values as ranges of bytes (never null). */
  keyPage(i: number): KeyPage {
    const page = this.page(i);
    if (page.slots) throw this.#corrupt("holds a null");
    const v = page.values;
    let ranges: ByteRanges;
    if (v instanceof ByteRanges) ranges = v;
    else {
      const out: Uint8Array[] = new Array(page.rows);
      for (let r = 0; r < page.rows; r++) {
        const x = v.get(r);
        if (!(x instanceof Uint8Array)) throw this.#corrupt("holds a value that is not bytes");
        out[r] = x;
      }
      ranges = ByteRanges.pack(out);
    }
    return {
      firstRow: page.firstRow,
      rows: page.rows,
      buf: ranges.buf,
      starts: ranges.starts,
      ends: ranges.ends,
    };
  }

  #dictionary(): { values: Values; size: number } | undefined {
    if (this.#dictRead) return this.#dict;
    this.#dictRead = true;
    const bytes = this.#dictBytes;
    if (!bytes) return undefined;
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    try {
      const header = parquetHeader(reader);
      const n = header.dictionary_page_header?.num_values ?? -1;
      if (header.type !== "DICTIONARY_PAGE" || n < 0) throw new Error("not a dictionary page");
      const data = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
      const page = decompressPage(data, header.uncompressed_page_size, this.spec.codec, undefined);
      const values = this.#plain(page, 0, n, false);
      // Text is decoded once per entry; other values are made when read: kept, a dictionary of
      // views would outlive the young generation, and V8 grows it for what survives.
      this.#dict = { values: this.spec.text ? new Memo(values, n) : values, size: n };
    } catch (e) {
      if (e instanceof TidemarkError) throw e;
      throw this.#corrupt(`has a dictionary that does not decode: ${(e as Error).message}`);
    }
    return this.#dict;
  }

  #decode(loc: PageLocation, bytes: Uint8Array): DecodedPage {
    const { spec } = this;
    try {
      const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
      const header = parquetHeader(reader);
      const data = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
      let page: Uint8Array;
      let at = 0;
      let n: number;
      let encoding: string;
      let defs: Uint8Array | undefined;
      if (header.type === "DATA_PAGE") {
        const h = header.data_page_header;
        if (!h) throw new Error("no data page header");
        n = h.num_values;
        encoding = h.encoding;
        page = this.#decompress(data, header.uncompressed_page_size);
        if (spec.maxDefinitionLevel > 0) {
          defs = this.#scratch.u8(n);
          const r = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
          readRleBitPackedHybrid(r, 1, defs);
          at = r.offset;
        }
      } else if (header.type === "DATA_PAGE_V2") {
        const h = header.data_page_header_v2;
        if (!h) throw new Error("no data page header");
        n = h.num_values;
        encoding = h.encoding;
        const levels = h.repetition_levels_byte_length + h.definition_levels_byte_length;
        if (spec.maxDefinitionLevel > 0) {
          defs = this.#scratch.u8(n);
          const r = {
            view: new DataView(data.buffer, data.byteOffset, data.byteLength),
            offset: h.repetition_levels_byte_length,
          };
          readRleBitPackedHybrid(r, 1, defs, h.definition_levels_byte_length);
        }
        const rest = data.subarray(levels);
        page =
          h.is_compressed === false ? rest : this.#decompress(rest, header.uncompressed_page_size - levels);
      } else throw new Error(`a ${header.type} page where a data page was expected`);
      if (n !== loc.rows) throw new Error(`${n} values on a page of ${loc.rows} rows`);
      let slots: Int32Array | undefined;
      let count = n;
      if (defs) {
        let nulls = 0;
        for (let i = 0; i < n; i++) if (defs[i] !== 1) nulls++;
        if (nulls > 0) {
          slots = this.#scratch.i32(2, n);
          let k = 0;
          for (let i = 0; i < n; i++) slots[i] = defs[i] === 1 ? k++ : -1;
          count = k;
        }
      }
      return new DecodedPage(loc.firstRow, n, this.#values(page, at, count, encoding), slots);
    } catch (e) {
      if (e instanceof TidemarkError) throw e;
      throw this.#corrupt(
        `has a page (rows ${loc.firstRow}-${loc.firstRow + loc.rows - 1}) that does not decode: ${(e as Error).message}`,
      );
    }
  }

  /** The `count` values of a page's data from byte `at`, by its encoding. */
  #values(page: Uint8Array, at: number, count: number, encoding: string): Values {
    const { type } = this.spec;
    const reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: at };
    switch (encoding) {
      case "PLAIN":
        return this.#plain(page, at, count, true);
      case "PLAIN_DICTIONARY":
      case "RLE_DICTIONARY": {
        const dict = this.#dictionary();
        if (!dict) throw new Error("dictionary-encoded values without a dictionary");
        const indexes = this.#scratch.i32(3, count);
        const width = page[at] as number;
        reader.offset++;
        if (width > 0 && count > 0)
          readRleBitPackedHybrid(reader, width, indexes, page.length - reader.offset);
        else indexes.fill(0);
        return new Indexed(indexes, dict.values, dict.size, () =>
          this.#corrupt("has a dictionary index past its dictionary"),
        );
      }
      case "RLE": {
        if (type !== "BOOLEAN") throw new Error(`RLE values of type ${type}`);
        const bits = this.#scratch.u8(count);
        if (count > 0) readRleBitPackedHybrid(reader, 1, bits);
        return new Bits(bits);
      }
      case "DELTA_BINARY_PACKED": {
        if (type !== "INT32" && type !== "INT64")
          throw new Error(`DELTA_BINARY_PACKED values of type ${type}`);
        if (type === "INT64") {
          // As numbers when they are within 2^53 (no bigint per step), else hyparquet's bigints.
          const numbers = this.#scratch.f64(count);
          if (count === 0 || deltaAsNumbers(page, at, count, numbers)) return new Int64Numbers(numbers);
        }
        const out = type === "INT32" ? this.#scratch.i32(3, count) : new BigInt64Array(count);
        if (count > 0) deltaBinaryUnpack(reader, count, out);
        return new Plain(out);
      }
      case "BYTE_STREAM_SPLIT":
        if (type === "DOUBLE" || type === "FLOAT") {
          // The bytes of each value gathered from their streams into the chunk's buffer, read in place.
          const width = type === "DOUBLE" ? 8 : 4;
          if (at + width * count > page.length) throw new Error("values past the page");
          const f64 = this.#scratch.f64(Math.ceil((width * count) / 8));
          const out = new Uint8Array(f64.buffer, f64.byteOffset, width * count);
          for (let b = 0; b < width; b++) {
            const from = at + b * count;
            for (let i = 0; i < count; i++) out[i * width + b] = page[from + i] as number;
          }
          return new PlainNumbers(out, 0, type);
        }
        return this.#bytesOrPlain(byteStreamSplit(reader, count, type, this.spec.typeLength));
      case "DELTA_LENGTH_BYTE_ARRAY":
      case "DELTA_BYTE_ARRAY": {
        const out: Uint8Array[] = new Array(count);
        if (count > 0) {
          if (encoding === "DELTA_BYTE_ARRAY") deltaByteArray(reader, count, out);
          else deltaLengthByteArray(reader, count, out);
        }
        return this.#bytesOrPlain(out);
      }
      default:
        throw new Error(`unsupported encoding ${encoding}`);
    }
  }

  /** Byte values from an array of them (as text when the column is), other values as they are. */
  #bytesOrPlain(a: DecodedArray): Values {
    if (this.spec.type === "BYTE_ARRAY" || this.spec.type === "FIXED_LEN_BYTE_ARRAY") {
      return this.#texts(ByteRanges.pack(a as Uint8Array[]));
    }
    return new Plain(a);
  }

  #texts(b: ByteRanges): Values {
    if (!this.spec.text) return b;
    return new Texts(b, () => this.#corrupt("holds text that is not UTF-8"));
  }

  /**
   * Decompresses page data into the chunk's page buffer (Snappy, as
   * merutable writes; other codecs through hyparquet).
   */
  #decompress(data: Uint8Array, size: number): Uint8Array {
    const codec = this.spec.codec;
    if (codec === "UNCOMPRESSED") {
      if (data.length !== size) throw new Error(`${data.length} bytes of an uncompressed page of ${size}`);
      return data;
    }
    if (codec !== "SNAPPY") return decompressPage(data, size, codec, undefined);
    const out = this.#scratch.bytes(size);
    snappyUncompress(data, out);
    return out;
  }

  /**
   * `count` plain values from byte `at` of `page`; `reused` when the page
   * is the chunk's page buffer (a dictionary's is not).
   */
  #plain(page: Uint8Array, at: number, count: number, reused: boolean): Values {
    const { type, typeLength } = this.spec;
    const scratch = reused ? this.#scratch : undefined;
    if (type === "BYTE_ARRAY") {
      const starts = scratch ? scratch.i32(0, count) : new Int32Array(count);
      const ends = scratch ? scratch.i32(1, count) : new Int32Array(count);
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      let p = at;
      for (let i = 0; i < count; i++) {
        if (p + 4 > page.length) throw new Error("byte array values past the page");
        const len = view.getUint32(p, true);
        p += 4;
        starts[i] = p;
        p += len;
        if (p > page.length) throw new Error("byte array values past the page");
        ends[i] = p;
      }
      return this.#texts(new ByteRanges(page, starts, ends, reused));
    }
    if (type === "FIXED_LEN_BYTE_ARRAY") {
      const len = typeLength ?? 0;
      if (!(len > 0)) throw new Error("a fixed-length column without a length");
      if (at + len * count > page.length) throw new Error("fixed-length values past the page");
      const starts = scratch ? scratch.i32(0, count) : new Int32Array(count);
      const ends = scratch ? scratch.i32(1, count) : new Int32Array(count);
      for (let i = 0; i < count; i++) {
        starts[i] = at + i * len;
        ends[i] = at + (i + 1) * len;
      }
      return new ByteRanges(page, starts, ends, reused);
    }
    const width =
      type === "BOOLEAN" ? 1 / 8 : type === "INT32" || type === "FLOAT" ? 4 : type === "INT96" ? 12 : 8;
    if (at + Math.ceil(width * count) > page.length) throw new Error("values past the page");
    if (type === "BOOLEAN") return new PlainBits(page, at);
    if (type === "INT96" || !reused) {
      // A dictionary's values are read once each (Memo); INT96 is no type merutable writes.
      const reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: at };
      return new Plain(readPlain(reader, type, count, typeLength));
    }
    return new PlainNumbers(page, at, type);
  }
}
