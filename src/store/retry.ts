import { isTidemarkError, TidemarkError } from "../errors.ts";
import { MAX_TIMER_MS, numberOption } from "../options.ts";

/**
 * The one retry policy of tidemark: jittered exponential backoff ("full
 * jitter"), retrying only `Transient` errors, bounded in attempts and in total
 * time. Clock, sleep and randomness are injectable so tests are deterministic.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export interface RetryPolicy {
  /** Attempts in total, the first included (default 5; 1 = no retry; `Infinity`: until `maxElapsedMs`). */
  maxAttempts?: number;
  /** Base delay before the first retry, in ms (default 50; an integer, at most 2^31 - 1). */
  baseDelayMs?: number;
  /** Cap on one delay, in ms (default 2,000; an integer, at most 2^31 - 1). */
  maxDelayMs?: number;
  /**
   * Give up when the next retry would start after this much time, in ms
   * (default 20,000; `Infinity`: only `maxAttempts` limits).
   */
  maxElapsedMs?: number;
  /** Uniform random in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Sleeps `ms` (default `setTimeout`). */
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds clock (default `Date.now`). */
  now?: () => number;
}

/** `setTimeout` as a promise. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The defaults of {@link RetryPolicy}. */
const DEFAULT_RETRY: Required<RetryPolicy> = {
  maxAttempts: 5,
  baseDelayMs: 50,
  maxDelayMs: 2_000,
  maxElapsedMs: 20_000,
  random: Math.random,
  sleep,
  now: () => Date.now(),
};

/**
 * The delay before retry number `retry` (1-based) under `policy`.
 *
 * @throws TidemarkError `InvalidArgument` for a bad policy (see {@link resolvePolicy}).
 */
export function backoffDelay(retry: number, policy: RetryPolicy = {}): number {
  const p = resolvePolicy(policy);
  const cap = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(p.random() * cap);
}

/**
 * What the caller of {@link withRetry} knows about its request that an error
 * alone does not say: decided once per request, by its owner (the adapter
 * that sends it), never carried on error objects.
 */
export interface RetryControl {
  /**
   * Whether failure `e` may be retried (default: any `Transient`): false, say,
   * for a compare-and-swap whose failure may have written (a retry could fail
   * on its own first attempt's write).
   */
  retryable?: (e: unknown) => boolean;
  /**
   * The shortest wait before the attempt after `e`, in ms (default 0): a
   * server's own rate limit (R2 takes about one write per second per key,
   * and a short backoff would spend every attempt inside that window).
   */
  minDelayMs?: (e: unknown) => number;
}

/**
 * Runs `fn` (given the 1-based attempt number) until it succeeds, throws a
 * non-`Transient` error (or one `control.retryable` refuses), or the policy's
 * attempts or time run out; then the last error is thrown as it was.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = {},
  control: RetryControl = {},
): Promise<T> {
  const p = resolvePolicy(policy);
  const started = p.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const delay = retryDelay(e, attempt, started, p, control);
      if (delay === undefined) throw e;
      await p.sleep(delay);
    }
  }
}

function fnOption<T>(name: string, value: T | undefined, dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value !== "function") throw new TidemarkError("InvalidArgument", `${name} must be a function`);
  return value;
}

/**
 * `policy` with defaults filled in and checked. Stores and wrappers that
 * take a policy call it when constructed, so a bad policy fails there, not
 * at the first retry (which may be never).
 *
 * @throws TidemarkError `InvalidArgument` naming the field (`retry.maxAttempts`...).
 */
export function resolvePolicy(policy: RetryPolicy = {}): Required<RetryPolicy> {
  const d = DEFAULT_RETRY;
  const delay = { min: 0, max: MAX_TIMER_MS };
  return {
    maxAttempts: numberOption("retry.maxAttempts", policy.maxAttempts, d.maxAttempts, {
      min: 1,
      infinity: true,
    }),
    baseDelayMs: numberOption("retry.baseDelayMs", policy.baseDelayMs, d.baseDelayMs, delay),
    maxDelayMs: numberOption("retry.maxDelayMs", policy.maxDelayMs, d.maxDelayMs, delay),
    maxElapsedMs: numberOption("retry.maxElapsedMs", policy.maxElapsedMs, d.maxElapsedMs, {
      min: 0,
      infinity: true,
    }),
    random: fnOption("retry.random", policy.random, d.random),
    sleep: fnOption("retry.sleep", policy.sleep, d.sleep),
    now: fnOption("retry.now", policy.now, d.now),
  };
}

/**
 * The decision after failed attempt number `attempt` (1-based) of an operation
 * started at `started`: the delay before the next attempt, or `undefined` to
 * give up (not `Transient`, refused by `control`, or attempts or time used up).
 */
export function retryDelay(
  e: unknown,
  attempt: number,
  started: number,
  p: Required<RetryPolicy>,
  control: RetryControl = {},
): number | undefined {
  if (!isTidemarkError(e, "Transient") || attempt >= p.maxAttempts) return undefined;
  if (control.retryable && !control.retryable(e)) return undefined;
  const delay = Math.max(control.minDelayMs?.(e) ?? 0, backoffDelay(attempt, p));
  return p.now() + delay - started > p.maxElapsedMs ? undefined : delay;
}
