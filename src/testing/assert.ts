/**
 * The few assertions the store contract needs, with no dependency: the suite
 * runs under vitest, node:test, Deno.test and inside workerd, and `src/` uses
 * web-standard globals only (no `node:assert`). A failed assertion throws an
 * `AssertionError` (by name, as every test framework reports it).
 *
 * @module
 */

/** A failed assertion; `actual` and `expected` are kept for reporters that diff them. */
export class AssertionError extends Error {
  readonly actual: unknown;
  readonly expected: unknown;
  constructor(message: string, actual?: unknown, expected?: unknown) {
    super(message);
    this.name = "AssertionError";
    this.actual = actual;
    this.expected = expected;
  }
}

/** A short, readable rendering of a value for failure messages. */
export function show(v: unknown): string {
  let s: string;
  if (typeof v === "string") s = JSON.stringify(v);
  else if (typeof v === "bigint") s = `${v}n`;
  else if (v instanceof Uint8Array)
    s = `Uint8Array[${Array.from(v.subarray(0, 32)).join(",")}${v.length > 32 ? ",..." : ""}]`;
  else if (v instanceof Date) s = `Date(${v.toISOString()})`;
  else if (typeof v === "object" && v !== null) {
    try {
      s = JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x));
    } catch {
      s = String(v);
    }
  } else s = String(v);
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

function fail(what: string, message: string | undefined, actual?: unknown, expected?: unknown): never {
  throw new AssertionError(message ? `${message}: ${what}` : what, actual, expected);
}

/** Structural equality: primitives by `Object.is`, arrays and byte arrays element-wise, dates by time, plain objects by own enumerable keys. */
export function isDeepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (ArrayBuffer.isView(a)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const bv = b as ArrayBufferView;
    const y = new Uint8Array(bv.buffer, bv.byteOffset, bv.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a)) {
    const y = b as unknown[];
    return a.length === y.length && a.every((v, i) => isDeepEqual(v, y[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) &&
      isDeepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** The assertions of the store contract: a subset of `node:assert/strict`, same names and meaning. */
export interface Assert {
  /** `value` is truthy. */
  ok(value: unknown, message?: string): asserts value;
  /** `actual` is `expected` (`Object.is`). */
  equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  notEqual(actual: unknown, expected: unknown, message?: string): void;
  /** `actual` and `expected` are structurally equal (see {@link isDeepEqual}). */
  deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  /** `value` matches `pattern`. */
  match(value: string, pattern: RegExp, message?: string): void;
}

/** The {@link Assert} implementation; failures throw {@link AssertionError}. */
export const assert: Assert = {
  ok(value: unknown, message?: string): asserts value {
    if (!value) fail(`expected a truthy value, got ${show(value)}`, message, value, true);
  },
  equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
    if (!Object.is(actual, expected)) {
      fail(`expected ${show(expected)}, got ${show(actual)}`, message, actual, expected);
    }
  },
  notEqual(actual: unknown, expected: unknown, message?: string): void {
    if (Object.is(actual, expected))
      fail(`expected anything but ${show(expected)}`, message, actual, expected);
  },
  deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
    if (!isDeepEqual(actual, expected)) {
      fail(`expected ${show(expected)}, got ${show(actual)}`, message, actual, expected);
    }
  },
  match(value: string, pattern: RegExp, message?: string): void {
    if (typeof value !== "string" || !pattern.test(value)) {
      fail(`expected ${show(value)} to match ${pattern}`, message, value, pattern);
    }
  },
};
