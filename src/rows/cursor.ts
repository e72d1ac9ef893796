/**
 * A cursor of a merge: one data file's rows in internal-key order within
 * the merge's bounds, a part of a row group at a time. Row groups whose
 * key range (statistics of `_merutable_ikey`) lies outside the bounds are
 * never read; with a page index, only the pages that may hold keys within
 * the bounds are, and a read that may stop early (a page of rows) reads a
 * group's pages a few at a time, more each time. A row is the cursor and a
 * row number: its key is compared in place, in the decoded page of
 * `_merutable_ikey`, and the order of keys is checked as they pass. Apart
 * from the merge (`merge.ts`), which orders the cursors of all the files.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { KeyPage } from "./column-chunk.ts";
import type { GroupReader, RowGroupInfo, RowSpan } from "./data-file.ts";
import { compareBytes, OP_PUT, TAG_BYTES } from "./ikey.ts";
import { compareRange, KeyCopy } from "./key-bytes.ts";
import type { MergeEntry, MergeSource } from "./key-group.ts";

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

/** The lower bound of `bounds`: the greater of `from` and `after`, either when one is given. */
export function lowerBound(bounds: MergeBounds): Uint8Array | undefined {
  const { from, after } = bounds;
  return from && after ? (compareBytes(from, after) > 0 ? from : after) : (from ?? after);
}

function corruptKey(path: string, ikey: Uint8Array | undefined, op: number): TidemarkError {
  return new TidemarkError(
    "Corrupt",
    `${path}: an internal key ${!ikey || ikey.length < TAG_BYTES ? "shorter than its tag" : `with op ${op}`}`,
    { key: path },
  );
}

/**
 * The op of internal key `buf[ks, ke)` of the file `path` (its last byte), checked.
 *
 * @throws TidemarkError `Corrupt` for a key shorter than its tag or an op neither put nor delete.
 */
export function opOf(path: string, buf: Uint8Array, ks: number, ke: number): number {
  const op = ke - ks >= TAG_BYTES ? (buf[ke - 1] as number) : -1;
  if (op !== 0 && op !== OP_PUT) throw corruptKey(path, buf.subarray(ks, ke), op);
  return op;
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
    this.#low = lowerBound(bounds);
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
    return opOf(this.path, this.kbuf, this.ks, this.ke);
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
    if (this.row >= this.#loadedTo) return false;
    this.row = g.firstAtLeast({ from: this.row, to: this.#loadedTo }, this.#low as Uint8Array);
    return this.row < this.#loadedTo;
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
