import { TidemarkError } from "../errors.ts";
import type { ObjectMeta } from "./types.ts";

/** The longest key S3 and R2 accept, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();
// C0 controls and DEL; S3 and R2 accept some of them on the wire, but they
// break XML listings (XML 1.0 cannot carry most C0 characters) and logs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Throws `InvalidArgument` unless `key` is a valid object key: non-empty, at
 * most 1024 UTF-8 bytes, no control characters. The one place keys are checked;
 * every adapter calls it.
 */
export function validateKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new TidemarkError("InvalidArgument", "object key must be a non-empty string");
  }
  if (CONTROL.test(key)) {
    throw new TidemarkError("InvalidArgument", "object key contains a control character", {
      key: JSON.stringify(key),
    });
  }
  const bytes = encoder.encode(key).length;
  if (bytes > MAX_KEY_BYTES) {
    throw new TidemarkError(
      "InvalidArgument",
      `object key is ${bytes} bytes, over the ${MAX_KEY_BYTES}-byte limit`,
    );
  }
}

/** Like {@link validateKey} for a list prefix, which may be empty. */
export function validatePrefix(prefix: string): void {
  if (prefix !== "") validateKey(prefix);
}

/**
 * Compares two strings in UTF-8 byte order (the order S3 and R2 list in),
 * which is code-point order, not JavaScript's UTF-16 order.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP character in UTF-8.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** The last code point of `s` removed (never a lone surrogate, which a URL cannot carry): a key just before `s`. */
export function dropLastCodePoint(s: string): string {
  const last = s.codePointAt(s.length - 1) ?? 0;
  const prev = s.length >= 2 ? (s.codePointAt(s.length - 2) ?? 0) : 0;
  return s.slice(0, prev > 0xffff && last >= 0xdc00 && last <= 0xdfff ? -2 : -1);
}

/** The longest common prefix of `a` and `b`, cut before a split surrogate pair. */
export function commonPrefix(a: string, b: string): string {
  let n = 0;
  while (n < a.length && n < b.length && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  const c = a.charCodeAt(n - 1);
  if (n > 0 && c >= 0xd800 && c <= 0xdbff) n--;
  return a.slice(0, n);
}

/**
 * Every key of `keys`, each passed through `check` (validation, and the
 * stored form where a store has one) before any is used: a bulk delete
 * checks them all first, so a bad key late in a long sequence fails the call
 * with nothing deleted (the contract's all-or-none on bad keys).
 */
export async function checkedKeys<T = string>(
  keys: AsyncIterable<string> | Iterable<string>,
  check: (key: string) => T = (key) => {
    validateKey(key);
    return key as T;
  },
): Promise<T[]> {
  const all: T[] = [];
  for await (const key of keys) all.push(check(key));
  return all;
}

/**
 * A delimiter listing's roll-up over keys met in order: the keys that share
 * `prefix + … + delimiter` become one `isPrefix` entry, handed out once.
 */
export class RollUp {
  readonly #prefix: string;
  readonly #delimiter: string | undefined;
  #last: string | undefined;

  constructor(prefix: string, delimiter: string | undefined) {
    this.#prefix = prefix;
    this.#delimiter = delimiter || undefined;
  }

  /**
   * What `key` contributes to the listing: `undefined` when it is listed
   * itself, its common prefix's entry the first time that prefix is met, and
   * `null` when it rolls into a prefix already handed out.
   */
  entry(key: string): ObjectMeta | null | undefined {
    if (this.#delimiter === undefined) return undefined;
    const at = key.indexOf(this.#delimiter, this.#prefix.length);
    if (at < 0) return undefined;
    const common = key.slice(0, at + this.#delimiter.length);
    if (common === this.#last) return null;
    this.#last = common;
    return { key: common, size: 0, etag: "", isPrefix: true };
  }
}

/**
 * A key prefix: the one implementation of "every key of this store lives
 * under a prefix", shared by the `prefixed` wrapper, `S3Store` and `R2Store`,
 * so all three refuse and translate keys the same way.
 */
export class KeyPrefix {
  /** The prefix: `""`, or ending with `/` (one is appended if missing). */
  readonly value: string;

  /** @throws TidemarkError `InvalidArgument` for a prefix that starts with `/`. */
  constructor(prefix: string) {
    if (prefix.startsWith("/")) {
      throw new TidemarkError("InvalidArgument", "a store prefix must not start with '/'");
    }
    this.value = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  }

  /**
   * The stored key of `key`. An empty `key` is refused (it would name the
   * prefix itself), and so is a stored key that is not a valid key.
   *
   * @throws TidemarkError `InvalidArgument`.
   */
  full(key: string): string {
    if (key === "") throw new TidemarkError("InvalidArgument", "object key must be a non-empty string");
    const full = this.value + key;
    validateKey(full);
    return full;
  }

  /** The stored form of a listing prefix (which may be empty); `InvalidArgument` when it is not valid. */
  fullPrefix(prefix: string): string {
    validatePrefix(prefix);
    const full = this.value + prefix;
    if (full !== "") validateKey(full);
    return full;
  }

  /** The caller's key of a stored key under the prefix. */
  strip(full: string): string {
    return full.slice(this.value.length);
  }

  /** `/` and the prefix without its trailing slash (`""` for none): what names and ids append. */
  get suffix(): string {
    return this.value ? `/${this.value.slice(0, -1)}` : "";
  }
}
