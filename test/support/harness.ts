/**
 * The test harness and helpers the shared suites use: those of
 * `tidemark/testing` (src/testing/harness.ts), so the store contract users run
 * and tidemark's own suites share one implementation.
 */
export { codeOf, collect, type Harness, randomId, uniquePrefix } from "../../src/testing/harness.ts";

/**
 * Values every numeric option of its kind refuses (see `src/options.ts`):
 * not a number, not finite, negative, a fraction, a numeric string; a count
 * also refuses 0, a delay anything above `setTimeout`'s maximum (which fires
 * at once), a rate anything outside 0..1, a list of request numbers any bad
 * entry or a bare number.
 */
export const BAD_VALUES = (() => {
  const number: readonly unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, "8"];
  return {
    number,
    count: [...number, 0],
    delay: [...number, 2 ** 31],
    rate: [Number.NaN, Number.POSITIVE_INFINITY, -0.1, 1.5, "0.5"],
    list: [[Number.NaN], [Number.POSITIVE_INFINITY], [-1], [0], [1.5], ["8"], 3, "3"],
  } as const;
})();

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
