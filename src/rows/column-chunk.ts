/**
 * The column chunks of a Parquet row group, read a page at a time. A
 * chunk's pages are located by its offset index when the file has one
 * (merutable's writer, parquet-rs, writes page indexes), else by walking
 * the page headers of the chunk read whole; only the pages holding the rows
 * asked for are read, and a page is decoded when a row of it is read, so a
 * row group held by a merge costs its compressed bytes and one decoded page
 * per column, not its decoded values.
 *
 * What a page's bytes mean is `page-decoder.ts`'s (hyparquet's pieces,
 * byte values as ranges of the page: `page-values.ts`); this module knows
 * where the pages lie, which are here, and which was decoded last.
 *
 * @module
 */
import type { ColumnMetaData, PageHeader } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { TidemarkError } from "../errors.ts";
import { type ChunkSpec, corruptChunk, PageDecoder } from "./page-decoder.ts";
import { ByteRanges, type DecodedPage } from "./page-values.ts";

/** A data page of a chunk: where it lies in the file (its header included) and its rows. */
export interface PageLocation {
  offset: number;
  /** Bytes of header and data. */
  size: number;
  /** Row of the group its first row is. */
  firstRow: number;
  rows: number;
}

/** A column of a row group, read by row (a {@link ColumnChunk}, or what a test puts in its place). */
export interface ColumnData {
  /** The value at row `i` of the group (`null` for a null). */
  get(i: number): unknown;
}

/** A page of internal keys: row `firstRow + i` is bytes `starts[i]` to `ends[i]` of `buf`. */
export interface KeyPage {
  firstRow: number;
  rows: number;
  buf: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
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
  readonly #decoder: PageDecoder;
  #last: DecodedPage | undefined;
  #lastAt = -1;
  /** Rows of the pages whose bytes are here. */
  rowsHeld = 0;

  constructor(spec: ChunkSpec, m: ColumnMetaData, fileSize: number, pages: PageLocation[] | undefined) {
    this.spec = spec;
    this.#decoder = new PageDecoder(spec, () => this.#dictBytes);
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
    return corruptChunk(this.spec, why);
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
    const page = this.#decoder.decode(loc.firstRow, loc.rows, bytes);
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
}
