/**
 * A merutable table's logical rows, read merutable's way in every runtime:
 * the live files of a version, rows their deletion vectors mark dropped,
 * per user key the row with the highest sequence number, a key whose
 * winning row is a delete absent
 * (https://github.com/salesforce-misc/merutable/blob/41101e3/crates/merutable/src/engine/read_path.rs).
 * Rows come in primary-key order, streamed; row-level history between two
 * versions reads the files that differ and, of the others, only the pages
 * (row groups, without a page index) that may hold those keys.
 *
 * One {@link TableRows} per table keeps what it read that stays true (file
 * footers, page indexes, deletion vectors, manifests: `table-files.ts`), so
 * the next page of rows, or the next diff, does not read them again; and
 * where the last read of rows stopped, so that the next page (`after` its
 * last key) goes on from there with the pages the first one read. A row's
 * values are decoded and checked by `row-decoder.ts`; the merge that finds
 * the rows is `merge.ts`.
 *
 * @module
 */
import type { TableSchema } from "../catalog/schema.ts";
import { openTable, type TableReader } from "../catalog/table.ts";
import { TidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import type { ObjectStore } from "../store/types.ts";
import type { Cursor, MergeBounds, Reading } from "./cursor.ts";
import { type DataFile, DEFAULT_FOOTER_BYTES, type GroupReader } from "./data-file.ts";
import type { DataFileEntry } from "./data-file-entry.ts";
import type { DeletionVector } from "./deletion-vector.ts";
import { encodeUserKey, equalBytes, type KeyValue, keyColumns, OP_PUT, TAG_BYTES } from "./ikey.ts";
import { isKeyOf, KeyCopy, sameUserKey } from "./key-bytes.ts";
import { type KeyGroup, type MergeEntry, type RowVerdict, seqOf, verdicts, winner } from "./key-group.ts";
import { Merge, mergeKeyGroups } from "./merge.ts";
import { copyOut } from "./page-values.ts";
import { type RangeSource, storeRangeSource } from "./range-file.ts";
import { RowDecoder } from "./row-decoder.ts";
import { type ReadStats, TableFiles, type VersionView } from "./table-files.ts";
import { sameValue, type Value } from "./values.ts";

/** Options of {@link TableRows}. */
export interface TableRowsOptions {
  /** Bytes of the first read of each file's tail: its footer, a small file whole (default 64 KiB). */
  footerBytes?: number;
  /**
   * Where a file's bytes come from (default: ranged `get`s on the table's
   * store). A browser passes reads of signed URLs here.
   */
  source?: (path: string, size: number) => RangeSource;
}

/** Progress of a read. */
export interface RowsProgress {
  /** Physical rows read so far (row groups decoded). */
  rowsRead: number;
  /** Physical rows of the files that may hold rows in the range. */
  rowsTotal: number;
  requests: number;
  bytesRead: number;
}

/** A range of keys: each a key or a prefix of a composite key, as values of the key columns. */
export interface KeyRange {
  /** Keys at or after this one. */
  from?: readonly KeyValue[];
  /** Keys before this one (exclusive, as merutable's range scan). */
  to?: readonly KeyValue[];
  /** Keys after this encoded key (exclusive): the next page after a row's `userKey`. */
  after?: Uint8Array;
}

/** Options of {@link TableRows.rows}. */
export interface ReadRowsOptions extends KeyRange {
  /** The version (default HEAD). */
  version?: number;
  /** At most this many rows. */
  limit?: number;
  onProgress?: (p: RowsProgress) => void;
}

/** One row of the table. */
export interface TableRow {
  /** The encoded primary key (merutable's user key): the order of rows, and `after` for the next page. */
  userKey: Uint8Array;
  /** The user columns, in schema order. */
  values: Value[];
}

/** The rows of a version. */
export interface RowsResult {
  version: number;
  schema: TableSchema;
  /** Column names, in schema order. */
  columns: string[];
  rows: AsyncIterable<TableRow>;
}

/** One key that differs between two versions. */
export interface RowChange {
  op: "insert" | "update" | "delete";
  userKey: Uint8Array;
  /** The key's values, in key-column order. */
  key: Value[];
  /** The row at the first version (`null` for an insert). */
  before: Value[] | null;
  /** The row at the second version (`null` for a delete). */
  after: Value[] | null;
  /** Indexes of the columns whose values differ (an update's). */
  changed: number[];
}

/** Options of {@link TableRows.diff}. */
export interface DiffRowsOptions extends KeyRange {
  limit?: number;
  onProgress?: (p: RowsProgress) => void;
}

/** The row-level history between two versions. */
export interface DiffResult {
  from: number;
  to: number;
  /** The schema rows are decoded with: the second version's. */
  schema: TableSchema;
  columns: string[];
  changes: AsyncIterable<RowChange>;
}

/** A row of a data file and what the table makes of it (see `verdicts` in key-group.ts). */
export interface ClassifiedRow {
  path: string;
  /** File-global row position. */
  position: number;
  verdict: RowVerdict;
  userKey: Uint8Array;
  seq: bigint;
  op: number;
}

/** A read of rows that stopped after a page: its merge, to go on with the next page. */
interface Paused {
  version: number;
  /** The last key it returned. */
  after: Uint8Array;
  to: Uint8Array | undefined;
  merge: Merge;
}

function sameBound(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : equalBytes(a, b);
}

/**
 * Reads the logical rows of the merutable table on a store (either layout,
 * see `openTable`). See the module notes.
 */
export class TableRows {
  readonly table: TableReader;
  /** What stays true once read: versions, footers, page indexes, deletion vectors. */
  readonly #files: TableFiles;
  readonly #decoder = new RowDecoder();
  /** Where the last read of rows stopped: the next page after its last key goes on from there. */
  #paused: Paused | undefined;

  constructor(table: TableReader, opts: TableRowsOptions = {}) {
    this.table = table;
    const footerBytes = numberOption("footerBytes", opts.footerBytes, DEFAULT_FOOTER_BYTES, {
      min: 8,
      max: 64 * 1024 * 1024,
    });
    const source = opts.source ?? ((path, size) => storeRangeSource(table.store, path, size));
    this.#files = new TableFiles(table, footerBytes, source);
  }

  /** Requests and bytes read so far (every file and deletion vector). */
  stats(): ReadStats {
    return this.#files.stats();
  }

  /**
   * Version `version` (default HEAD): its manifest, schema and live files.
   *
   * @throws TidemarkError `NotFound` for an empty table or a missing
   *   version; `NotSupported` when the manifest carries no
   *   `merutable.schema.json` (its rows cannot be decoded); `Corrupt` for a
   *   bad schema or deletion-vector coordinates.
   */
  version(version?: number): Promise<VersionView> {
    return this.#files.version(version);
  }

  /** The data file `entry` (its footer read at most once per table). */
  dataFile(entry: DataFileEntry): DataFile {
    return this.#files.dataFile(entry);
  }

  /** The deletion vector of `entry`, read at most once; `undefined` when it has none. */
  deletionVector(entry: DataFileEntry): Promise<DeletionVector | undefined> {
    return this.#files.deletionVector(entry);
  }

  /** The user values of the row `e`, checked (see {@link RowDecoder.values}). */
  #values(e: MergeEntry, schema: TableSchema, userKey: Uint8Array): Value[] {
    return this.#decoder.values(e.group, e.row, schema, userKey, 0, userKey.length);
  }

  #bounds(schema: TableSchema, range: KeyRange): MergeBounds {
    const b: MergeBounds = {};
    if (range.from !== undefined) b.from = encodeUserKey(range.from, schema);
    if (range.to !== undefined) b.to = encodeUserKey(range.to, schema);
    if (range.after !== undefined) b.after = range.after;
    return b;
  }

  #progress(files: DataFileEntry[], onProgress: ((p: RowsProgress) => void) | undefined) {
    if (!onProgress) return undefined;
    const rowsTotal = files.reduce((n, f) => n + f.numRows, 0);
    return (rowsRead: number) => onProgress({ rowsRead, rowsTotal, ...this.stats() });
  }

  /**
   * The rows of a version, in primary-key order (see {@link ReadRowsOptions}).
   * Manifest and schema are read before it returns; rows as they are
   * iterated (stopping the iteration stops the reads).
   *
   * @throws TidemarkError as {@link TableRows.version}; `InvalidArgument`
   *   for a key that does not fit the key columns or a bad limit; while
   *   iterating, `Corrupt` for a file that is not what the manifest says (not
   *   Parquet, another row count, rows out of order, a bad internal key, a
   *   key column that disagrees with the internal key, a bad deletion
   *   vector); the store's errors.
   */
  async rows(opts: ReadRowsOptions = {}): Promise<RowsResult> {
    const limit = numberOption("limit", opts.limit, Number.POSITIVE_INFINITY, { min: 0 });
    const view = await this.version(opts.version);
    const { schema } = view;
    const bounds = this.#bounds(schema, opts);
    const sources = await this.#files.sources(view);
    const onRows = this.#progress(view.files, opts.onProgress);
    const columns = schema.columns.map((c) => c.name);
    // A read that may stop early reads a few pages at a time, not whole row groups.
    const reading: Reading = Number.isFinite(limit) ? "pages" : "groups";
    const self = this;
    async function* rows(): AsyncGenerator<TableRow> {
      if (limit === 0) return;
      const after = bounds.after;
      const paused = self.#paused;
      let merge: Merge;
      if (
        paused &&
        after &&
        !bounds.from &&
        paused.version === view.version &&
        equalBytes(paused.after, after) &&
        sameBound(paused.to, bounds.to)
      ) {
        merge = paused.merge;
        self.#paused = undefined;
      } else merge = new Merge(sources, { columns, bounds, reading });
      let n = 0;
      let last: Uint8Array | undefined;
      let failed = false;
      // The key group the merge is in (its first row's key, kept: pages are decoded over), and whether its winner was taken.
      const group = new KeyCopy();
      let decided = false;
      try {
        for (;;) {
          let top = merge.top;
          if (top && !top.loaded) {
            top = await merge.settle();
            onRows?.(merge.visited);
          }
          if (!top) break;
          const op = top.op;
          if (group.length === 0 || !sameUserKey(top.kbuf, top.ks, top.ke, group.buf, 0, group.length)) {
            group.set(top.kbuf, top.ks, top.ke);
            // The key a page ended at is not read again.
            decided = after !== undefined && isKeyOf(top.kbuf, top.ks, top.ke, after);
          }
          let row: TableRow | undefined;
          if (!decided && !top.hidden(0)) {
            decided = true;
            if (op === OP_PUT) row = self.#winnerRow(top, schema);
          }
          top.advance();
          merge.fix();
          if (row) {
            last = row.userKey;
            yield row;
            if (++n >= limit) return;
          }
        }
        onRows?.(merge.visited);
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        if (last && !failed) self.#paused = { version: view.version, after: last, to: bounds.to, merge };
      }
    }
    return { version: view.version, schema, columns, rows: rows() };
  }

  /** The row of the key whose winner is the cursor's current row. */
  #winnerRow(c: Cursor, schema: TableSchema): TableRow {
    const g = c.group as GroupReader;
    const end = c.ke - TAG_BYTES;
    return {
      userKey: copyOut(c.kbuf, c.ks, end),
      values: this.#decoder.values(g, c.row, schema, c.kbuf, c.ks, end),
    };
  }

  /**
   * The keys that differ between versions `a` and `b` (either order), in
   * key order, with their rows before and after; a key re-put with the same
   * values is no change. Reads the files live in one version and not the
   * other (or with another deletion vector) whole, and of the files live in
   * both only the row groups that hold those keys.
   *
   * @throws TidemarkError as {@link TableRows.rows}; `NotSupported` when the
   *   two versions' primary keys differ.
   */
  async diff(a: number, b: number, opts: DiffRowsOptions = {}): Promise<DiffResult> {
    const limit = numberOption("limit", opts.limit, Number.POSITIVE_INFINITY, { min: 0 });
    const [va, vb] = await Promise.all([this.version(a), this.version(b)]);
    const schema = vb.schema;
    const keyShape = (s: TableSchema) => JSON.stringify(keyColumns(s).map((c) => [c.name, c.type]));
    if (keyShape(va.schema) !== keyShape(schema)) {
      throw new TidemarkError("NotSupported", `versions ${a} and ${b} have different primary keys`);
    }
    const { dense, sparse } = await this.#files.diffSources(va.files, vb.files);
    const bounds = this.#bounds(schema, opts);
    const onRows = this.#progress(
      dense.map((s) => s.file.entry),
      opts.onProgress,
    );
    const columns = schema.columns.map((c) => c.name);
    const self = this;
    async function* changes(): AsyncGenerator<RowChange> {
      if (limit === 0) return;
      let n = 0;
      const batch = Math.min(512, limit);
      const reading: Reading = Number.isFinite(limit) ? "pages" : "groups";
      const merge = mergeKeyGroups(dense, {
        columns,
        bounds,
        sparse,
        batch,
        // A page of changes seeks only its own keys.
        ...(Number.isFinite(limit) ? { lookahead: batch } : {}),
        reading,
        ...(onRows ? { onRows } : {}),
      });
      for await (const groups of merge) {
        for (const g of groups) {
          const c = self.#change(g, schema);
          if (!c) continue;
          yield c;
          if (++n >= limit) return;
        }
      }
    }
    return { from: a, to: b, schema, columns, changes: changes() };
  }

  #change(g: KeyGroup, schema: TableSchema): RowChange | undefined {
    const wa = winner(g, 0);
    const wb = winner(g, 1);
    if (wa === wb) return undefined;
    const before = wa?.op === OP_PUT ? this.#values(wa, schema, g.userKey) : null;
    const after = wb?.op === OP_PUT ? this.#values(wb, schema, g.userKey) : null;
    const row = after ?? before;
    if (!row) return undefined;
    const key = schema.primary_key.map((i) => row[i] ?? null);
    if (!before) return { op: "insert", userKey: g.userKey, key, before, after, changed: [] };
    if (!after) return { op: "delete", userKey: g.userKey, key, before, after, changed: [] };
    const changed: number[] = [];
    before.forEach((v, i) => {
      if (!sameValue(v, after[i] ?? null)) changed.push(i);
    });
    if (changed.length === 0) return undefined;
    return { op: "update", userKey: g.userKey, key, before, after, changed };
  }

  /**
   * Every row of a version's files within the range, in key order, with
   * what the table makes of it: `kept` (the key's row), `shadowed` (a
   * newer row of its key decides), `tombstone` (the delete that makes its
   * key absent), `dv` (its file's deletion vector marks it). Reads only
   * `_merutable_ikey`. What an Iceberg view needs for its position deletes:
   * the positions that are not `kept`.
   *
   * @throws TidemarkError as {@link TableRows.rows}.
   */
  async classify(opts: { version?: number } & KeyRange = {}): Promise<{
    version: number;
    schema: TableSchema;
    rows: AsyncIterable<ClassifiedRow>;
  }> {
    const view = await this.version(opts.version);
    const bounds = this.#bounds(view.schema, opts);
    const sources = await this.#files.sources(view);
    async function* rows(): AsyncGenerator<ClassifiedRow> {
      for await (const batch of mergeKeyGroups(sources, { columns: [], bounds })) {
        for (const g of batch) {
          for (const [e, verdict] of verdicts(g, 0)) {
            yield {
              path: e.source.file.path,
              position: e.position,
              verdict,
              userKey: g.userKey,
              seq: seqOf(e),
              op: e.op,
            };
          }
        }
      }
    }
    return { version: view.version, schema: view.schema, rows: rows() };
  }

  /**
   * The rows whose verdict (see {@link TableRows.classify}) differs between
   * version `a` and version `b`, in key order: a row of a file live only in
   * `b` (or with another deletion vector there) has no `before`; a row of a
   * file live only in `a`, no `after`. Reads what {@link TableRows.diff}
   * reads, and only `_merutable_ikey`: the files that differ whole, of the
   * others the row groups holding their keys. What an Iceberg view needs to
   * carry its position deletes from `a` to `b`.
   *
   * @throws TidemarkError as {@link TableRows.diff}.
   */
  async reclassify(a: number, b: number): Promise<AsyncIterable<ReclassifiedRow>> {
    const [va, vb] = await Promise.all([this.version(a), this.version(b)]);
    const { dense, sparse } = await this.#files.diffSources(va.files, vb.files);
    async function* rows(): AsyncGenerator<ReclassifiedRow> {
      for await (const batch of mergeKeyGroups(dense, { columns: [], sparse })) {
        for (const g of batch) {
          const byRow = new Map<string, ReclassifiedRow>();
          for (const side of [0, 1] as const) {
            for (const [e, verdict] of verdicts(g, side)) {
              const id = `${e.source.file.path}\u0000${e.position}`;
              let r = byRow.get(id);
              if (!r) {
                r = { path: e.source.file.path, position: e.position };
                byRow.set(id, r);
              }
              if (side === 0) r.before = verdict;
              else r.after = verdict;
            }
          }
          for (const r of byRow.values()) if (r.before !== r.after) yield r;
        }
      }
    }
    return rows();
  }
}

