/**
 * The k-way merge of a version's data files by internal key, merutable's
 * range scan without its harvest-and-sort: rows come out in key order,
 * grouped by user key, each group's rows newest first. Memory is the row
 * groups the merge is inside (one per file at most, a file opened only when
 * the merge reaches its first key), never the table.
 *
 * A file's rows reach the merge one row group at a time. A row group whose
 * key range (statistics of `_merutable_ikey`) lies outside the bounds is
 * never read; a file whose manifest key range does is never opened. Every
 * source says on which side(s) it is live (bit 0: the version read, or
 * version A of a diff; bit 1: version B) and its deletion vector on each,
 * so one merge serves reads and diffs; classifying its rows (kept,
 * shadowed, tombstone, deletion vector) is done on the groups it yields
 * ({@link verdicts}).
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import { type DataFile, type GroupData, lowerBound, type RowGroupInfo } from "./data-file.ts";
import type { DeletionVector } from "./deletion-vector.ts";
import { compareBytes, equalBytes, OP_PUT, splitInternalKey } from "./ikey.ts";

/** A data file in a merge. */
export interface MergeSource {
  file: DataFile;
  /** Bit 0: live on side 0 (the version read; A of a diff); bit 1: on side 1 (B). */
  sides: number;
  /** Its deletion vector on each side, if any. */
  dvs: [DeletionVector | undefined, DeletionVector | undefined];
}

/** One row the merge visited. */
export interface MergeEntry {
  source: MergeSource;
  group: GroupData;
  /** Index of the row in `group`. */
  row: number;
  /** File-global row position (what deletion vectors and Iceberg position deletes name). */
  position: number;
  /** {@link OP_PUT} or a delete. */
  op: number;
  ikey: Uint8Array;
}

/** The sequence number of a row (from its internal key's tag). */
export function seqOf(e: MergeEntry): bigint {
  return splitInternalKey(e.ikey).seq;
}

/** The op of an internal key (its last byte), checked. */
function opOf(ikey: Uint8Array, path: string): number {
  const op = ikey.length >= 8 ? (ikey[ikey.length - 1] as number) : -1;
  if (op !== 0 && op !== OP_PUT) {
    throw new TidemarkError(
      "Corrupt",
      `${path}: an internal key ${ikey.length < 8 ? "shorter than its tag" : `with op ${op}`}`,
      {
        key: path,
      },
    );
  }
  return op;
}

/** The rows of one user key, newest first. */
export interface KeyGroup {
  userKey: Uint8Array;
  entries: MergeEntry[];
}

/** Bounds of a merge, as encoded user keys. */
export interface MergeBounds {
  /** Inclusive lower bound (a key or a key prefix). */
  from?: Uint8Array;
  /** Exclusive upper bound. */
  to?: Uint8Array;
  /** Exclusive lower bound: keys after it (paging). */
  after?: Uint8Array;
}

const TAG_BYTES = 8;

/** Whether `ikey`'s user key is `userKey`. */
function hasUserKey(ikey: Uint8Array, userKey: Uint8Array): boolean {
  if (ikey.length !== userKey.length + TAG_BYTES) return false;
  for (let i = 0; i < userKey.length; i++) if (ikey[i] !== userKey[i]) return false;
  return true;
}

/** The largest internal key of `userKey` (its tag all ones): an upper bound of its rows. */
function lastIkeyOf(userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(userKey.length + TAG_BYTES).fill(0xff);
  out.set(userKey);
  return out;
}

/** Whether the row at `position` is hidden on `side` by the source's deletion vector. */
export function hiddenOn(e: MergeEntry, side: 0 | 1): boolean {
  return e.source.dvs[side]?.has(e.position) ?? false;
}

/** The row that decides `group`'s key on `side`: the newest live, unmarked row; `undefined` if none. */
export function winner(group: KeyGroup, side: 0 | 1): MergeEntry | undefined {
  const bit = 1 << side;
  for (const e of group.entries) if (e.source.sides & bit && !hiddenOn(e, side)) return e;
  return undefined;
}

/** What the table makes of a row it holds: see {@link verdicts}. */
export type RowVerdict = "kept" | "shadowed" | "tombstone" | "dv";

/**
 * The verdict on each of a group's rows on `side` (rows of files not live
 * there are left out): `dv` a deletion vector marks it; `kept` it is the
 * key's row in the table; `tombstone` it is the delete that makes the key
 * absent; `shadowed` a newer row of its key (or a tombstone) decides.
 */
export function verdicts(group: KeyGroup, side: 0 | 1): Array<[MergeEntry, RowVerdict]> {
  const bit = 1 << side;
  const out: Array<[MergeEntry, RowVerdict]> = [];
  let decided = false;
  for (const e of group.entries) {
    if (!(e.source.sides & bit)) continue;
    if (hiddenOn(e, side)) out.push([e, "dv"]);
    else if (decided) out.push([e, "shadowed"]);
    else {
      decided = true;
      out.push([e, e.op === OP_PUT ? "kept" : "tombstone"]);
    }
  }
  return out;
}

