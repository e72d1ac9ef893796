/**
 * One data file of a merutable table, read through a {@link RangeFile}:
 * its footer (parsed once, kept) and its row groups (only the columns asked
 * for: the internal key and user columns; never `_merutable_value`); and
 * deletion vectors ({@link readDeletionVector}). Each row group costs one request (its column chunks are
 * contiguous, merged); the footer one, or none when the first read of the
 * file's tail holds it with the data.
 *
 * It also gives the per-file facts a deep verification needs: the footer,
 * the row groups' key and position ranges, the key and sequence ranges
 * (statistics of `_merutable_ikey` and `_merutable_seq`), the deletion
 * vector and its bounds.
 *
 * @module
 */
import type {
  ColumnChunk,
  ColumnMetaData,
  DecodedArray,
  FileMetaData,
  SchemaElement,
  SchemaTree,
} from "hyparquet";
import { readColumn } from "hyparquet/src/column.js";
import { DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { parquetMetadataAsync, parquetSchema } from "hyparquet/src/metadata.js";
import { getTreePath, isFlatColumn } from "hyparquet/src/schema.js";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { DataFileRef } from "../manifest/gen/manifest_pb.ts";
import { type DeletionVector, decodeDeletionVector } from "./deletion-vector.ts";
import { compareBytes } from "./ikey.ts";
import { MERGE_GAP, type RangeFile } from "./range-file.ts";

/** The internal-key column every merutable data file has. */
export const IKEY_COLUMN = "_merutable_ikey";
/** The sequence-number column. */
export const SEQ_COLUMN = "_merutable_seq";
/** The op column (0 delete, 1 put). */
export const OP_COLUMN = "_merutable_op";
/** The postcard row blob (level-0 "dual" files); never read here. */
export const VALUE_COLUMN = "_merutable_value";

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
  /** Key-value metadata of the footer. */
  kv: Record<string, string>;
  createdBy: string;
  /** hyparquet's parse of the footer (for deep verification). */
  metadata: FileMetaData;
}

/** A decoded column of a row group. */
export interface ColumnData {
  readonly length: number;
  /** The value at row `i` (`null` for a null). */
  get(i: number): unknown;
}

/**
 * Byte values packed into one buffer with offsets: hyparquet gives one
 * `Uint8Array` view per value, about 70 bytes of heap each; a row group
 * held for the length of a merge keeps 20 per value instead.
 */
export class PackedBytes implements ColumnData {
  readonly length: number;
  readonly #data: Uint8Array;
  /** Value i is bytes `offsets[i]` to `offsets[i + 1]`; a null has offset -1 at i. */
  readonly #offsets: Int32Array;

  constructor(values: ArrayLike<unknown>) {
    this.length = values.length;
    let total = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v instanceof Uint8Array) total += v.length;
    }
    this.#data = new Uint8Array(total);
    this.#offsets = new Int32Array(values.length + 1);
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v instanceof Uint8Array) {
        this.#offsets[i] = at;
        this.#data.set(v, at);
        at += v.length;
      } else this.#offsets[i] = -1;
    }
    this.#offsets[values.length] = at;
  }

  get(i: number): Uint8Array | null {
    const start = this.#offsets[i] as number;
    if (start < 0) return null;
    let end = this.#offsets[i + 1] as number;
    // The next value's start, skipping nulls.
    for (let j = i + 2; end < 0; j++) end = this.#offsets[j] as number;
    return this.#data.subarray(start, end);
  }
}

/** Any other decoded column (typed arrays, booleans): read as it is. */
class PlainColumn implements ColumnData {
  readonly length: number;
  readonly #values: ArrayLike<unknown>;

  constructor(values: ArrayLike<unknown>) {
    this.#values = values;
    this.length = values.length;
  }

  get(i: number): unknown {
    return this.#values[i] ?? null;
  }
}

/** The decoded columns of one row group. */
export interface GroupData {
  index: number;
  firstPosition: number;
  numRows: number;
  ikeys: PackedBytes;
  /** Decoded user columns by name (those asked for). */
  columns: Map<string, ColumnData>;
}

function asBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}

function asBigint(v: unknown): bigint | undefined {
  return typeof v === "bigint" ? v : typeof v === "number" ? BigInt(v) : undefined;
}

/** A data file and its deletion vector, read on demand. */
export class DataFile {
  readonly entry: DataFileEntry;
  readonly file: RangeFile;
  readonly #footerBytes: number;
  #footer: Promise<FileFooter> | undefined;
  /** Row groups read so far. */
  groupsRead = 0;
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

