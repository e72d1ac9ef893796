/**
 * A test-framework-neutral harness: shared suites call `h.test(...)`, and the
 * caller supplies it for its framework (vitest, node:test, Deno.test, vitest
 * inside workerd). Modelled on hono's `runTest({ newRouter, skip })` and
 * unstorage's `testDriver`.
 *
 * @module
 */
import { errorCodeOf } from "../errors.ts";
import { newWriterToken } from "../store/writer-token.ts";

/**
 * Registers one test with the caller's framework. Examples:
 * - vitest: `{ test: (name, fn, o) => it(name, fn, o?.timeoutMs) }`
 * - node:test: `{ test: (name, fn, o) => test(name, { timeout: o?.timeoutMs }, fn) }`
 * - Deno: `{ test: (name, fn) => Deno.test(name, fn) }`
 */
export interface Harness {
  test(name: string, fn: () => Promise<void>, opts?: { timeoutMs?: number }): void;
}

/** A short random hex string for per-test key prefixes (never "delete everything"). */
export function randomId(): string {
  return newWriterToken().slice(0, 12);
}

/** A unique key prefix for one test: `<tag>-<random>/`. */
export function uniquePrefix(tag = "t"): string {
  return `${tag}-${randomId()}/`;
}

/** Collects an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Awaits `p` and returns its error's tidemark code, failing when it resolves
 * or throws something that is not a tidemark error (recognised by name or by
 * the `[Code]` message prefix, as `isTidemarkError` does).
 */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const code = errorCodeOf(e);
    if (code !== undefined) return code;
    throw new Error(`expected a TidemarkError, got ${String(e)}`);
  }
  throw new Error("expected a rejection, but the promise resolved");
}
