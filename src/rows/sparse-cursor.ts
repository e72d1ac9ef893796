/**
 * The cursor of a file a diff reads only for the keys other files hold (a
 * file live in both versions, with the same deletion vector): its rows of a
 * key are sought, not scanned, and the pages that may hold a batch of keys
 * are read together first. Apart from the dense cursor (`cursor.ts`): it
 * moves by key, not by row.
 *
 * @module
 */
import { opOf } from "./cursor.ts";
import type { GroupReader, RowGroupInfo } from "./data-file.ts";
import { compareBytes } from "./ikey.ts";
import { isKeyOf, lastIkeyOf } from "./key-bytes.ts";
import type { MergeEntry, MergeSource } from "./key-group.ts";

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
      let row = g.firstAtLeast(span, userKey);
      while (row < span.to) {
        const kp = g.ikey.keyPage(g.ikey.pageOf(row));
        const i = row - kp.firstRow;
        const ks = kp.starts[i] as number;
        const ke = kp.ends[i] as number;
        if (!isKeyOf(kp.buf, ks, ke, userKey)) break;
        const op = opOf(this.source.file.path, kp.buf, ks, ke);
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
