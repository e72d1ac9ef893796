/**
 * The k-way merge of a version's data files by internal key, merutable's
 * range scan without its harvest-and-sort: rows come out in key order,
 * grouped by user key, each group's rows newest first. Memory is what the
 * merge is inside: per file, the part of a row group being read (its
 * compressed pages) and one decoded page per column, never the table; a
 * file is opened only when the merge reaches its first key.
 *
 * A row is a cursor and a row number, not an object: keys are compared in
 * place, in the decoded pages of `_merutable_ikey` ({@link Merge}); entries
 * ({@link MergeEntry}) are made only where a caller wants a key's rows as
 * objects (a diff, a classification), and a read of rows takes each key's
 * winner straight from the cursor.
 *
 * A row group whose key range (statistics of `_merutable_ikey`) lies outside
 * the bounds is never read; a file whose manifest key range does is never
 * opened; with a page index, only the pages that may hold keys within the
 * bounds are read, and a read that may stop early (a page of rows) reads a
 * group's pages a few at a time, more each time. Every source says on which
 * side(s) it is live (bit 0: the version read, or version A of a diff; bit
 * 1: version B) and its deletion vector on each, so one merge serves reads
 * and diffs; classifying a key's rows (kept, shadowed, tombstone, deletion
 * vector) is done on the groups ({@link verdicts}).
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { KeyPage } from "./column-chunk.ts";
import type { DataFile, GroupReader, RowGroupInfo, RowSpan } from "./data-file.ts";
import type { DeletionVector } from "./deletion-vector.ts";
import { compareBytes, OP_PUT, splitInternalKey } from "./ikey.ts";

/** A data file in a merge. */
export interface MergeSource {
  file: DataFile;
  /** Bit 0: live on side 0 (the version read; A of a diff); bit 1: on side 1 (B). */
  sides: number;
  /** Its deletion vector on each side, if any. */
  dvs: [DeletionVector | undefined, DeletionVector | undefined];
}

/** One row the merge visited, as an object. */
export interface MergeEntry {
  source: MergeSource;
  group: GroupReader;
  /** Row of the group. */
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

/**
 * How cursors read a row group: all of it that the bounds leave (a scan),
 * or a few pages at a time, twice as many each time (a read that may stop
 * early: a page of rows). Without a page index a group is read whole.
 */
export type Reading = "groups" | "pages";

const TAG_BYTES = 8;

/** Compares bytes `a[as, ae)` with `b[bs, be)` as unsigned, shorter first on a common prefix. */
export function compareRange(
  a: Uint8Array,
  as: number,
  ae: number,
  b: Uint8Array,
  bs: number,
  be: number,
): number {
  const la = ae - as;
  const lb = be - bs;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = (a[as + i] as number) - (b[bs + i] as number);
    if (d !== 0) return d;
  }
  return la - lb;
}

/** Whether internal keys `a[as, ae)` and `b[bs, be)` have the same user key (all but their tags). */
export const sameUserKey = (a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number) =>
  ae - as === be - bs && compareRange(a, as, ae - TAG_BYTES, b, bs, be - TAG_BYTES) === 0;

/**
 * A key kept while the page it was read from is decoded over (pages are
 * decoded into buffers used again): a copy in a buffer of its own.
 */
export class KeyCopy {
  buf = new Uint8Array(64);
  length = 0;

  set(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.buf.length < n) this.buf = new Uint8Array(n * 2);
    const buf = this.buf;
    for (let i = 0; i < n; i++) buf[i] = src[start + i] as number;
    this.length = n;
  }
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

function corruptKey(path: string, ikey: Uint8Array | undefined, op: number): TidemarkError {
  return new TidemarkError(
    "Corrupt",
    `${path}: an internal key ${!ikey || ikey.length < TAG_BYTES ? "shorter than its tag" : `with op ${op}`}`,
    { key: path },
  );
}

/**
 * A file's rows in key order, a part of a row group at a time. When
 * {@link Cursor.loaded}, its current row's internal key is bytes
 * `ks` to `ke` of `kbuf`; when not, those bytes are a lower bound of the
 * keys left (the last key, or the bound it starts from).
 */
