/**
 * Validation of numeric options, in one place: every public constructor and
 * function that takes a count, a size, a delay or a rate checks it here, so a
 * `NaN`, an `Infinity` or a fraction is an `InvalidArgument` naming the
 * option, never a silent misbehaviour (`parallelism: NaN` once wrote a
 * manifest with none of its files; `pollIntervalMs: NaN` polled in a loop).
 * {@link OPTIONS} holds the one rule and default of each option that more
 * than one part takes (the library, a `tidemark` flag, a Worker var).
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

/** A numeric option's rule and its default. */
export interface OptionRule extends NumberRule {
  readonly default: number;
}

/**
 * The rule and default of each numeric option that more than one part takes:
 * the library's option (`Mirror`, `mirrorSnapshot`), the `tidemark` command's
 * flag (`--parallel`, `--poll-interval`, `--lag-alert`) and the Worker's var
 * and table setting (`PARALLELISM`, `POLL_INTERVAL_MS`, `LAG_ALERT_SECS`,
 * `BUDGET_REQUESTS`, `BUDGET_BYTES`) all check against these. The Worker
 * narrows two of them for its alarms and keeps its own defaults, each with
 * its reason (worker/vars.ts).
 */
export const OPTIONS = {
  /**
   * Files copied at once. 8, not 4: between two RGW buckets (500 × 1 MiB +
   * 4 × 64 MiB) 8 copies took 2.4–2.5 s where 4 took 2.7–3.0 s
   * (BENCHMARKS.md, "Mirror"). At most 1,024 copies, each holding a
   * connection and a request's buffers.
   */
  parallelism: { default: 8, min: 1, max: 1024 },
  /**
   * The delay between polls of a caught-up mirror, in ms: at least 10 (a
   * shorter one is a busy loop), at most {@link MAX_TIMER_MS} (a longer timer
   * fires at once).
   */
  pollIntervalMs: { default: 5_000, min: 10, max: MAX_TIMER_MS },
  /** The lag, in whole seconds, at which a lag alert fires (at most once per as many seconds); 0: never. */
  lagAlertSecs: { default: 60, min: 0 },
  /**
   * From this many files to check in one snapshot, one listing of the target
   * replaces their HEADs; `Infinity`: never list. Below it (the steady state
   * of an incremental mirror: a few new files per snapshot) HEADs are
   * cheaper, since a listing page is write-class (S3 LIST, R2 class A: about
   * ten times a HEAD) and may have to read keys the snapshot does not need.
   */
  listThreshold: { default: 100, min: 1, infinity: true },
  /** Requests one mirror tick may make; 0: unlimited. */
  budgetRequests: { default: 0, min: 0 },
  /** Bytes one mirror tick may copy; 0: unlimited. */
  budgetBytes: { default: 0, min: 0 },
} as const satisfies Record<string, OptionRule>;

/** The name of an option of {@link OPTIONS}. */
export type OptionName = keyof typeof OPTIONS;

/**
 * `value` checked against option `name`'s rule, or its default when
 * `undefined`: {@link numberOption} with the rule of {@link OPTIONS}.
 *
 * @param named the name the error gives (default `name`; `budget.requests`).
 * @throws TidemarkError `InvalidArgument` naming `named`.
 */
export function option(name: OptionName, value: unknown, named: string = name): number {
  const rule: OptionRule = OPTIONS[name];
  return numberOption(named, value, rule.default, rule);
}
