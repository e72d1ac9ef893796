/**
 * Parquet row preview for the inspector: reads a data file of a mirrored
 * table straight from the mirror with HTTP Range requests, decodes its
 * first rows with hyparquet (merutable's keys and schema as text:
 * meru.ts). Loaded when a file is first previewed, not with the page.
 *
 * Requests: the file's size comes from the manifest (no HEAD). The first
 * request reads the last 512 KiB (the whole file when smaller): the footer
 * and, for a small file, every row. Reads issued together are merged into
 * one request when at most 64 KiB apart, and nothing is read twice. A row
 * group of up to 2 MiB is read whole (its column chunks are contiguous: one
 * request, less what the first read holds); a larger one page by page
 * through its offset index when the file has one (the pages holding the
 * first rows of each column, merged as above). So a file of one row group
 * costs 1 request under 512 KiB, 2 above, 3 when the footer alone is longer
 * than 512 KiB; more only for a row group over 2 MiB whose columns' first
 * pages lie apart, or for row groups under 100 rows (the next groups are
 * read until there are 100 rows).
 *
 * The range reads (merging, caching, counting) are the table reader's
 * (src/rows/range-file.ts); this module supplies the HTTP part.
 *
 * It uses hyparquet's metadata and column decoders (the `hyparquet/src/*.js`
 * modules its exports map offers; hyparquet is pinned exactly), not its
 * query planner: 8.5 KB min+gzip instead of 17 for the page. Flat columns
 * only: a nested column (a list, a map, a struct) is listed, not previewed.
 */
import type { ColumnChunk, DecodedArray, FileMetaData, RowGroup, SchemaElement, SchemaTree } from "hyparquet";
import { readColumn } from "hyparquet/src/column.js";
import { DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { readOffsetIndex } from "hyparquet/src/indexes.js";
import { parquetMetadataAsync, parquetSchema } from "hyparquet/src/metadata.js";
import { errorCodeOf, isTidemarkError, TidemarkError } from "../../src/errors.ts";
import { flatColumnDecoder } from "../../src/rows/data-file.ts";
import { RangeFile, type RangeSource } from "../../src/rows/range-file.ts";
import { codeOfHttpStatus } from "../../src/store/wire.ts";

/** Bytes of the first (tail) read. */
export const TAIL_BYTES = 512 * 1024;
/** A row group above this is read page by page for a preview (hyparquet's one-request run). */
const ONE_REQUEST_GROUP = 2 * 1024 * 1024;
/** Rows a preview shows. */
export const PREVIEW_ROWS = 100;

/** Where a file is read from: its key (for messages) and its size from the manifest. */
export interface FileSource {
  key: string;
  size: number;
  /**
   * The URL to read: the one place that knows how (today the mirror's object
   * route or a bucket URL; later a signed URL from the worker).
   */
  url(): Promise<string>;
}

const MAGIC = "PAR1";
const NOT_PARQUET = "not a Parquet file";

/** True when `e` says the file is not Parquet at all (as opposed to a corrupt one). */
export function isNotParquet(e: unknown): boolean {
  return errorCodeOf(e) === "Corrupt" && (e as Error).message.includes(NOT_PARQUET);
}

/**
 * The file `src` over HTTP Range requests, for {@link RangeFile}. Errors are
 * `TidemarkError`s naming the key and the HTTP status, never the URL (it may
 * be signed). A server that ignores `Range` (200) sends the whole body,
 * which the RangeFile keeps.
 */
export function httpRangeSource(src: FileSource): RangeSource {
  const { key, size } = src;
  const what = `read ${JSON.stringify(key)}`;
  return {
    key,
    size,
    async read(start, end) {
      let res: Response;
      try {
        // No HTTP cache: one read is one request (the page counts them), and a signed URL is for once.
        res = await fetch(await src.url(), {
          headers: { Range: `bytes=${start}-${end - 1}` },
          cache: "no-store",
        });
      } catch {
        throw new TidemarkError("Transient", `${what}: network error`, { key });
      }
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel().catch(() => {});
        throw new TidemarkError(codeOfHttpStatus(res.status), `${what}: HTTP ${res.status}`, { key });
      }
      const body = await res.arrayBuffer();
      const total =
        res.status === 200
          ? body.byteLength
          : Number(/\/(\d+)\s*$/.exec(res.headers.get("content-range") ?? "")?.[1]);
      // A deletion vector's Puffin file has no size in the manifest: the table
      // reader asks with Number.MAX_SAFE_INTEGER, which no file has; not compared.
      if (Number.isSafeInteger(total) && total !== size && size !== Number.MAX_SAFE_INTEGER) {
        throw new TidemarkError(
          "Corrupt",
          `${what}: the mirror holds ${total} bytes, the manifest says ${size}: not the file this snapshot references`,
          { key },
        );
      }
      // The server ignored Range and sent everything.
      if (res.status === 200) return { offset: 0, bytes: body };
      if (body.byteLength !== end - start) {
        throw new TidemarkError(
          "Corrupt",
          `${what}: asked for ${end - start} bytes, got ${body.byteLength}`,
          {
            key,
          },
        );
      }
      return { offset: start, bytes: body };
    },
  };
}

