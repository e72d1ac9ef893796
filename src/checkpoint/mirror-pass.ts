/**
 * What the checkpoint mirror (`mirror.ts`) asks of a layout's pass, and the
 * walk over the source's epochs both layouts share: each epoch once, in
 * order; one sealed and copied (or skipped) is not read again; one not
 * sealed yet is looked at again each tick until it is sealed or gone (below
 * the floor, or pruned), since LaminarDB may seal it late.
 *
 * @module
 */

import { FILE_REQUESTS, type TickBudget } from "../mirror/budget.ts";
import type { MirrorSettings } from "../mirror/settings.ts";
import { forEachLimit } from "../store/batch.ts";
import type { ObjectMeta, ObjectStore } from "../store/types.ts";
import {
  type CheckpointLayout,
  type CheckpointMirrorProgress,
  type CheckpointMirrorProgressStore,
  SKIPPED_KEPT,
} from "./mirror-progress.ts";

/** What a layout's pass is given by the mirror. */
export interface PassContext {
  /** The source and target, metered by the mirror. */
  source: ObjectStore;
  target: ObjectStore;
  /** `storeId` of the source and of the target, as progress is bound to them. */
  binding: { source: string; target: string };
  settings: MirrorSettings;
  progress: CheckpointMirrorProgressStore | undefined;
  /** The mirror is shutting down: start nothing new. */
  closed: () => boolean;
}

/** One layout's budgeted pass, and what it saw of the source. */
export interface LayoutPass {
  readonly layout: CheckpointLayout;
  /** The mirror's view of its target (`progress` is what is saved). */
  readonly target: { readonly progress: CheckpointMirrorProgress; readonly initialised: boolean };
  /**
   * Copies what the source has and the target lacks, within `budget`.
   *
   * @returns whether work remains (the budget ran out, or a shutdown began).
   */
  pass(budget: TickBudget): Promise<boolean>;
  /** The source's newest epoch at the last look (sealed or not). */
  readonly sourceNewest: bigint | null;
  /** Source epochs not handled yet, at the last look. */
  readonly pending: number;
  /** `before_epoch` of the source's floor (state-v2), else `null`. */
  readonly sourceFloor: string | null;
}

/** What handling one source epoch came to. */
export type EpochOutcome = "copied" | "skipped" | "unsealed" | "incomplete";

/** Records that the source's `epoch` is not copied, and why (the last {@link SKIPPED_KEPT}). */
export function recordSkip(p: CheckpointMirrorProgress, epoch: bigint, reason: string): "skipped" {
  p.skipped.push({ epoch: String(epoch), reason });
  if (p.skipped.length > SKIPPED_KEPT) p.skipped.splice(0, p.skipped.length - SKIPPED_KEPT);
  delete p.inProgress;
  return "skipped";
}

/** How {@link walkEpochs} handles each epoch. */
export interface EpochWalk {
  /** Requests an epoch reserves besides its objects. */
  requests: number;
  closed: () => boolean;
  handle: (epoch: bigint) => Promise<EpochOutcome>;
  /** Called with the number of epochs pending, then after each one handled. */
  pending: (n: number) => void;
}

/**
 * Walks the source's epochs (`epochs`, ascending) at or above `before` that
 * progress has not handled, oldest first, within `budget`; records each
 * outcome in `t.progress` at once (a tick that fails later must not forget an
 * epoch it passed).
 *
 * @returns whether work remains.
 */
export async function walkEpochs(
  t: { progress: CheckpointMirrorProgress; derived: boolean },
  epochs: readonly bigint[],
  before: bigint,
  budget: TickBudget,
  w: EpochWalk,
): Promise<boolean> {
  const p = t.progress;
  const through = p.through === null ? -1n : BigInt(p.through);
  const listed = new Set(epochs);
  if (t.derived) {
    // Progress read from the target: every source epoch below it that the target lacks is looked at once more.
    p.unsealed = epochs.filter((e) => e < through && p.attempts[String(e)] === undefined).map(String);
    t.derived = false;
  }
  p.unsealed = p.unsealed.filter((e) => BigInt(e) >= before && listed.has(BigInt(e)));
  // Each epoch once, in order (an unsealed one is in both lists until it is handled).
  const pending = [
    ...new Set([...p.unsealed.map(BigInt), ...epochs.filter((e) => e > through && e >= before)]),
  ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let left = pending.length;
  w.pending(left);
  for (const e of pending) {
    if (w.closed() || !budget.begin(w.requests, 0, false)) return true;
    let outcome: EpochOutcome;
    try {
      outcome = await w.handle(e);
    } finally {
      budget.end(w.requests, 0, 0);
    }
    if (outcome === "incomplete") return true;
    w.pending(--left);
    const i = p.unsealed.indexOf(String(e));
    if (outcome === "unsealed") {
      if (i < 0) p.unsealed.push(String(e));
      continue;
    }
    if (i >= 0) p.unsealed.splice(i, 1);
    if (p.through === null || e > BigInt(p.through)) p.through = String(e);
    budget.progressed();
  }
  return false;
}

/**
 * Copies the objects of source epoch `epoch` (under `prefix`) the target
 * lacks, `parallelism` at once within `budget`: one LIST of the target, then
 * `copy` for each object not copied and proven by this mirror already (its
 * etag on the target recorded in `p.inProgress`, which survives a tick cut
 * short), counting each in `p`'s counters. An error `stop` claims ends the
 * copying quietly (the caller decides what it means); any other is thrown.
 *
 * @returns `complete`: every object is on the target (false: the budget, a
 *   shutdown or a claimed error cut it short); `onTarget`: the target's listing.
 */
export async function copyEpochObjects<O extends { key: string; size: number }>(
  ctx: PassContext,
  p: CheckpointMirrorProgress,
  epoch: bigint,
  prefix: string,
  objects: readonly O[],
  budget: TickBudget,
  copy: (o: O, onTarget: ObjectMeta | undefined) => Promise<{ copied: number | undefined; etag: string }>,
  stop: (e: unknown) => boolean = () => false,
): Promise<{ complete: boolean; onTarget: Map<string, ObjectMeta> }> {
  if (p.inProgress?.epoch !== String(epoch)) p.inProgress = { epoch: String(epoch), etags: {} };
  const etags = p.inProgress.etags;
  const onTarget = new Map<string, ObjectMeta>();
  for await (const m of ctx.target.list(prefix)) onTarget.set(m.key, m);
  let complete = true;
  // Copied and checked by this mirror (this instance, or saved progress) and still there: not read again.
  const todo = objects.filter((o) => {
    const there = onTarget.get(o.key);
    return there === undefined || etags[o.key] !== there.etag;
  });
  await forEachLimit(todo, ctx.settings.parallelism, async (o) => {
    if (!complete || ctx.closed() || !budget.begin(FILE_REQUESTS, o.size)) {
      complete = false;
      return;
    }
    let moved = 0;
    try {
      const r = await copy(o, onTarget.get(o.key));
      etags[o.key] = r.etag;
      if (r.copied === undefined) p.counters.foundObjects++;
      else {
        p.counters.objects++;
        p.counters.bytes += r.copied;
        moved = r.copied;
      }
    } catch (e) {
      if (!stop(e)) throw e;
      complete = false;
    } finally {
      budget.end(FILE_REQUESTS, o.size, moved);
    }
  });
  return { complete, onTarget };
}
