/**
 * One data file of a merutable table, read through a {@link RangeFile}: its
 * footer (parsed once, kept), its page index (the offset index of every
 * column and the column index of `_merutable_ikey`, when the file has them:
 * merutable's writer emits them), its row groups ({@link GroupReader}: only
 * the columns asked for, the internal key and user columns, never
 * `_merutable_value`; all of a group or, through the page index, the pages
 * holding some rows); and deletion vectors ({@link readDeletionVector}).
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
 * (statistics of `_merutable_ikey` and `_merutable_seq`), the deletion
 * vector and its bounds.
 *
 * @module
 */
import type { ColumnMetaData, FileMetaData, SchemaElement, SchemaTree } from "hyparquet";
import { DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { readColumnIndex, readOffsetIndex } from "hyparquet/src/indexes.js";
import { parquetMetadata, parquetSchema } from "hyparquet/src/metadata.js";
import { getMaxDefinitionLevel, getTreePath, isFlatColumn } from "hyparquet/src/schema.js";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { DataFileRef } from "../manifest/gen/manifest_pb.ts";
import { ColumnChunk, type PageLocation } from "./column-chunk.ts";
import { type DeletionVector, decodeDeletionVector } from "./deletion-vector.ts";
import { compareBytes } from "./ikey.ts";
import type { ChunkSpec } from "./page-decoder.ts";
import type { RangeFile } from "./range-file.ts";
import { isTextColumn } from "./values.ts";

/** The internal-key column every merutable data file has. */
export const IKEY_COLUMN = "_merutable_ikey";
/** The sequence-number column. */
export const SEQ_COLUMN = "_merutable_seq";
/** The op column (0 delete, 1 put). */
export const OP_COLUMN = "_merutable_op";
/** The postcard row blob (level-0 "dual" files); never read here. */
export const VALUE_COLUMN = "_merutable_value";

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

/** A column of a row group, read by row (see {@link ColumnChunk}). */
export interface ColumnData {
  /** The value at row `i` of the group (`null` for a null). */
  get(i: number): unknown;
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

  /**
   * The footer's bytes (with what precedes it in the bytes read): the
   * file's last `footerBytes` (kept: a small file's rows are in it), and
   * when the footer is longer, the rest of it but for the values of its
   * key-value metadata not read yet (merutable's bloom filter, 2.5 bytes a
   * row, most of its footer and of no use here), which are left zero and
   * named in `skipped`. The first read of the rest reaches back a quarter of
   * `footerBytes` before the footer, where writers put the page indexes.
   */
  async #tail(): Promise<{ at: number; bytes: Uint8Array; skipped: number[] }> {
    const size = this.entry.size;
    const tailAt = Math.max(0, size - this.#footerBytes);
    const tail = new Uint8Array(await this.file.slice(tailAt, size));
    const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    if (view.getUint32(tail.length - 4, true) !== 0x31524150) throw new Error("no PAR1 magic at its end");
    const length = view.getUint32(tail.length - 8, true);
    if (length + 8 > size) throw new Error(`a footer of ${length} bytes in a file of ${size}`);
    if (length + 8 <= tail.length) return { at: tailAt, bytes: tail, skipped: [] };
    const start = size - 8 - length;
    const held: Array<{ at: number; bytes: Uint8Array }> = [{ at: tailAt, bytes: tail }];
    let ask = this.#footerBytes;
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
      const from = round === 0 ? Math.max(0, Math.min(gaps.at, start - (this.#footerBytes >> 2))) : gaps.at;
      const next = Math.min(...held.map((h) => h.at).filter((a) => a > gaps.at));
      const to = next - from <= 2 * ask ? next : from + ask;
      ask *= 2;
      held.push({ at: from, bytes: await this.file.read(from, to) });
      held.sort((a, b) => a.at - b.at);
    }
  }

  async #readFooter(): Promise<FileFooter> {
    if (this.entry.size < 12) throw this.#corrupt(`${this.entry.size} bytes is not a Parquet file`);
    let metadata: FileMetaData;
    let tail: { at: number; bytes: Uint8Array; skipped: number[] };
    try {
      tail = await this.#tail();
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

/** Key-value metadata values of at least this size are not read when the first read of a footer lacks them. */
const SKIPPED_VALUE = 4096;

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
function pageIndexRange(metadata: FileMetaData): [number, number] | undefined {
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
