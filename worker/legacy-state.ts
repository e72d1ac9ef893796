/**
 * The state a `MirrorObject` kept before everything a tick changes became
 * one storage row (`K_STATE`): the progress, the failure count and the lag
 * history, one key each. An object that finds no `K_STATE` row reads them
 * once, resumes from them, and deletes them with its next write of the row.
 */
import { freshMirrorProgress, type MirrorProgress } from "../src/mirror/progress.ts";
import type { LagSample } from "./lag-history.ts";
import { freshUsage } from "./object-meter.ts";
import { freshPushStats, type TickState } from "./object-state.ts";

/** The keys of the state before `K_STATE`. */
export const LEGACY_KEYS = {
  progress: "progress",
  failures: "consecutiveFailures",
  lag: "lagHistory",
} as const;

/**
 * The state an object kept one key each, read with `get` (fresh where a key
 * is missing), and the keys found (to delete at the next write of the row).
 */
export async function loadLegacyState(
  get: <T>(key: string) => Promise<T | undefined>,
): Promise<{ state: TickState; found: string[] }> {
  const progress = await get<MirrorProgress>(LEGACY_KEYS.progress);
  const failures = await get<number>(LEGACY_KEYS.failures);
  const lag = await get<LagSample[]>(LEGACY_KEYS.lag);
  const found = { progress, failures, lag };
  return {
    state: {
      progress: progress ?? freshMirrorProgress(),
      failures: failures ?? 0,
      lagHistory: lag ?? [],
      durableObject: freshUsage(),
      push: freshPushStats(),
      costMarks: [],
    },
    found: (Object.keys(LEGACY_KEYS) as (keyof typeof LEGACY_KEYS)[])
      .filter((k) => found[k] !== undefined)
      .map((k) => LEGACY_KEYS[k]),
  };
}
