/**
 * The k-way merge of a version's data files by internal key, merutable's
 * range scan without its harvest-and-sort: rows come out in key order,
 * grouped by user key, each group's rows newest first. Memory is what the
 * merge is inside: per file, the part of a row group being read (its
 * compressed pages) and one decoded page per column, never the table; a
 * file is opened only when the merge reaches its first key, and a file
 * whose manifest key range lies outside the bounds is never opened.
 *
 * A row is a cursor and a row number, not an object: keys are compared in
 * place ({@link Cursor}, `cursor.ts`); entries ({@link MergeEntry}) are
 * made only where a caller wants a key's rows as objects (a diff, a
 * classification: {@link mergeKeyGroups}), and a read of rows takes each
 * key's winner straight from the cursor. Every source says on which side(s)
 * it is live (bit 0: the version read, or version A of a diff; bit 1:
 * version B) and its deletion vector on each, so one merge serves reads and
 * diffs (a diff's files live in both versions are read sparsely:
 * `sparse-cursor.ts`); what a key's rows make of it is `key-group.ts`'s.
 *
 * @module
 */
import { Cursor, lowerBound, type MergeBounds, type Reading } from "./cursor.ts";
import { compareBytes, TAG_BYTES } from "./ikey.ts";
import { compareRange, isKeyOf } from "./key-bytes.ts";
import type { KeyGroup, MergeEntry, MergeSource } from "./key-group.ts";
import { SparseCursor } from "./sparse-cursor.ts";

/** A binary min-heap of cursors by key (then by source order). */
class CursorHeap {
  readonly items: Cursor[] = [];

  static #less(a: Cursor, b: Cursor): boolean {
    const c = compareRange(a.kbuf, a.ks, a.ke, b.kbuf, b.ks, b.ke);
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

  /** Restores the heap after any cursor's key grew (done ones removed). */
  rebuild(): void {
    const items = this.items.filter((c) => !c.done);
    this.items.length = 0;
    for (const c of items) this.push(c);
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
    const n = h.length;
    const c = h[0] as Cursor;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let m = l;
      if (r < n && CursorHeap.#less(h[r] as Cursor, h[l] as Cursor)) m = r;
      if (!CursorHeap.#less(h[m] as Cursor, c)) break;
      h[i] = h[m] as Cursor;
      i = m;
    }
    h[i] = c;
  }
}

/** Options of a {@link Merge}. */
export interface MergeOptions {
  /** User columns to read with each row group. */
  columns: readonly string[];
  bounds?: MergeBounds;
  reading?: Reading;
}

/**
 * The merge of `sources` within the bounds: {@link Merge.top} is the cursor
 * at the smallest key left once {@link Merge.settle}d; a caller takes its
 * row, {@link Cursor.advance}s it and {@link Merge.fix}es the heap.
 */
export class Merge {
  readonly cursors: Cursor[];
  readonly #heap = new CursorHeap();

  constructor(sources: MergeSource[], opts: MergeOptions) {
    const bounds = opts.bounds ?? {};
    const low = lowerBound(bounds);
    const inBounds = (s: MergeSource) => {
      const { keyMin, keyMax } = s.file.entry;
      if (low && keyMax.length > 0 && compareBytes(keyMax, low) < 0) return false;
      if (bounds.to && keyMin.length > 0 && compareBytes(keyMin, bounds.to) >= 0) return false;
      return true;
    };
    this.cursors = sources
      .filter(inBounds)
      .map((s, i) => new Cursor(s, i, opts.columns, bounds, opts.reading ?? "groups"));
    for (const c of this.cursors) this.#heap.push(c);
  }

  /** The cursor at the smallest key, loaded or not; `undefined` when the merge is over. */
  get top(): Cursor | undefined {
    return this.#heap.items[0];
  }

  /** Restores the order after the top cursor moved. */
  fix(): void {
    this.#heap.fixTop();
  }

