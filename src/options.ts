/**
 * Validation of numeric options, in one place: every public constructor and
 * function that takes a count, a size, a delay or a rate checks it here, so a
 * `NaN`, an `Infinity` or a fraction is an `InvalidArgument` naming the
 * option, never a silent misbehaviour (`parallelism: NaN` once wrote a
 * manifest with none of its files; `pollIntervalMs: NaN` polled in a loop).
 *
 * @module
 */
import { TidemarkError, type TidemarkErrorOptions } from "./errors.ts";

/**
 * The longest delay a timer can wait: `setTimeout` (browsers, Node, Deno,
 * workerd) stores it as a signed 32-bit number of milliseconds and fires a
 * longer one at once, so a delay option above it would become a busy loop.
 * https://developer.mozilla.org/en-US/docs/Web/API/Window/setTimeout#maximum_delay_value
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a numeric option may be. */
export interface NumberRule {
  /** Smallest allowed value (inclusive; default: no bound). */
  min?: number;
  /** Largest allowed value (inclusive; default: no bound). */
  max?: number;
  /** Must be a safe integer (default true). */
  integer?: boolean;
  /** `Infinity` is allowed and means "no limit" (default false). */
  infinity?: boolean;
}

function describe(rule: NumberRule): string {
  const kind = rule.integer === false ? "a number" : "an integer";
  const parts: string[] = [];
  if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
  if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
  const range = parts.length > 0 ? ` ${parts.join(" and ")}` : "";
  return `${kind}${range}${rule.infinity ? " (or Infinity)" : ""}`;
}

function show(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return typeof value;
}

/**
 * Returns `value` if it is a number that satisfies `rule`.
 *
 * @param context carried by the error (e.g. the object `key` a range was for).
 * @throws TidemarkError `InvalidArgument` naming `name` otherwise.
 */
export function checkNumber(
  name: string,
  value: unknown,
  rule: NumberRule = {},
  context: Pick<TidemarkErrorOptions, "key"> = {},
): number {
  const ok =
    typeof value === "number" &&
    !Number.isNaN(value) &&
    (Number.isFinite(value)
      ? (rule.integer === false || Number.isSafeInteger(value)) &&
        (rule.min === undefined || value >= rule.min) &&
        (rule.max === undefined || value <= rule.max)
      : rule.infinity === true && value === Number.POSITIVE_INFINITY);
  if (!ok) {
    throw new TidemarkError(
      "InvalidArgument",
      `${name} must be ${describe(rule)}, got ${show(value)}`,
      context,
    );
  }
  return value as number;
}

/**
 * `dflt` when `value` is `undefined`, else {@link checkNumber}`(name, value, rule)`.
 *
 * @throws TidemarkError `InvalidArgument` naming `name`.
 */
export function numberOption(name: string, value: unknown, dflt: number, rule: NumberRule = {}): number {
  return value === undefined ? dflt : checkNumber(name, value, rule);
}

/**
 * Parses a numeric option given as text (a CLI flag, an environment or
 * Worker variable): decimal digits only (an optional fraction where
 * `rule.integer` is false), then {@link checkNumber}. `undefined` or blank
 * gives `dflt`.
 *
 * @throws TidemarkError `InvalidArgument` naming `name` for anything else
 *   (`"5s"`, `"1e3"`, `"0x10"`, `"-"`), never a silent default.
 */
export function parseNumberOption(
  name: string,
  text: string | undefined,
  dflt: number,
  rule: NumberRule = {},
): number {
  if (text === undefined || text.trim() === "") return dflt;
  const t = text.trim();
  const pattern = rule.integer === false ? /^-?[0-9]+(\.[0-9]+)?$/ : /^-?[0-9]+$/;
  if (!pattern.test(t)) {
    throw new TidemarkError("InvalidArgument", `${name} must be ${describe(rule)}, got ${show(t)}`);
  }
  return checkNumber(name, Number(t), rule);
}