/** A row whose verdict differs between two versions (see {@link TableRows.reclassify}). */
export interface ReclassifiedRow {
  path: string;
  /** File-global row position. */
  position: number;
  /** Its verdict in the first version; absent when its file is not live there. */
  before?: RowVerdict;
  /** Its verdict in the second version; absent when its file is not live there. */
  after?: RowVerdict;
}

/** Options of {@link readRows}. */
export interface ReadRowsAtOptions extends ReadRowsOptions, TableRowsOptions {}

/**
 * The logical rows of the merutable table on `store` (either layout), at
 * version `opts.version` (default HEAD), in primary-key order, streamed.
 * See {@link TableRows.rows}; for several reads of one table (pages, diffs),
 * keep one `TableRows` (`new TableRows(await openTable(store))`).
 *
 * @throws TidemarkError as {@link TableRows.rows} and `openTable`.
 */
export async function readRows(
  store: ObjectStore | TableReader,
  opts: ReadRowsAtOptions = {},
): Promise<RowsResult> {
  return (await tableRowsOf(store, opts)).rows(opts);
}

/**
 * The row-level history of the merutable table on `store` between versions
 * `a` and `b`: every key inserted, updated or deleted, in key order. See
 * {@link TableRows.diff}.
 *
 * @throws TidemarkError as {@link TableRows.diff} and `openTable`.
 */
export async function diffRows(
  store: ObjectStore | TableReader,
  a: number,
  b: number,
  opts: DiffRowsOptions & TableRowsOptions = {},
): Promise<DiffResult> {
  return (await tableRowsOf(store, opts)).diff(a, b, opts);
}

async function tableRowsOf(store: ObjectStore | TableReader, opts: TableRowsOptions): Promise<TableRows> {
  const table = "manifestKey" in store ? store : await openTable(store);
  const o: TableRowsOptions = {};
  if (opts.footerBytes !== undefined) o.footerBytes = opts.footerBytes;
  if (opts.source !== undefined) o.source = opts.source;
  return new TableRows(table, o);
}
