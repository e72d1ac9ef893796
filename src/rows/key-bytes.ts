/**
 * Internal keys compared in place: as ranges of the decoded pages of
 * `_merutable_ikey` (a merge compares keys without making an array of
 * each), whether two have the same user key, a key kept aside while its
 * page is decoded over. Apart from the key codec (`ikey.ts`) because the
 * inspector's first paint loads that module (it shows keys) and a bundler
 * splits by module: the merge's comparisons load with the rows, later.
 *
 * @module
 */
import { TAG_BYTES } from "./ikey.ts";

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

/** Whether internal key `buf[ks, ke)` is a row of `userKey` (its bytes but for the tag). */
export const isKeyOf = (buf: Uint8Array, ks: number, ke: number, userKey: Uint8Array) =>
  ke - ks === userKey.length + TAG_BYTES &&
  compareRange(buf, ks, ke - TAG_BYTES, userKey, 0, userKey.length) === 0;

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
export function lastIkeyOf(userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(userKey.length + TAG_BYTES).fill(0xff);
  out.set(userKey);
  return out;
}