/** One column of the Parquet schema, as the preview lists it. */
export interface ParquetColumn {
  name: string;
  /** Physical type, with the logical or converted type when there is one. */
  type: string;
  /** `REQUIRED`, `OPTIONAL` or `REPEATED`. */
  repetition: string;
  /** Codec and encodings of its chunk in the first row group. */
  codec: string;
  encodings: string;
  /** False for a leaf of a list, map or struct: listed, its values not read. */
  flat: boolean;
}

/** What a preview shows of a file. */
export interface Preview {
  numRows: number;
  rowGroups: number;
  /** Codecs used by the column chunks, deduplicated (e.g. `SNAPPY`). */
  compression: string[];
  createdBy: string;
  columns: ParquetColumn[];
  /** Physical type of each column by name (for formatting values). */
  types: Record<string, string>;
  /** The footer's key-value metadata (merutable puts its schema there). */
  kv: Record<string, string>;
  /** The first {@link PREVIEW_ROWS} rows. */
  rows: Array<Record<string, unknown>>;
  /** HTTP requests the preview took. */
  requests: number;
}

function typeOf(e: SchemaElement): string {
  const logical = e.logical_type?.type;
  const extra = logical ?? e.converted_type;
  const t =
    e.type === "FIXED_LEN_BYTE_ARRAY" ? `FIXED_LEN_BYTE_ARRAY(${e.type_length})` : (e.type ?? "GROUP");
  return extra ? `${t} (${extra})` : t;
}

/**
 * Reads the footer and the first rows of the Parquet file `src`.
 *
 * @throws TidemarkError `NotFound` / `PermissionDenied` / `Transient` from
 * HTTP, `Corrupt` for a file that is not Parquet ({@link isNotParquet}), a
 * corrupt one, or one whose size differs from the manifest's.
 */
export async function previewParquet(src: FileSource): Promise<Preview> {
  const file = new RangeFile(httpRangeSource(src));
  const { key, size } = src;
  // The magic first, before hyparquet: "not Parquet" and "corrupt" are different answers.
  // Both ends when the first read holds the whole file; else the end, as hyparquet
  // does (a request for 4 bytes would cost more than it tells).
  if (size < 12) throw new TidemarkError("Corrupt", `${key} is ${NOT_PARQUET} (${size} bytes)`, { key });
  const tail = new Uint8Array(await file.slice(Math.max(0, size - TAIL_BYTES), size));
  const magic = (b: Uint8Array) => String.fromCharCode(...b) === MAGIC;
  if (!magic(tail.subarray(tail.length - 4)) || (size <= TAIL_BYTES && !magic(tail.subarray(0, 4)))) {
    throw new TidemarkError("Corrupt", `${key} is ${NOT_PARQUET}: no PAR1 magic`, { key });
  }
  let metadata: FileMetaData;
  let rows: Array<Record<string, unknown>>;
  try {
    metadata = await parquetMetadataAsync(file, { initialFetchSize: TAIL_BYTES });
    rows = await firstRows(file, metadata, PREVIEW_ROWS);
  } catch (e) {
    if (isTidemarkError(e)) throw e;
    throw new TidemarkError("Corrupt", `cannot decode ${key}: ${(e as Error).message}`, { key });
  }
  const leaves = leavesOf(parquetSchema(metadata));
  const chunks = metadata.row_groups[0]?.columns ?? [];
  const columns = leaves.map((l, i) => {
    const m = chunks[i]?.meta_data;
    return {
      name: l.path.join("."),
      type: typeOf(l.element),
      repetition: l.element.repetition_type ?? "",
      codec: m?.codec ?? "",
      encodings: m?.encodings.join(", ") ?? "",
      flat: l.path.length === 1 && l.element.repetition_type !== "REPEATED",
    };
  });
  return {
    numRows: Number(metadata.num_rows),
    rowGroups: metadata.row_groups.length,
    compression: [
      ...new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec ?? "?"))),
    ],
    createdBy: metadata.created_by ?? "",
    columns,
    types: Object.fromEntries(leaves.map((l) => [l.path.join("."), l.element.type ?? ""])),
    kv: Object.fromEntries((metadata.key_value_metadata ?? []).map((p) => [p.key, p.value ?? ""])),
    rows,
    requests: file.requests,
  };
}