export class Cursor {
  readonly source: MergeSource;
  readonly order: number;
  readonly #columns: readonly string[];
  readonly #low: Uint8Array | undefined;
  readonly #to: Uint8Array | undefined;
  readonly #reading: Reading;
  #plan: RowGroupInfo[] | undefined;
  #next = 0;
  /** The row group being read. */
  group: GroupReader | undefined;
  /** The current row of {@link Cursor.group}. */
  row = 0;
  /** Rows of the group read (every column) up to here, and where the bounds end in it. */
  #loadedTo = 0;
  #end = 0;
  /** Pages the next read of the group takes (reading by pages). */
  #pages = 1;
  #kp: KeyPage | undefined;
  #ki = 0;
  /** Whether the current row is at or after the lower bound (checked once per group). */
  #placed = false;
  kbuf: Uint8Array;
  ks = 0;
  ke: number;
  /** The previous key (for the order check). */
  #pbuf: Uint8Array | undefined;
  #ps = 0;
  #pe = 0;
  /** The last key of a page left (its buffer holds the next page once decoded). */
  readonly #kept = new KeyCopy();
  loaded = false;
  done = false;
  /** Rows of the parts of groups read so far (for progress). */
  visited = 0;

  constructor(
    source: MergeSource,
    order: number,
    columns: readonly string[],
    bounds: MergeBounds,
    reading: Reading,
  ) {
    this.source = source;
    this.order = order;
    this.#columns = columns;
    const { from, after } = bounds;
    this.#low = from && after ? (compareBytes(from, after) > 0 ? from : after) : (from ?? after);
    this.#to = bounds.to;
    this.#reading = reading;
    const keyMin = source.file.entry.keyMin;
    this.kbuf = this.#low && compareBytes(this.#low, keyMin) > 0 ? this.#low : keyMin;
    this.ke = this.kbuf.length;
  }

  get path(): string {
    return this.source.file.path;
  }

  /** File-global position of the current row. */
  get position(): number {
    return (this.group as GroupReader).firstPosition + this.row;
  }

  /** The op of the current row (the last byte of its internal key), checked. */
  get op(): number {
    const op = this.ke - this.ks >= TAG_BYTES ? (this.kbuf[this.ke - 1] as number) : -1;
    if (op !== 0 && op !== OP_PUT) throw corruptKey(this.path, this.kbuf.subarray(this.ks, this.ke), op);
    return op;
  }

  /** Whether the current row is hidden on `side` by its file's deletion vector. */
  hidden(side: 0 | 1): boolean {
    const dv = this.source.dvs[side];
    return dv?.has(this.position) ?? false;
  }

  /** The current row as an object. */
  entry(): MergeEntry {
    return {
      source: this.source,
      group: this.group as GroupReader,
      row: this.row,
      position: this.position,
      op: this.op,
      ikey: this.kbuf.slice(this.ks, this.ke),
    };
  }

