/**
 * One data file of a merutable table, read through a {@link RangeFile}: its
 * footer (parsed once, kept), its page index (the offset index of every
 * column and the column index of `_merutable_ikey`, when the file has them:
 * merutable's writer emits them), its row groups ({@link GroupReader}: only
 * the columns asked for, the internal key and user columns, never
 * `_merutable_value`; all of a group or, through the page index, the pages
 * holding some rows). What the manifest says of the file is
 * `data-file-entry.ts`'s; how the footer's bytes are read, `parquet-footer.ts`'s;
 * its deletion vector, `deletion-vector.ts`'s.
 *
 * Requests: the footer one (its tail read; a small file's rows come with
 * it), two when the footer is longer than that read (merutable's carries a
 * bloom filter: about 2.5 bytes a row); that second read reaches back far
 * enough to hold the page index as well, else the page index is one more
 * request when first needed. A row group, or the part of it a read wants,
 * is one request when its wanted column chunks lie together, more when
 * what lies between is a large part of it.
 *
 * It also gives the per-file facts a deep verification needs: the footer,
 * the row groups' key and position ranges, the key and sequence ranges
 * (statistics of `_merutable_ikey` and `_merutable_seq`).
 *
 * @module
 */
import type { ColumnMetaData, FileMetaData, SchemaElement, SchemaTree } from "hyparquet";
import { DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { readColumnIndex, readOffsetIndex } from "hyparquet/src/indexes.js";
import { parquetMetadata, parquetSchema } from "hyparquet/src/metadata.js";
import { getMaxDefinitionLevel, getTreePath, isFlatColumn } from "hyparquet/src/schema.js";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { ColumnChunk, type PageLocation } from "./column-chunk.ts";
import { type DataFileEntry, IKEY_COLUMN, SEQ_COLUMN } from "./data-file-entry.ts";
import { compareBytes } from "./ikey.ts";
import { compareRange } from "./key-bytes.ts";
import type { ChunkSpec } from "./page-decoder.ts";
import { type FooterBytes, pageIndexRange, readFooterBytes, SKIPPED_VALUE } from "./parquet-footer.ts";
import type { RangeFile } from "./range-file.ts";
import { isTextColumn } from "./values.ts";

/**
 * Wanted parts of a row group are read together across gaps up to this
 * size, or a quarter of what is wanted when more: a request costs about as
 * much as that many bytes, and a page of rows wants a few pages of 8 to
 * 32 KiB from each column.
 */
export const READ_GAP = 16 * 1024;

/** Bytes of the first read of a file's tail (its footer; a small file whole). */
export const DEFAULT_FOOTER_BYTES = 64 * 1024;

/** Bytes kept as bytes: hyparquet would decode text columns and byte statistics as strings. */
const PARSERS = { ...DEFAULT_PARSERS, stringFromBytes: (b: Uint8Array) => b } as typeof DEFAULT_PARSERS;

/** One row group, from the footer. */
export interface RowGroupInfo {
  index: number;
  numRows: number;
  /** File-global position of its first row. */
  firstPosition: number;
  /** Bounds of its internal keys from the statistics (a bound, maybe inexact); absent without statistics. */
  minIkey?: Uint8Array;
  maxIkey?: Uint8Array;
}

/** What a file's footer says. */
export interface FileFooter {
  numRows: number;
  rowGroups: RowGroupInfo[];
  /** Leaf columns by name: their schema element. */
  columns: Map<string, SchemaElement>;
  /** `_merutable_seq` range from the statistics, when there are any. */
  seqMin?: bigint;
  seqMax?: bigint;
  /** Key-value metadata of the footer, but for values of 4 KiB or more (merutable's bloom filter). */
  kv: Record<string, string>;
  createdBy: string;
  /** hyparquet's parse of the footer (for deep verification; key-value metadata as `kv`). */
  metadata: FileMetaData;
}

/** What a file's page index says of one row group (absent parts: the file has none). */
export interface GroupPageIndex {
  /** Each column chunk's pages (offset index), by chunk position. */
  pages: Array<PageLocation[] | undefined>;
  /** Bounds of `_merutable_ikey` on each of its pages (column index). */
  keyMin?: Uint8Array[];
  keyMax?: Uint8Array[];
}

/** Rows `from` to `to` (exclusive) of a row group. */
export interface RowSpan {
  from: number;
  to: number;
}

/**
 * One row group of a data file as a merge reads it: `_merutable_ikey` and
 * the user columns asked for, each a {@link ColumnChunk} holding the pages
 * read so far. {@link GroupReader.load} reads, in every column, the pages
 * holding some rows (the whole group, or through the page index a part of
 * it) in as few requests as the layout allows: what is wanted is read as
 * spans that take in the gaps between (`_merutable_seq`, `_merutable_op`,
 * pages not wanted) unless a gap is a large part of what is wanted (the row
 * blob of a level-0 file, the rest of a column: another request then).
 */
export class GroupReader {
  readonly file: DataFile;
  readonly index: number;
  readonly numRows: number;
  /** File-global position of its first row. */
  readonly firstPosition: number;
  readonly ikey: ColumnChunk;
  /** The user columns asked for that the file has, by name. */
  readonly columns: Map<string, ColumnChunk>;
  readonly #chunks: ColumnChunk[];
  /** Bounds of `_merutable_ikey` on each of its pages, when the file has a column index. */
  readonly keyMin: Uint8Array[] | undefined;
  readonly keyMax: Uint8Array[] | undefined;
  #counted = false;

  constructor(
    file: DataFile,
    info: RowGroupInfo,
    ikey: ColumnChunk,
    columns: Map<string, ColumnChunk>,
    gi: GroupPageIndex | undefined,
  ) {
    this.file = file;
    this.index = info.index;
    this.numRows = info.numRows;
    this.firstPosition = info.firstPosition;
    this.ikey = ikey;
    this.columns = columns;
    this.#chunks = [ikey, ...columns.values()];
    const n = ikey.pages?.length;
    if (gi?.keyMin && gi.keyMax && gi.keyMin.length === n && gi.keyMax.length === n) {
      this.keyMin = gi.keyMin;
      this.keyMax = gi.keyMax;
    }
  }

  /** Rows whose internal keys are read (for progress). */
  get rowsRead(): number {
    return this.ikey.rowsHeld;
  }

  /** Whether every column's pages are known before its bytes are read (an offset index): a part can be read. */
  get paged(): boolean {
    return this.#chunks.every((c) => c.pages !== undefined);
  }

  /** Whether the pages holding `row` are here in every column. */
  has(row: number): boolean {
    for (const c of this.#chunks) if (!c.has(row)) return false;
    return true;
  }

  /** Reads, in every column, the pages holding rows of `spans` not read yet (in one turn). */
  async load(spans: readonly RowSpan[]): Promise<void> {
    const wanted: Array<{ chunk: ColumnChunk; start: number; end: number }> = [];
    for (const c of this.#chunks) {
      const ranges: Array<[number, number]> = [];
      for (const sp of spans) ranges.push(...c.missing(sp.from, sp.to));
      ranges.sort((a, b) => a[0] - b[0]);
      const merged: Array<[number, number]> = [];
      for (const r of ranges) {
        const last = merged[merged.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
        else merged.push([r[0], r[1]]);
      }
      for (const [start, end] of merged) wanted.push({ chunk: c, start, end });
    }
    if (wanted.length === 0) return;
    const wantedBytes = wanted.reduce((n, w) => n + (w.end - w.start), 0);
    const gap = Math.max(READ_GAP, wantedBytes / 4);
    wanted.sort((a, b) => a.start - b.start);
    const reads: Array<{ start: number; end: number; members: typeof wanted }> = [];
    for (const w of wanted) {
      const last = reads[reads.length - 1];
      if (last && w.start - last.end <= gap) {
        last.end = Math.max(last.end, w.end);
        last.members.push(w);
      } else reads.push({ start: w.start, end: w.end, members: [w] });
    }
    const got = await Promise.all(reads.map((r) => this.file.file.read(r.start, r.end)));
    reads.forEach((r, k) => {
      const bytes = got[k] as Uint8Array;
      for (const w of r.members) w.chunk.add(w.start, bytes.subarray(w.start - r.start, w.end - r.start));
    });
    if (!this.#counted) {
      this.#counted = true;
      this.file.groupsRead++;
    }
  }

  /**
   * The rows that may hold internal keys from `low` (inclusive) to `high`
   * (exclusive, or with `inclusive` inclusive): whole `_merutable_ikey`
   * pages by its column index; the whole group without one.
   */
  spanOfKeys(low: Uint8Array | undefined, high: Uint8Array | undefined, inclusive = false): RowSpan {
    const pages = this.ikey.pages;
    const { keyMin, keyMax } = this;
    if (!pages || !keyMin || !keyMax) return { from: 0, to: this.numRows };
    let first = 0;
    if (low) while (first < pages.length && compareBytes(keyMax[first] as Uint8Array, low) < 0) first++;
    let last = pages.length;
    const past = inclusive ? 0 : -1;
    if (high) while (last > first && compareBytes(keyMin[last - 1] as Uint8Array, high) > past) last--;
    if (first >= last) return { from: this.numRows, to: this.numRows };
    const a = pages[first] as PageLocation;
    const b = pages[last - 1] as PageLocation;
    return { from: a.firstRow, to: b.firstRow + b.rows };
  }

  /** The first row of `span` whose internal key is at least `bound` (its pages read); `span.to` when none is. */
  firstAtLeast(span: RowSpan, bound: Uint8Array): number {
    let row = span.from;
    while (row < span.to) {
      const kp = this.ikey.keyPage(this.ikey.pageOf(row));
      const end = Math.min(kp.rows, span.to - kp.firstRow);
      let lo = row - kp.firstRow;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (
          compareRange(kp.buf, kp.starts[mid] as number, kp.ends[mid] as number, bound, 0, bound.length) < 0
        )
          lo = mid + 1;
        else hi = mid;
      }
      row = kp.firstRow + lo;
      if (lo < end) return row;
    }
    return span.to;
  }

  /** Rows from `row` to the end of the `count`-th `_merutable_ikey` page from the one holding it; the rest of the group without an offset index. */
  spanOfPages(row: number, count: number): RowSpan {
    const pages = this.ikey.pages;
    if (!pages) return { from: row, to: this.numRows };
    const i = this.ikey.pageOf(row);
    const last = pages[Math.min(pages.length, i + count) - 1] as PageLocation;
    return { from: row, to: last.firstRow + last.rows };
  }
}

/** A data file and its deletion vector, read on demand. */
export class DataFile {
  readonly entry: DataFileEntry;
  readonly file: RangeFile;
  readonly #footerBytes: number;
  #footer: Promise<FileFooter> | undefined;
  #pageIndex: Promise<GroupPageIndex[] | undefined> | undefined;
  /** The byte range of the page indexes, when every chunk has an offset index. */
  #pageIndexRange: [number, number] | undefined;
  /** Row groups read so far. */
  groupsRead = 0;
  /** Requests made for the footer and the page index (the rest of the file's requests read rows). */
  metaRequests = 0;
  /** The footer once parsed (for synchronous use after {@link DataFile.footer}). */
  loadedFooter: FileFooter | undefined;
  #tree?: SchemaTree;

  constructor(entry: DataFileEntry, file: RangeFile, footerBytes = DEFAULT_FOOTER_BYTES) {
    this.entry = entry;
    this.file = file;
    this.#footerBytes = footerBytes;
  }

  get path(): string {
    return this.entry.path;
  }

  #corrupt(why: string, cause?: unknown): TidemarkError {
    return new TidemarkError("Corrupt", `${this.path}: ${why}`, {
      key: this.path,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /** Runs a read of metadata, counting the requests made meanwhile as its own. */
  async #counting<T>(read: () => Promise<T>): Promise<T> {
    const before = this.file.requests;
    try {
      return await read();
    } finally {
      this.metaRequests += this.file.requests - before;
    }
  }

  /**
   * The footer, parsed once (and the page index, when the bytes read for
   * the footer hold it).
   *
   * @throws TidemarkError `Corrupt` when the file is not Parquet, its footer
   *   does not parse, it has no `_merutable_ikey` binary column, or its row
   *   count is not the manifest's; the store's errors.
   */
  footer(): Promise<FileFooter> {
    if (!this.#footer) {
      const p = this.#counting(() => this.#readFooter());
      this.#footer = p;
      p.catch(() => {
        if (this.#footer === p) this.#footer = undefined;
      });
    }
    return this.#footer;
  }

  async #readFooter(): Promise<FileFooter> {
    if (this.entry.size < 12) throw this.#corrupt(`${this.entry.size} bytes is not a Parquet file`);
    let metadata: FileMetaData;
    let tail: FooterBytes;
    try {
      tail = await readFooterBytes(this.file, this.entry.size, this.#footerBytes);
      metadata = parquetMetadata(tail.bytes, { parsers: PARSERS, geoparquet: false });
    } catch (e) {
      if (isTidemarkError(e)) throw e;
      throw this.#corrupt(`cannot decode the Parquet footer: ${(e as Error).message}`, e);
    }
    // Large key-value values (merutable's bloom filter; zeros where not read) are not kept: no reader here needs them.
    if (metadata.key_value_metadata) {
      metadata.key_value_metadata = metadata.key_value_metadata.filter(
        (p, i) => !tail.skipped.includes(i) && (p.value?.length ?? 0) < SKIPPED_VALUE,
      );
    }
    const tree = parquetSchema(metadata);
    this.#tree = tree;
    const columns = new Map<string, SchemaElement>();
    for (const c of tree.children) if (c.children.length === 0) columns.set(c.element.name, c.element);
    const ikey = columns.get(IKEY_COLUMN);
    if (ikey?.type !== "BYTE_ARRAY") throw this.#corrupt(`no ${IKEY_COLUMN} binary column`);
    const numRows = Number(metadata.num_rows);
    if (numRows !== this.entry.numRows) {
      throw this.#corrupt(`${numRows} rows, its manifest entry says ${this.entry.numRows}`);
    }
    const ikeyAt = metadata.row_groups[0]?.columns.findIndex(
      (c) => c.meta_data?.path_in_schema[0] === IKEY_COLUMN,
    );
    const seqAt = metadata.row_groups[0]?.columns.findIndex(
      (c) => c.meta_data?.path_in_schema[0] === SEQ_COLUMN,
    );
    let position = 0;
    let seqMin: bigint | undefined;
    let seqMax: bigint | undefined;
    let seqKnown = metadata.row_groups.length > 0;
    const rowGroups = metadata.row_groups.map((g, index) => {
      const info: RowGroupInfo = { index, numRows: Number(g.num_rows), firstPosition: position };
      position += info.numRows;
      const stats =
        ikeyAt !== undefined && ikeyAt >= 0 ? g.columns[ikeyAt]?.meta_data?.statistics : undefined;
      const min = asBytes(stats?.min_value);
      const max = asBytes(stats?.max_value);
      if (min && max) {
        info.minIkey = min;
        info.maxIkey = max;
      }
      const s = seqAt !== undefined && seqAt >= 0 ? g.columns[seqAt]?.meta_data?.statistics : undefined;
      const lo = asBigint(s?.min_value);
      const hi = asBigint(s?.max_value);
      if (lo === undefined || hi === undefined) seqKnown = false;
      else {
        if (seqMin === undefined || lo < seqMin) seqMin = lo;
        if (seqMax === undefined || hi > seqMax) seqMax = hi;
      }
      return info;
    });
    const footer: FileFooter = {
      numRows,
      rowGroups,
      columns,
      kv: Object.fromEntries((metadata.key_value_metadata ?? []).map((p) => [p.key, p.value ?? ""])),
      createdBy: metadata.created_by ?? "",
      metadata,
    };
    if (seqKnown && seqMin !== undefined && seqMax !== undefined) {
      footer.seqMin = seqMin;
      footer.seqMax = seqMax;
    }
    this.loadedFooter = footer;
    // The page indexes: parsed now when the footer's read holds them, else read when a part of a group is wanted.
    const range = pageIndexRange(metadata);
    if (range && range[0] >= 4 && range[1] <= this.entry.size) {
      this.#pageIndexRange = range;
      if (range[0] >= tail.at) {
        const held = tail.bytes.subarray(range[0] - tail.at, range[1] - tail.at);
        this.#pageIndex = Promise.resolve(this.#parsePageIndex(held, range[0]));
      }
    }
    return footer;
  }

  /**
   * The page index of every row group (the offset index of each column,
   * the column index of `_merutable_ikey`), read once (one request, unless
   * the footer's read held it); `undefined` when the file has none.
   *
   * @throws TidemarkError `Corrupt` when it does not decode; the store's errors.
   */
  pageIndex(): Promise<GroupPageIndex[] | undefined> {
    if (!this.#pageIndex) {
      const range = this.#pageIndexRange;
      if (!range) return Promise.resolve(undefined);
      const p = this.#counting(() => this.file.read(range[0], range[1])).then((b) =>
        this.#parsePageIndex(b, range[0]),
      );
      this.#pageIndex = p;
      p.catch(() => {
        if (this.#pageIndex === p) this.#pageIndex = undefined;
      });
    }
    return this.#pageIndex;
  }

  #parsePageIndex(bytes: Uint8Array, at: number): GroupPageIndex[] {
    const footer = this.loadedFooter as FileFooter;
    const ikeyElement = footer.columns.get(IKEY_COLUMN) as SchemaElement;
    const reader = (offset: bigint | undefined, length: number) => ({
      view: new DataView(bytes.buffer, bytes.byteOffset + Number(offset) - at, length),
      offset: 0,
    });
    try {
      return footer.metadata.row_groups.map((g) => {
        const gi: GroupPageIndex = { pages: [] };
        for (const c of g.columns) {
          const locations = readOffsetIndex(
            reader(c.offset_index_offset, c.offset_index_length ?? 0),
          ).page_locations;
          gi.pages.push(
            locations.map((l, i) => {
              const next = locations[i + 1];
              const first = Number(l.first_row_index);
              return {
                offset: Number(l.offset),
                size: l.compressed_page_size,
                firstRow: first,
                rows: (next ? Number(next.first_row_index) : Number(g.num_rows)) - first,
              };
            }),
          );
          if (c.meta_data?.path_in_schema[0] === IKEY_COLUMN && c.column_index_length) {
            const index = readColumnIndex(
              reader(c.column_index_offset, c.column_index_length),
              ikeyElement,
              PARSERS,
            );
            const bytes = (xs: unknown[]) => xs.every((x) => x instanceof Uint8Array);
            if (bytes(index.min_values) && bytes(index.max_values)) {
              gi.keyMin = index.min_values;
              gi.keyMax = index.max_values;
            }
          }
        }
        return gi;
      });
    } catch (e) {
      throw this.#corrupt(`its page index does not decode: ${(e as Error).message}`, e);
    }
  }

  /**
   * A reader of row group `index` for `_merutable_ikey` and the user columns
   * named (those the file has), nothing read yet; with `paged`, it knows the
   * pages of each column (the page index, one request per file unless the
   * footer's read held it), so that it can read part of the group.
   *
   * @throws TidemarkError `Corrupt` for a nested column, a chunk outside the
   *   file, or a page index that does not match the chunks; the store's errors.
   */
  async group(index: number, columns: readonly string[], paged: boolean): Promise<GroupReader> {
    const footer = await this.footer();
    const g = footer.metadata.row_groups[index];
    const info = footer.rowGroups[index];
    if (!g || !info) throw new TidemarkError("InvalidArgument", `${this.path} has no row group ${index}`);
    const gi = paged ? (await this.pageIndex())?.[index] : undefined;
    const chunkOf = (name: string): ColumnChunk | undefined => {
      const at = g.columns.findIndex(
        (c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === name,
      );
      const m = g.columns[at]?.meta_data;
      if (!m) return undefined;
      const decoder = flatColumnDecoder(this.#tree as SchemaTree, m, PARSERS);
      const maxDefinitionLevel = decoder ? getMaxDefinitionLevel(decoder.schemaPath) : 2;
      if (!decoder || maxDefinitionLevel > 1) throw this.#corrupt(`column ${name} is nested`);
      const spec: ChunkSpec = {
        name,
        path: this.path,
        type: m.type,
        typeLength: decoder.element.type_length,
        codec: m.codec,
        maxDefinitionLevel,
        text: m.type === "BYTE_ARRAY" && name !== IKEY_COLUMN && isTextColumn(decoder.element),
        rows: info.numRows,
      };
      return new ColumnChunk(spec, m, this.entry.size, gi?.pages[at]);
    };
    const ikey = chunkOf(IKEY_COLUMN);
    if (!ikey) throw this.#corrupt(`row group ${index}: no ${IKEY_COLUMN} chunk`);
    const chunks = new Map<string, ColumnChunk>();
    for (const name of columns) {
      const c = name === IKEY_COLUMN ? undefined : chunkOf(name);
      if (c) chunks.set(name, c);
    }
    return new GroupReader(this, info, ikey, chunks, gi);
  }
}

function asBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}

function asBigint(v: unknown): bigint | undefined {
  return typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : undefined;
}

/**
 * What hyparquet's `readColumn` needs to decode a flat column chunk with
 * metadata `m` (values of byte columns kept as bytes unless `parsers` say
 * otherwise); `undefined` for a nested column (a list, a map, a struct).
 */
export function flatColumnDecoder(tree: SchemaTree, m: ColumnMetaData, parsers: typeof DEFAULT_PARSERS) {
  const schemaPath = getTreePath(tree, m.path_in_schema);
  if (!isFlatColumn(schemaPath)) return undefined;
  return {
    pathInSchema: m.path_in_schema,
    type: m.type,
    element: schemaPath[schemaPath.length - 1]!.element,
    schemaPath,
    codec: m.codec,
    parsers,
    utf8: false,
  };
}