  /**
   * Loads cursors at the top until the top is a loaded row (the smallest
   * key left), or none is left. Once the top is read, the others whose
   * lower bound is not past its key are read together (each would be the
   * top in turn before a row could be taken: a page of rows from the middle
   * of a table opens every file at once, one round trip, not one a file).
   */
  async settle(): Promise<Cursor | undefined> {
    for (;;) {
      const top = this.#heap.items[0];
      if (!top || top.loaded) return top;
      await top.load();
      const h = this.#heap.items;
      const behind = top.loaded
        ? h.filter(
            (c) => c !== top && !c.loaded && compareRange(c.kbuf, c.ks, c.ke, top.kbuf, top.ks, top.ke) <= 0,
          )
        : [];
      if (behind.length === 0) {
        this.#heap.fixTop();
        continue;
      }
      await Promise.all(behind.map((c) => c.load()));
      this.#heap.rebuild();
    }
  }

  /** Physical rows read so far. */
  get visited(): number {
    let n = 0;
    for (const c of this.cursors) n += c.visited;
    return n;
  }
}

/** Options of {@link mergeKeyGroups}. */
export interface KeyGroupOptions extends MergeOptions {
  /** Sources read sparsely: only the rows of keys that the other sources hold (a diff's unchanged files). */
  sparse?: MergeSource[];
  /** Key groups per batch yielded (default 512). */
  batch?: number;
  /**
   * Key groups whose rows in the sparse sources are sought together (default
   * 8192, at least `batch`): the more keys, the fewer and larger reads.
   */
  lookahead?: number;
  /** Told the physical rows read so far, after each batch. */
  onRows?: (rows: number) => void;
}

/**
 * The key groups of the dense `sources` in key order (batched), each with
 * the rows of that key from every dense source and, when `opts.sparse` is
 * given, from the sparse ones too (entries newest first; the pages of the
 * sparse files that may hold a batch's keys are read together). Files
 * outside the bounds are not opened.
 *
 * @throws TidemarkError `Corrupt` from the files (not Parquet, rows out of
 *   order, a bad internal key, a bad deletion vector); the store's errors.
 */
export async function* mergeKeyGroups(
  sources: MergeSource[],
  opts: KeyGroupOptions,
): AsyncGenerator<KeyGroup[], void, undefined> {
  const merge = new Merge(sources, opts);
  const after = opts.bounds?.after;
  const sparse = (opts.sparse ?? []).map((s) => new SparseCursor(s, opts.columns));
  const visited = () => merge.visited + sparse.reduce((n, c) => n + c.visited, 0);
  const batchSize = opts.batch ?? 512;
  const lookahead = Math.max(batchSize, opts.lookahead ?? 8192);
  let batch: KeyGroup[] = [];

  const complete = async (groups: KeyGroup[]) => {
    if (sparse.length === 0) return;
    const keys = groups.map((g) => g.userKey);
    await Promise.all(sparse.map((c) => c.prefetch(keys)));
    for (const g of groups) {
      for (const c of sparse) g.entries.push(...(await c.seek(g.userKey)));
      g.entries.sort((a, b) => compareBytes(a.ikey, b.ikey));
    }
  };

  for (;;) {
    let top = await merge.settle();
    if (!top) break;
    const userKey = top.kbuf.slice(top.ks, top.ke - TAG_BYTES);
    const entries: MergeEntry[] = [];
    do {
      entries.push(top.entry());
      top.advance();
      merge.fix();
      top = merge.top;
      if (top && !top.loaded) top = await merge.settle();
    } while (top && isKeyOf(top.kbuf, top.ks, top.ke, userKey));
    if (after && compareBytes(userKey, after) === 0) continue;
    batch.push({ userKey, entries });
    if (batch.length >= lookahead) {
      await complete(batch);
      opts.onRows?.(visited());
      yield* slices(batch, batchSize);
      batch = [];
    }
  }
  await complete(batch);
  opts.onRows?.(visited());
  yield* slices(batch, batchSize);
}

function* slices<T>(xs: T[], n: number): Generator<T[]> {
  for (let i = 0; i < xs.length; i += n) yield xs.slice(i, i + n);
}
