/**
 * How one page of a Parquet column chunk decodes: its header, its
 * decompression (Snappy into a buffer of the chunk's own, used again for
 * the next page), its definition levels, and its values by encoding, with
 * hyparquet's pieces (page headers, Snappy, RLE and bit-packed runs, delta
 * encodings, plain values of a dictionary) but not its byte-array decoding,
 * which makes one `Uint8Array` per value (see `page-values.ts`). A text
 * dictionary is decoded once per chunk. Apart from the chunk
 * (`column-chunk.ts`), which knows where pages lie and which are read; this
 * module knows only what a page's bytes mean.
 *
 * @module
 */
import type { CompressionCodec, DecodedArray, ParquetType } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { decompressPage } from "hyparquet/src/datapage.js";
import { deltaBinaryUnpack, deltaByteArray, deltaLengthByteArray } from "hyparquet/src/delta.js";
import { byteStreamSplit, readRleBitPackedHybrid } from "hyparquet/src/encoding.js";
import { readPlain } from "hyparquet/src/plain.js";
import { snappyUncompress } from "hyparquet/src/snappy.js";
import { TidemarkError } from "../errors.ts";
import {
  Bits,
  ByteRanges,
  DecodedPage,
  Indexed,
  Int64Numbers,
  Memo,
  Plain,
  PlainBits,
  PlainNumbers,
  Texts,
  type Values,
} from "./page-values.ts";

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

/** `Corrupt`: column chunk `spec` of its data file is not what it should be (`why`). */
export function corruptChunk(spec: ChunkSpec, why: string): TidemarkError {
  return new TidemarkError("Corrupt", `${spec.path}: column ${spec.name} ${why}`, { key: spec.path });
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

/** A buffer's new length for `n`: an eighth more, as a chunk's pages differ a little in size. */
const grown = (n: number) => n + (n >> 3);

/**
 * The buffers a column chunk decodes its pages into, used again for the
 * next page: a decoded page is good until the chunk decodes another (a
 * merge decodes tens of thousands of pages; a buffer each would be garbage
 * the collector sees late, as it is outside the JS heap).
 */
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

/**
 * Decodes the pages of one column chunk (`spec`) into buffers of its own:
 * a decoded page is good until the next one is decoded. The dictionary
 * page's bytes are asked of `dictionary` when a page first needs them.
 */
export class PageDecoder {
  readonly spec: ChunkSpec;
  readonly #dictBytes: () => Uint8Array | undefined;
  #dict: { values: Values; size: number } | undefined;
  #dictRead = false;
  readonly #scratch = new Scratch();

  constructor(spec: ChunkSpec, dictionary: () => Uint8Array | undefined) {
    this.spec = spec;
    this.#dictBytes = dictionary;
  }

  #corrupt(why: string): TidemarkError {
    return corruptChunk(this.spec, why);
  }

  #dictionary(): { values: Values; size: number } | undefined {
    if (this.#dictRead) return this.#dict;
    this.#dictRead = true;
    const bytes = this.#dictBytes();
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

  /**
   * The page `bytes` (header and data), rows `firstRow` to `firstRow + rows`.
   *
   * @throws TidemarkError `Corrupt` when it does not decode or holds another number of rows.
   */
  decode(firstRow: number, rows: number, bytes: Uint8Array): DecodedPage {
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
      if (n !== rows) throw new Error(`${n} values on a page of ${rows} rows`);
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
      return new DecodedPage(firstRow, n, this.#values(page, at, count, encoding), slots);
    } catch (e) {
      if (e instanceof TidemarkError) throw e;
      throw this.#corrupt(
        `has a page (rows ${firstRow}-${firstRow + rows - 1}) that does not decode: ${(e as Error).message}`,
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