/** A file's rows in order, a row group at a time. */
class Cursor {
  readonly source: MergeSource;
  readonly order: number;
  readonly #columns: readonly string[];
  readonly #low: Uint8Array | undefined;
  readonly #to: Uint8Array | undefined;
  #groups: RowGroupInfo[] | undefined;
  #next = 0;
  #data: GroupData | undefined;
  #row = 0;
  #last: Uint8Array | undefined;
  /** The current row's internal key when loaded, else a lower bound of the rows left. */
  key: Uint8Array;
  loaded = false;
  done = false;
  /** Rows of the groups read so far (for progress). */
  visited = 0;

  constructor(source: MergeSource, order: number, columns: readonly string[], bounds: MergeBounds) {
    this.source = source;
    this.order = order;
    this.#columns = columns;
    const { from, after } = bounds;
    this.#low = from && after ? (compareBytes(from, after) > 0 ? from : after) : (from ?? after);
    this.#to = bounds.to;
    const keyMin = source.file.entry.keyMin;
    this.key = this.#low && compareBytes(this.#low, keyMin) > 0 ? this.#low : keyMin;
  }

  get #path(): string {
    return this.source.file.path;
  }

  /** The row groups that may hold rows within the bounds. */
  async #plan(): Promise<RowGroupInfo[]> {
    const footer = await this.source.file.footer();
    const low = this.#low;
    const to = this.#to;
    return footer.rowGroups.filter(
      (g) =>
        !(low && g.maxIkey && compareBytes(g.maxIkey, low) < 0) &&
        !(to && g.minIkey && compareBytes(g.minIkey, to) >= 0),
    );
  }

  /** Reads what the key promised: the next row group with a row within the bounds. */
  async load(): Promise<void> {
    this.#groups ??= await this.#plan();
    for (;;) {
      const g = this.#groups[this.#next];
      if (!g) {
        this.#finish();
        return;
      }
      this.#next++;
      const data = await this.source.file.readGroup(g.index, this.#columns);
      this.visited += data.numRows;
      const row = this.#low ? lowerBound(data.ikeys, this.#low) : 0;
      if (row < data.numRows) {
        this.#data = data;
        this.#row = row;
        this.loaded = true;
        this.#setKey(data.ikeys.get(row) as Uint8Array);
        return;
      }
    }
  }

  #finish(): void {
    this.done = true;
    this.loaded = false;
    this.#data = undefined;
  }

  #setKey(ikey: Uint8Array): void {
    if (this.#last && compareBytes(ikey, this.#last) < 0) {
      throw new TidemarkError(
        "Corrupt",
        `${this.#path}: rows are not in internal-key order at row group ${this.#data?.index}, row ${this.#row}`,
        { key: this.#path },
      );
    }
    if (this.#to && compareBytes(ikey, this.#to) >= 0) {
      this.#finish();
      return;
    }
    this.#last = ikey;
    this.key = ikey;
  }

  /** The current row, then moves on (the cursor may then need a {@link Cursor.load}). */
  take(): MergeEntry {
    const data = this.#data as GroupData;
    const row = this.#row;
    const ikey = this.key;
    const entry: MergeEntry = {
      source: this.source,
      group: data,
      row,
      position: data.firstPosition + row,
      op: opOf(ikey, this.#path),
      ikey,
    };
    this.#row++;
    if (this.#row < data.numRows) this.#setKey(data.ikeys.get(this.#row) as Uint8Array);
    else {
      // Rows left are in later groups: their statistics bound them, else the last key does.
      this.#data = undefined;
      this.loaded = false;
      const g = this.#groups?.[this.#next];
      if (!g) this.#finish();
      else this.key = g.minIkey && compareBytes(g.minIkey, ikey) > 0 ? g.minIkey : ikey;
    }
    return entry;
  }

  /**
   * The rows of `userKey` (sparse reading, for a diff): moves forward to it
   * without reading row groups that cannot hold it.
   */
  async seek(userKey: Uint8Array): Promise<MergeEntry[]> {
    const { keyMin, keyMax } = this.source.file.entry;
    if (this.done) return [];
    if (keyMin.length > 0 && compareBytes(userKey, keyMin) < 0) return [];
    if (keyMax.length > 0 && compareBytes(userKey, keyMax) > 0) return [];
    this.#groups ??= (await this.source.file.footer()).rowGroups;
    const last = lastIkeyOf(userKey);
    const out: MergeEntry[] = [];
    for (;;) {
      if (!this.loaded) {
        // Skip groups that end before the key; stop at one that starts after it.
        let g = this.#groups[this.#next];
        while (g?.maxIkey && compareBytes(g.maxIkey, userKey) < 0) g = this.#groups[++this.#next];
        if (!g) {
          this.#finish();
          return out;
        }
        if (g.minIkey && compareBytes(g.minIkey, last) > 0) return out;
        this.#next++;
        const data = await this.source.file.readGroup(g.index, this.#columns);
        this.visited += data.numRows;
        this.#data = data;
        this.#row = 0;
        this.loaded = true;
      }
      const data = this.#data as GroupData;
      this.#row = lowerBound(data.ikeys, userKey, this.#row);
      while (this.#row < data.numRows && hasUserKey(data.ikeys.get(this.#row) as Uint8Array, userKey)) {
        const ikey = data.ikeys.get(this.#row) as Uint8Array;
        out.push({
          source: this.source,
          group: data,
          row: this.#row,
          position: data.firstPosition + this.#row,
          op: opOf(ikey, this.#path),
          ikey,
        });
        this.#row++;
      }
      if (this.#row < data.numRows) return out;
      // The key may go on in the next group.
      this.#data = undefined;
      this.loaded = false;
    }
  }
}

/** A binary min-heap of cursors by key (then by source order). */
class CursorHeap {
  readonly items: Cursor[] = [];

  static #less(a: Cursor, b: Cursor): boolean {
    const c = compareBytes(a.key, b.key);
    return c < 0 || (c === 0 && a.order < b.order);
  }

  push(c: Cursor): void {
    const h = this.items;
    h.push(c);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!CursorHeap.#less(h[i] as Cursor, h[p] as Cursor)) break;
      [h[i], h[p]] = [h[p] as Cursor, h[i] as Cursor];
      i = p;
    }
  }

  peek(): Cursor | undefined {
    return this.items[0];
  }

  /** Restores the heap after the top's key grew, or removes the top when it is done. */
  fixTop(): void {
    const h = this.items;
    const top = h[0];
    if (!top) return;
    if (top.done) {
      const last = h.pop() as Cursor;
      if (h.length === 0) return;
      h[0] = last;
    }
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && CursorHeap.#less(h[l] as Cursor, h[m] as Cursor)) m = l;
      if (r < h.length && CursorHeap.#less(h[r] as Cursor, h[m] as Cursor)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Cursor, h[i] as Cursor];
      i = m;
    }
  }
}

/** Options of {@link mergeKeyGroups}. */
export interface MergeOptions {
  /** User columns to decode with each row group. */
  columns: readonly string[];
  bounds?: MergeBounds;
  /** Sources read sparsely: only the rows of keys that the other sources hold (a diff's unchanged files). */
  sparse?: MergeSource[];
  /** Key groups per batch yielded (default 512). */
  batch?: number;
  /** Told the physical rows read so far, after each batch. */
  onRows?: (rows: number) => void;
}

/**
 * The key groups of the dense `sources` in key order (batched), each with
 * the rows of that key from every dense source and, when `opts.sparse` is
 * given, from the sparse ones too (entries newest first). Files outside
 * the bounds are not opened.
 *
 * @throws TidemarkError `Corrupt` from the files (not Parquet, rows out of
 *   order, a bad internal key, a bad deletion vector); the store's errors.
 */
export async function* mergeKeyGroups(
  sources: MergeSource[],
  opts: MergeOptions,
): AsyncGenerator<KeyGroup[], void, undefined> {
  const bounds = opts.bounds ?? {};
  const inBounds = (s: MergeSource) => {
    const { keyMin, keyMax } = s.file.entry;
    const low = bounds.from ?? bounds.after;
    if (low && keyMax.length > 0 && compareBytes(keyMax, low) < 0) return false;
    if (bounds.to && keyMin.length > 0 && compareBytes(keyMin, bounds.to) >= 0) return false;
    return true;
  };
  const heap = new CursorHeap();
  const cursors = sources.filter(inBounds).map((s, i) => new Cursor(s, i, opts.columns, bounds));
  for (const c of cursors) heap.push(c);
  const sparse = (opts.sparse ?? []).map((s, i) => new Cursor(s, cursors.length + i, opts.columns, {}));
  const visited = () => [...cursors, ...sparse].reduce((n, c) => n + c.visited, 0);
  const batchSize = opts.batch ?? 512;
  let batch: KeyGroup[] = [];

  /** Loads cursors at the top until the top is a loaded row (the smallest key left), or none is left. */
  const settle = async (): Promise<Cursor | undefined> => {
    for (;;) {
      const top = heap.peek();
      if (!top || top.loaded) return top;
      await top.load();
      heap.fixTop();
    }
  };

  for (;;) {
    let top = await settle();
    if (!top) break;
    const userKey = top.key.subarray(0, top.key.length - TAG_BYTES);
    const entries: MergeEntry[] = [];
    do {
      entries.push(top.take());
      heap.fixTop();
      top = await settle();
    } while (top && hasUserKey(top.key, userKey));
    if (bounds.after && equalBytes(userKey, bounds.after)) continue;
    if (sparse.length > 0) {
      for (const c of sparse) entries.push(...(await c.seek(userKey)));
      entries.sort((a, b) => compareBytes(a.ikey, b.ikey));
    }
    batch.push({ userKey, entries });
    if (batch.length >= batchSize) {
      opts.onRows?.(visited());
      yield batch;
      batch = [];
    }
  }
  opts.onRows?.(visited());
  if (batch.length > 0) yield batch;
}