/** Where the first `rows` rows of a column chunk lie: the chunk, or (offset index) its first pages. */
async function firstBytes(
  file: RangeFile,
  c: ColumnChunk,
  rows: number,
  whole: boolean,
): Promise<[number, number]> {
  const m = c.meta_data;
  if (!m) throw new Error("a column chunk without metadata");
  const start = Number(m.dictionary_page_offset || m.data_page_offset);
  const end = start + Number(m.total_compressed_size);
  if (whole || c.offset_index_offset === undefined || !c.offset_index_length) return [start, end];
  const at = Number(c.offset_index_offset);
  const view = new DataView(await file.slice(at, at + c.offset_index_length));
  // Up to the first page that starts at or after row `rows` (the dictionary page comes first).
  const next = readOffsetIndex({ view, offset: 0 }).page_locations.find(
    (p) => Number(p.first_row_index) >= rows,
  );
  return [start, next ? Number(next.offset) : end];
}

/** The first `rows` rows of `group`, one array of values per column (empty for a nested column). */
async function groupRows(
  file: RangeFile,
  tree: SchemaTree,
  group: RowGroup,
  rows: number,
): Promise<unknown[][]> {
  const whole =
    group.columns.reduce((s, c) => s + Number(c.meta_data?.total_compressed_size ?? 0), 0) <=
    ONE_REQUEST_GROUP;
  // Each step's reads are issued together, so RangeFile merges them.
  const ranges = await Promise.all(group.columns.map((c) => firstBytes(file, c, rows, whole)));
  const buffers = await Promise.all(ranges.map(([a, b]) => file.slice(a, b)));
  return group.columns.map((c, i) => {
    const decoder = flatColumnDecoder(tree, c.meta_data!, DEFAULT_PARSERS);
    if (!decoder) return [];
    const reader = { view: new DataView(buffers[i]!), offset: 0 };
    const select = { groupStart: 0, selectStart: 0, selectEnd: rows, groupRows: rows };
    return readColumn(reader, select, decoder).data.flatMap((d: DecodedArray) =>
      Array.from(d as ArrayLike<unknown>),
    );
  });
}

/** The leaf columns of a schema, with their paths. */
function leavesOf(tree: SchemaTree, path: string[] = []): Array<{ path: string[]; element: SchemaElement }> {
  return tree.children.flatMap((c) =>
    c.children.length
      ? leavesOf(c, [...path, c.element.name])
      : [{ path: [...path, c.element.name], element: c.element }],
  );
}

/**
 * The first `limit` rows, row group after row group, as objects keyed by
 * column path (`a.b` for a nested leaf, whose value is `undefined`: not previewed).
 */
async function firstRows(file: RangeFile, metadata: FileMetaData, limit: number) {
  const tree = parquetSchema(metadata);
  const names = leavesOf(tree).map((l) => l.path.join("."));
  const rows: Array<Record<string, unknown>> = [];
  for (const group of metadata.row_groups) {
    const n = Math.min(limit - rows.length, Number(group.num_rows));
    if (n <= 0) break;
    const columns = await groupRows(file, tree, group, n);
    for (let r = 0; r < n; r++)
      rows.push(Object.fromEntries(names.map((name, i) => [name, columns[i]?.[r]])));
  }
  return rows;
}

/** A value in the canonical form the tests compare with pyarrow's (test/support/parquet-peer.py). */
export type RawValue = null | boolean | { i: string } | { f: number } | { b: string } | { s: string };

/** `v`, a value hyparquet read from a column of physical type `type`, in canonical form. */
export function rawValue(v: unknown, type: string): RawValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "boolean") return v;
  if (typeof v === "bigint") return { i: String(v) };
  if (typeof v === "number") return type === "INT32" || type === "INT64" ? { i: String(v) } : { f: v };
  if (v instanceof Uint8Array) return { b: Array.from(v, (x) => x.toString(16).padStart(2, "0")).join("") };
  return { s: String(v) };
}
