/**
 * The retention part of a `MirrorObject`'s status. The mirror knows what its
 * last pass found (oldest version retained, versions kept, bytes retained)
 * only in memory, and its totals (bytes freed, versions expired) in its
 * progress: so each tick's figures are saved with the object's state (in its
 * one row, bound to the target they are about) and reported until a pass of
 * the running instance replaces them, after an eviction or a deploy too.
 */
import { type RetentionStatus, type RetentionTotals, zeroRetentionTotals } from "../src/mirror/retention.ts";
import { bindingOf, type TableSetup } from "./config.ts";

/** A retention status saved with the object's state, and the target (its store id) it is about. */
export interface SavedRetention {
  target: string;
  status: RetentionStatus;
}

/**
 * What to save after a tick: the live status once a pass of this instance
 * ended (it knows the target's window), else what was saved before.
 */
export function retentionToSave(
  live: RetentionStatus | undefined,
  setup: TableSetup,
  saved: SavedRetention | undefined,
): SavedRetention | undefined {
  if (live !== undefined && live.lastPassAtMs !== null) {
    return { target: bindingOf(setup).target, status: structuredClone(live) };
  }
  return saved;
}

/**
 * The status's `retention` key (absent without a policy or a configuration):
 * the live figures once a pass of this instance ended, else the saved ones
 * of the same target with the totals of the progress (which the mirror
 * keeps across instances).
 */
export function retentionPart(
  setup: TableSetup | undefined,
  live: RetentionStatus | undefined,
  saved: SavedRetention | undefined,
  totals: RetentionTotals | undefined,
): { retention?: RetentionStatus } {
  // A setup's retention was checked when it was opened: the mirror runs it exactly when it is set.
  if (setup === undefined || setup.config.retention === undefined) return {};
  if (live !== undefined && live.lastPassAtMs !== null) return { retention: structuredClone(live) };
  const base: Omit<RetentionStatus, "totals"> =
    saved !== undefined && saved.target === bindingOf(setup).target
      ? saved.status
      : { oldestRetained: 0, versionsKept: 0, bytesRetained: 0, waiting: 0, lastPassAtMs: null };
  return {
    retention: {
      oldestRetained: base.oldestRetained,
      versionsKept: base.versionsKept,
      bytesRetained: base.bytesRetained,
      waiting: base.waiting,
      lastPassAtMs: base.lastPassAtMs,
      totals: { ...(live?.totals ?? totals ?? zeroRetentionTotals()) },
    },
  };
}
