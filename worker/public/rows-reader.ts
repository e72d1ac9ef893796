/**
 * How the inspector reads a table's logical rows and row-level history: the
 * library's `TableRows` (merutable's read: per key the newest row, deletes
 * applied) with every data file read by HTTP Range requests from a URL the
 * page gives (a signed URL of the worker, or the object's URL in a bucket),
 * a page of rows or of changes at a time, and what each page cost. No DOM:
 * the page runs it, and bench/rows.ts runs the same code against a bucket
 * server that counts the requests.
 *
 * @module
 */
import type { TableSchema } from "../../src/catalog/schema.ts";
import type { TableReader } from "../../src/catalog/table.ts";
import type { KeyValue } from "../../src/rows/ikey.ts";
import type { ReadStats } from "../../src/rows/table-files.ts";
import { type RowChange, type TableRow, TableRows } from "../../src/rows/table-rows.ts";
import { httpRangeSource } from "./parquet-preview.ts";

/** Rows (or changes) a page shows. */
export const PAGE_ROWS = 100;

/** The rows of `table`, each data file read over HTTP from `url(key)`. */
export function httpTableRows(table: TableReader, url: (key: string) => Promise<string>): TableRows {
  return new TableRows(table, {
    source: (key, size) => httpRangeSource({ key, size, url: () => url(key) }),
  });
}

/** What reading one page took. */
export interface PageCost {
  /** HTTP range requests (data files and deletion vectors). */
  requests: number;
  bytesRead: number;
  /** Footers read (a file's first read; later pages reuse them). */
  footers: number;
  /** Of the requests, those for footers and page indexes. */
  footerRequests: number;
  /** Row groups read from (all of one or some of its pages). */
  rowGroups: number;
}

/** A page of a version's rows. */
export interface RowsPage {
  version: number;
  schema: TableSchema;
  rows: TableRow[];
  cost: PageCost;
}

/** A page of the changes between two versions. */
export interface ChangesPage {
  from: number;
  to: number;
  schema: TableSchema;
  changes: RowChange[];
  cost: PageCost;
}

function costOf(before: ReadStats, after: ReadStats): PageCost {
  return {
    requests: after.requests - before.requests,
    bytesRead: after.bytesRead - before.bytesRead,
    footers: after.footers - before.footers,
    footerRequests: after.footerRequests - before.footerRequests,
    rowGroups: after.rowGroups - before.rowGroups,
  };
}

/**
 * Pages of one `TableRows`, one read at a time, so each page's cost is its
 * own (the counts are the reader's, and two reads at once would mix them).
 * A read whose `alive()` turns false stops at its next row; its page is
 * then incomplete and not for showing.
 */
export class PageReader {
  readonly rows: TableRows;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(rows: TableRows) {
    this.rows = rows;
  }

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job, job);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Up to `limit` rows of `version` in key order: from key `from` (inclusive), or after the encoded key `after`. */
  rowsPage(
    opts: { version: number; from?: KeyValue[]; after?: Uint8Array; limit?: number },
    alive: () => boolean = () => true,
  ): Promise<RowsPage> {
    return this.#serial(async () => {
      const before = this.rows.stats();
      const r = await this.rows.rows({
        version: opts.version,
        limit: opts.limit ?? PAGE_ROWS,
        ...(opts.from ? { from: opts.from } : {}),
        ...(opts.after ? { after: opts.after } : {}),
      });
      const rows: TableRow[] = [];
      for await (const row of r.rows) {
        if (!alive()) break;
        rows.push(row);
      }
      return { version: r.version, schema: r.schema, rows, cost: costOf(before, this.rows.stats()) };
    });
  }

  /** Up to `limit` changes from version `a` to `b` in key order, after the encoded key `after`. */
  changesPage(
    a: number,
    b: number,
    opts: { after?: Uint8Array; limit?: number } = {},
    alive: () => boolean = () => true,
  ): Promise<ChangesPage> {
    return this.#serial(async () => {
      const before = this.rows.stats();
      const d = await this.rows.diff(a, b, {
        limit: opts.limit ?? PAGE_ROWS,
        ...(opts.after ? { after: opts.after } : {}),
      });
      const changes: RowChange[] = [];
      for await (const c of d.changes) {
        if (!alive()) break;
        changes.push(c);
      }
      return { from: a, to: b, schema: d.schema, changes, cost: costOf(before, this.rows.stats()) };
    });
  }
}
