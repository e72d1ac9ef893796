/**
 * A test-framework-neutral harness: shared suites call `h.test(...)`, and each
 * runner (vitest in Node, vitest inside workerd, `deno test`) supplies it.
 * Modelled on hono's `runTest({ newRouter, skip })`.
 */
export interface Harness {
  test(name: string, fn: () => Promise<void>, opts?: { timeoutMs?: number }): void;
}

/** A short random string for per-test key prefixes (never "delete everything"). */
export function randomId(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A unique key prefix for one test: `t-<random>/`. */
export function uniquePrefix(label = "t"): string {
  return `${label}-${randomId()}/`;
}

/** Collects an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Awaits `p` and returns its error's tidemark code, failing the test when it
 * resolves or throws something that is not a tidemark error.
 */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const name = (e as { name?: string }).name;
    const code = (e as { code?: string }).code;
    const m = /^\[([A-Za-z]+)\] /.exec((e as Error).message ?? "");
    if (name === "TidemarkError" && code) return code;
    if (m?.[1]) return m[1];
    throw new Error(`expected a TidemarkError, got ${String(e)}`);
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** A value as a test message shows it (`"8"` for the string, `8` for the number). */
export function showValue(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(showValue)}]` : String(v);
}

/**
 * Asserts that `use(value)` (sync or async) fails with `InvalidArgument`
 * whose message names the option `name`, for every value of `values`: a bad
 * option is refused, never silently used or replaced by a default.
 */
export async function assertRejectsOption(
  name: string,
  values: readonly unknown[],
  use: (value: never) => unknown,
): Promise<void> {
  for (const v of values) {
    const got = await Promise.resolve()
      .then(() => use(v as never))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const label = `${name} = ${showValue(v)}`;
    if (got === undefined) throw new Error(`${label}: accepted, expected InvalidArgument`);
    const message = (got as Error).message ?? String(got);
    if (!message.startsWith("[InvalidArgument] ")) {
      throw new Error(`${label}: expected InvalidArgument, got ${message}`);
    }
    if (!message.includes(name)) throw new Error(`${label}: the message does not name ${name}: ${message}`);
  }
}