  /**
   * The footer, parsed once.
   *
   * @throws TidemarkError `Corrupt` when the file is not Parquet, its footer
   *   does not parse, it has no `_merutable_ikey` binary column, or its row
   *   count is not the manifest's; the store's errors.
   */
  footer(): Promise<FileFooter> {
    if (!this.#footer) {
      const p = this.#readFooter();
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
    try {
      metadata = await parquetMetadataAsync(this.file, {
        initialFetchSize: this.#footerBytes,
        parsers: PARSERS,
        geoparquet: false,
      });
    } catch (e) {
      if (isTidemarkError(e)) throw e;
      throw this.#corrupt(`cannot decode the Parquet footer: ${(e as Error).message}`, e);
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
    return footer;
  }

  /**
   * Reads row group `index`: `_merutable_ikey` and the user columns named
   * (those the file has), in one request (their chunks merged).
   *
   * @throws TidemarkError `Corrupt` when a chunk does not decode or holds a
   *   different number of values than the group has rows.
   */
  async readGroup(index: number, columns: readonly string[]): Promise<GroupData> {
    const footer = await this.footer();
    const g = footer.metadata.row_groups[index];
    const info = footer.rowGroups[index];
    if (!g || !info) throw new TidemarkError("InvalidArgument", `${this.path} has no row group ${index}`);
    const wanted = new Set([IKEY_COLUMN, ...columns]);
    const chunks = g.columns.filter((c) => wanted.has(c.meta_data?.path_in_schema[0] ?? ""));
    const ranges = chunks.map((c) => this.#chunkRange(c));
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (const [a, b] of ranges) {
      lo = Math.min(lo, a);
      hi = Math.max(hi, b);
    }
    // One request per row group: the wanted chunks are read as spans that take in the gaps between
    // them (`_merutable_seq`, `_merutable_op`) unless a gap is a large part of what is wanted (the
    // value blob of a level-0 file, about as large as the user columns: a second request then).
    const wantedBytes = ranges.reduce((n, [a, b]) => n + (b - a), 0);
    const gap = Math.max(MERGE_GAP, wantedBytes / 4);
    const order = ranges.map((r, i) => ({ r, i })).sort((x, y) => x.r[0] - y.r[0]);
    const spans: Array<{ start: number; end: number; members: number[] }> = [];
    for (const { r, i } of order) {
      const last = spans[spans.length - 1];
      if (last && r[0] - last.end <= gap) {
        last.end = Math.max(last.end, r[1]);
        last.members.push(i);
      } else spans.push({ start: r[0], end: r[1], members: [i] });
    }
    const read = await Promise.all(spans.map((sp) => this.file.slice(sp.start, sp.end)));
    const buffers: ArrayBuffer[] = [];
    spans.forEach((sp, k) => {
      for (const i of sp.members) {
        const [a, b] = ranges[i] as [number, number];
        buffers[i] = (read[k] as ArrayBuffer).slice(a - sp.start, b - sp.start);
      }
    });
    this.groupsRead++;
    this.file.release(lo, hi);
    const decoded = new Map<string, ColumnData>();
    let ikeys: PackedBytes | undefined;
    chunks.forEach((c, i) => {
      const name = c.meta_data?.path_in_schema[0] as string;
      const values = this.#decode(c, buffers[i] as ArrayBuffer, info.numRows);
      const bytes = c.meta_data?.type === "BYTE_ARRAY" || c.meta_data?.type === "FIXED_LEN_BYTE_ARRAY";
      const column = bytes ? new PackedBytes(values) : new PlainColumn(values);
      if (name === IKEY_COLUMN) ikeys = column as PackedBytes;
      else decoded.set(name, column);
    });
    if (!ikeys) throw this.#corrupt(`row group ${index}: no ${IKEY_COLUMN} chunk`);
    for (let i = 0; i < ikeys.length; i++) {
      if (ikeys.get(i) === null) throw this.#corrupt(`row group ${index}: a null ${IKEY_COLUMN}`);
    }
    return { index, firstPosition: info.firstPosition, numRows: info.numRows, ikeys, columns: decoded };
  }

  #chunkRange(c: ColumnChunk): [number, number] {
    const m = c.meta_data;
    if (!m) throw this.#corrupt("a column chunk without metadata");
    const start = Number(m.dictionary_page_offset || m.data_page_offset);
    const end = start + Number(m.total_compressed_size);
    if (!(start >= 4 && end <= this.entry.size)) {
      throw this.#corrupt(`column ${m.path_in_schema.join(".")} lies outside the file (${start}-${end})`);
    }
    return [start, end];
  }

  #decode(c: ColumnChunk, buffer: ArrayBuffer, rows: number): ArrayLike<unknown> {
    const m = c.meta_data!;
    const name = m.path_in_schema.join(".");
    try {
      const decoder = flatColumnDecoder(this.#tree as SchemaTree, m, PARSERS);
      if (!decoder) throw new Error("a nested column");
      const reader = { view: new DataView(buffer), offset: 0 };
      const select = { groupStart: 0, selectStart: 0, selectEnd: rows, groupRows: rows };
      const parts = readColumn(reader, select, decoder).data as DecodedArray[];
      const out = parts.length === 1 ? (parts[0] as DecodedArray) : concat(parts);
      if (out.length !== rows) throw new Error(`${out.length} values for ${rows} rows`);
      return out;
    } catch (e) {
      if (isTidemarkError(e)) throw e;
      throw this.#corrupt(`cannot decode column ${name}: ${(e as Error).message}`, e);
    }
  }
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

/** The pages of a column chunk as one array: typed arrays stay typed (a JS array of bigints is ten times larger). */
function concat(parts: DecodedArray[]): ArrayLike<unknown> {
  const first = parts[0];
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (ArrayBuffer.isView(first) && parts.every((p) => p.constructor === first.constructor)) {
    const Typed = first.constructor as new (n: number) => { set(a: ArrayLike<unknown>, at: number): void };
    const out = new Typed(total);
    let at = 0;
    for (const p of parts) {
      out.set(p as ArrayLike<unknown>, at);
      at += p.length;
    }
    return out as unknown as ArrayLike<unknown>;
  }
  const out: unknown[] = new Array(total);
  let at = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) out[at++] = p[i];
  return out;
}

/**
 * Index of the first row of `ikeys` from `from` on whose internal key is
 * at least `bound` (a user key or an internal key): binary search.
 */
export function lowerBound(ikeys: PackedBytes, bound: Uint8Array, from = 0): number {
  let lo = from;
  let hi = ikeys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(ikeys.get(mid) as Uint8Array, bound) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
