/**
 * The worker's numeric vars (wrangler.toml `[vars]`) and a table's own
 * settings, read in one place by the library's own check against the
 * library's rules (`OPTIONS`): a bad value is `InvalidArgument` naming the
 * var, never a silent fallback to the default (a typo in `PARALLELISM` once
 * mirrored at the default parallelism with nothing to say so).
 */
import { type NumberRule, OPTIONS, parseNumberOption } from "../src/options.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";

/**
 * The shortest poll interval accepted: 0 would re-alarm a caught-up table at
 * once, forever (2 HEADs per alarm, billed, for nothing).
 */
export const MIN_POLL_INTERVAL_MS = 100;

/**
 * The rule of each setting in the Worker: the library's (`OPTIONS`), narrowed
 * where an alarm needs it: a poll at least {@link MIN_POLL_INTERVAL_MS} apart,
 * and a budget, never unlimited (an alarm is one invocation, with its
 * subrequest limit). The vars and a table's configuration are checked by these.
 */
export const SETTING_RULES = {
  pollIntervalMs: { ...OPTIONS.pollIntervalMs, min: MIN_POLL_INTERVAL_MS },
  lagAlertSecs: OPTIONS.lagAlertSecs,
  parallelism: OPTIONS.parallelism,
  budgetRequests: { ...OPTIONS.budgetRequests, min: 1 },
  budgetBytes: { ...OPTIONS.budgetBytes, min: 1 },
} as const satisfies Record<string, NumberRule>;

/** Defaults of the vars in wrangler.toml. */
export const DEFAULTS = {
  pollIntervalMs: OPTIONS.pollIntervalMs.default,
  // With wake-ups pushed, the poll only catches a lost notification: an idle
  // tick costs 4 read-class requests (2 HEADs + 1 GET on the source, 1 HEAD on
  // the target), so every 5 minutes is 48 an hour (the goal: at most 60).
  pushPollIntervalMs: 300_000,
  lagAlertSecs: 300,
  // Free-plan Workers allow 50 subrequests per invocation (paid: 10,000); an
  // alarm is one invocation. https://developers.cloudflare.com/workers/platform/limits/
  budgetRequests: 40,
  budgetBytes: 64 * 1024 * 1024,
  parallelism: 6, // at most 6 simultaneous outgoing connections per invocation
} as const;

/** The mirror settings the vars give. */
export interface MirrorVars {
  /** `POLL_INTERVAL_MS`: 100 to 2^31 - 1 (a longer alarm delay would be a timer that fires at once). */
  pollIntervalMs: number;
  /** `PUSH_POLL_INTERVAL_MS`: the poll of a table whose wake-ups are pushed (same range). */
  pushPollIntervalMs: number;
  /** `LAG_ALERT_SECS`: >= 0 (0: no alert). */
  lagAlertSecs: number;
  /** `BUDGET_REQUESTS` and `BUDGET_BYTES`: >= 1 each. */
  budget: { requests: number; bytes: number };
  /** `PARALLELISM`: 1 to 1,024. */
  parallelism: number;
}

/**
 * Reads the numeric vars: decimal digits only, within range; unset or blank
 * is the default. Once per `env` (worker/per-env.ts).
 *
 * @throws TidemarkError `InvalidArgument` naming the first bad var.
 */
export const mirrorVars = perEnv((env: Env): Readonly<MirrorVars> => {
  const R = SETTING_RULES;
  return {
    pollIntervalMs: parseNumberOption(
      "POLL_INTERVAL_MS",
      env.POLL_INTERVAL_MS,
      DEFAULTS.pollIntervalMs,
      R.pollIntervalMs,
    ),
    pushPollIntervalMs: parseNumberOption(
      "PUSH_POLL_INTERVAL_MS",
      env.PUSH_POLL_INTERVAL_MS,
      DEFAULTS.pushPollIntervalMs,
      R.pollIntervalMs,
    ),
    lagAlertSecs: parseNumberOption(
      "LAG_ALERT_SECS",
      env.LAG_ALERT_SECS,
      DEFAULTS.lagAlertSecs,
      R.lagAlertSecs,
    ),
    budget: {
      requests: parseNumberOption(
        "BUDGET_REQUESTS",
        env.BUDGET_REQUESTS,
        DEFAULTS.budgetRequests,
        R.budgetRequests,
      ),
      bytes: parseNumberOption("BUDGET_BYTES", env.BUDGET_BYTES, DEFAULTS.budgetBytes, R.budgetBytes),
    },
    parallelism: parseNumberOption("PARALLELISM", env.PARALLELISM, DEFAULTS.parallelism, R.parallelism),
  };
});