  /** The row groups that may hold rows within the bounds. */
  async #groups(): Promise<RowGroupInfo[]> {
    const footer = await this.source.file.footer();
    const low = this.#low;
    const to = this.#to;
    return footer.rowGroups.filter(
      (g) =>
        !(low && g.maxIkey && compareBytes(g.maxIkey, low) < 0) &&
        !(to && g.minIkey && compareBytes(g.minIkey, to) >= 0),
    );
  }

  /** Reads what the key promised: the rows from the current one on, or the next row group's within the bounds. */
  async load(): Promise<void> {
    for (;;) {
      let g = this.group;
      if (!g) {
        this.#plan ??= await this.#groups();
        const info = this.#plan[this.#next++];
        if (!info) {
          this.#finish();
          return;
        }
        g = await this.source.file.group(
          info.index,
          this.#columns,
          this.#reading === "pages" || this.#low !== undefined || this.#to !== undefined,
        );
        const span = g.spanOfKeys(this.#low, this.#to);
        this.group = g;
        this.row = span.from;
        this.#loadedTo = span.from;
        this.#end = span.to;
        this.#pages = 1;
        this.#kp = undefined;
        this.#placed = this.#low === undefined;
      }
      if (this.row >= this.#end) {
        this.group = undefined;
        continue;
      }
      if (this.row >= this.#loadedTo) {
        const span: RowSpan =
          this.#reading === "pages" && g.paged
            ? g.spanOfPages(this.row, this.#pages)
            : { from: this.row, to: this.#end };
        span.to = Math.min(span.to, this.#end);
        this.#pages *= 2;
        const before = g.rowsRead;
        await g.load([span]);
        this.visited += g.rowsRead - before;
        this.#loadedTo = span.to;
      }
      if (!this.#placed) {
        // The first row at or after the lower bound, in what is read.
        if (!this.#seekLow(g)) continue;
        this.#placed = true;
      }
      this.#setRow();
      if (this.loaded || this.done) return;
    }
  }

  /** Moves to the first row at or after the lower bound within the rows read; false when none is (read more). */
  #seekLow(g: GroupReader): boolean {
    const low = this.#low as Uint8Array;
    while (this.row < this.#loadedTo) {
      const kp = g.ikey.keyPage(g.ikey.pageOf(this.row));
      const end = Math.min(kp.rows, this.#loadedTo - kp.firstRow);
      let lo = this.row - kp.firstRow;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareRange(kp.buf, kp.starts[mid] as number, kp.ends[mid] as number, low, 0, low.length) < 0)
          lo = mid + 1;
        else hi = mid;
      }
      this.row = kp.firstRow + lo;
      if (lo < end) return true;
    }
    return false;
  }

  #finish(): void {
    this.done = true;
    this.loaded = false;
    this.group = undefined;
    this.#kp = undefined;
  }

  /** Makes the current row's key the cursor's (its page decoded if need be); checks order and the upper bound. */
  #setRow(): void {
    const g = this.group as GroupReader;
    let kp = this.#kp;
    if (!kp || this.row < kp.firstRow || this.row >= kp.firstRow + kp.rows) {
      kp = g.ikey.keyPage(g.ikey.pageOf(this.row));
      this.#kp = kp;
    }
    this.#ki = this.row - kp.firstRow;
    this.#key(kp);
  }

  #key(kp: KeyPage): void {
    const buf = kp.buf;
    const ks = kp.starts[this.#ki] as number;
    const ke = kp.ends[this.#ki] as number;
    const pbuf = this.#pbuf;
    if (pbuf && compareRange(buf, ks, ke, pbuf, this.#ps, this.#pe) < 0) {
      throw new TidemarkError(
        "Corrupt",
        `${this.path}: rows are not in internal-key order at row group ${this.group?.index}, row ${this.row}`,
        { key: this.path },
      );
    }
    const to = this.#to;
    if (to && compareRange(buf, ks, ke, to, 0, to.length) >= 0) {
      this.#finish();
      return;
    }
    this.kbuf = buf;
    this.ks = ks;
    this.ke = ke;
    this.loaded = true;
  }

  /** Moves past the current row; the cursor may then need a {@link Cursor.load}. */
  advance(): void {
    this.row++;
    this.#ki++;
    const kp = this.#kp as KeyPage;
    if (this.row < this.#loadedTo && this.#ki < kp.rows) {
      // The same page: the key just left is still in its buffer.
      this.#pbuf = this.kbuf;
      this.#ps = this.ks;
      this.#pe = this.ke;
      this.#key(kp);
      return;
    }
    // Another page, decoded into the same buffer: the key just left is kept aside.
    const kept = this.#kept;
    kept.set(this.kbuf, this.ks, this.ke);
    this.kbuf = this.#pbuf = kept.buf;
    this.ks = this.#ps = 0;
    this.ke = this.#pe = kept.length;
    if (this.row < this.#loadedTo) {
      this.#setRow();
      return;
    }
    // Rows left are not read yet: the last key bounds them (the next group's statistics may say more).
    this.loaded = false;
    if (this.row >= this.#end) {
      this.group = undefined;
      const g = this.#plan?.[this.#next];
      if (!g) this.#finish();
      else if (g.minIkey && compareRange(g.minIkey, 0, g.minIkey.length, this.kbuf, this.ks, this.ke) > 0) {
        this.kbuf = g.minIkey;
        this.ks = 0;
        this.ke = g.minIkey.length;
      }
    }
  }
}

/**
 * A file read only for the keys other files hold (a diff's files live in
 * both versions): its rows of a key, {@link SparseCursor.seek}; the pages
 * that may hold a batch of keys read together first
 * ({@link SparseCursor.prefetch}).
 */
export class SparseCursor {
  readonly source: MergeSource;
  readonly #columns: readonly string[];
  #groups: RowGroupInfo[] | undefined;
  /** Row groups before this one hold no key left to seek. */
  #next = 0;
  readonly #open = new Map<number, GroupReader>();
  visited = 0;

  constructor(source: MergeSource, columns: readonly string[]) {
    this.source = source;
    this.#columns = columns;
  }

  #inFile(userKey: Uint8Array): boolean {
    const { keyMin, keyMax } = this.source.file.entry;
    if (keyMin.length > 0 && compareBytes(userKey, keyMin) < 0) return false;
    if (keyMax.length > 0 && compareBytes(userKey, keyMax) > 0) return false;
    return true;
  }

  /** The row groups at or after `#next` whose statistics allow `userKey`'s rows. */
  *#candidates(userKey: Uint8Array, last: Uint8Array): Generator<RowGroupInfo> {
    const groups = this.#groups as RowGroupInfo[];
    for (let i = this.#next; i < groups.length; i++) {
      const g = groups[i] as RowGroupInfo;
      if (g.maxIkey && compareBytes(g.maxIkey, userKey) < 0) continue;
      if (g.minIkey && compareBytes(g.minIkey, last) > 0) return;
      yield g;
    }
  }

  async #reader(index: number): Promise<GroupReader> {
    let g = this.#open.get(index);
    if (!g) {
      g = await this.source.file.group(index, this.#columns, true);
      this.#open.set(index, g);
    }
    return g;
  }

  /** Reads together the pages that may hold the rows of `keys` (ascending user keys). */
  async prefetch(keys: readonly Uint8Array[]): Promise<void> {
    const wanted = keys.filter((k) => this.#inFile(k));
    if (wanted.length === 0) return;
    this.#groups ??= (await this.source.file.footer()).rowGroups;
    const keysOf = new Map<number, Uint8Array[]>();
    for (const k of wanted) {
      for (const info of this.#candidates(k, lastIkeyOf(k))) {
        const ks = keysOf.get(info.index);
        if (ks) ks.push(k);
        else keysOf.set(info.index, [k]);
      }
    }
    const readers = await Promise.all([...keysOf.keys()].map((i) => this.#reader(i)));
    await Promise.all(
      readers.map((g) => {
        let spans = (keysOf.get(g.index) as Uint8Array[])
          .map((k) => g.spanOfKeys(k, lastIkeyOf(k), true))
          .filter((s) => s.to > s.from);
        // Keys spread over the group (random keys): its pages from the first to the last wanted, in one read.
        const first = spans[0];
        const last = spans[spans.length - 1];
        if (first && last && g.ikey.pages) {
          const span = g.ikey.pageOf(last.to - 1) - g.ikey.pageOf(first.from) + 1;
          const hit = new Set(spans.map((s) => g.ikey.pageOf(s.from))).size;
          if (hit * 4 >= span) spans = [{ from: first.from, to: last.to }];
        }
        const before = g.rowsRead;
        return g.load(spans).then(() => {
          this.visited += g.rowsRead - before;
        });
      }),
    );
  }

  /** The rows of `userKey` in this file, newest first (keys sought in ascending order). */
  async seek(userKey: Uint8Array): Promise<MergeEntry[]> {
    if (!this.#inFile(userKey)) return [];
    this.#groups ??= (await this.source.file.footer()).rowGroups;
    const groups = this.#groups;
    // Groups that end before the key hold no key left.
    while (this.#next < groups.length) {
      const g = groups[this.#next] as RowGroupInfo;
      if (!(g.maxIkey && compareBytes(g.maxIkey, userKey) < 0)) break;
      this.#open.delete(g.index);
      this.#next++;
    }
    const last = lastIkeyOf(userKey);
    const out: MergeEntry[] = [];
    for (const info of [...this.#candidates(userKey, last)]) {
      const g = await this.#reader(info.index);
      const span = g.spanOfKeys(userKey, last, true);
      if (span.to <= span.from) continue;
      if (!g.has(span.from) || !g.has(span.to - 1)) {
        const before = g.rowsRead;
        await g.load([span]);
        this.visited += g.rowsRead - before;
      }
      let row = lowerBoundIn(g, span, userKey);
      while (row < span.to) {
        const kp = g.ikey.keyPage(g.ikey.pageOf(row));
        const i = row - kp.firstRow;
        const ks = kp.starts[i] as number;
        const ke = kp.ends[i] as number;
        if (
          ke - ks !== userKey.length + TAG_BYTES ||
          compareRange(kp.buf, ks, ke - TAG_BYTES, userKey, 0, userKey.length) !== 0
        )
          break;
        const op = kp.buf[ke - 1] as number;
        if (op !== 0 && op !== OP_PUT) throw corruptKey(this.source.file.path, kp.buf.subarray(ks, ke), op);
        out.push({
          source: this.source,
          group: g,
          row,
          position: g.firstPosition + row,
          op,
          ikey: kp.buf.slice(ks, ke),
        });
        row++;
      }
    }
    return out;
  }
}

/** The first row of `span` whose internal key is at least `bound` (its pages read). */
function lowerBoundIn(g: GroupReader, span: RowSpan, bound: Uint8Array): number {
  let row = span.from;
  while (row < span.to) {
    const kp = g.ikey.keyPage(g.ikey.pageOf(row));
    const end = Math.min(kp.rows, span.to - kp.firstRow);
    let lo = row - kp.firstRow;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareRange(kp.buf, kp.starts[mid] as number, kp.ends[mid] as number, bound, 0, bound.length) < 0)
        lo = mid + 1;
      else hi = mid;
    }
    row = kp.firstRow + lo;
    if (lo < end) return row;
  }
  return span.to;
}

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
    const low =
      bounds.from && bounds.after
        ? compareBytes(bounds.from, bounds.after) > 0
          ? bounds.from
          : bounds.after
        : (bounds.from ?? bounds.after);
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
    } while (
      top &&
      top.ke - top.ks === userKey.length + TAG_BYTES &&
      compareRange(top.kbuf, top.ks, top.ke - TAG_BYTES, userKey, 0, userKey.length) === 0
    );
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
