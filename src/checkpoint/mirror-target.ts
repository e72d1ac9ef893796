/**
 * What a checkpoint mirror instance knows of its target, in either layout,
 * and how it checks it before trusting it (as `MirrorTarget` does for
 * tables): saved progress is used only when bound to this source and target
 * and this layout, the target holds what the layout checks (`holds`: the
 * state-v2 namespace) and the newest seal progress says it copied; otherwise
 * the target itself says what it holds (`derive`). Before each tick of a
 * live instance one HEAD of that newest seal says whether the target is still
 * as believed; a wiped or swapped target is read again (`forget`).
 *
 * What a seal is, and what else a layout checks, is the layout's
 * ({@link TargetLayout}): `state-v2/mirror-target.ts` and `legacy-mirror.ts`.
 *
 * @module
 */

import { boundTo } from "../mirror/progress.ts";
import { exists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";
import {
  byEpoch,
  type CheckpointLayout,
  type CheckpointMirrorProgress,
  type CheckpointMirrorProgressStore,
  cloneCheckpointProgress,
  freshCheckpointProgress,
  layoutOf,
} from "./mirror-progress.ts";

/** The newest epoch of `attempts`, or `undefined`. */
export function newestOf(attempts: Record<string, unknown>): string | undefined {
  return Object.keys(attempts).sort(byEpoch).at(-1);
}

/**
 * One layout's side of {@link CheckpointTarget}; `C` is what the source
 * showed that the target is checked against (the state-v2 namespace's bytes).
 */
export interface TargetLayout<C> {
  readonly layout: CheckpointLayout;
  /** The key whose presence says `epoch` is sealed on the target. */
  sealKey(epoch: string): string;
  /**
   * Whether the target holds what saved progress `p` (bound to this pair)
   * says, its newest seal aside.
   *
   * @throws TidemarkError `SplitBrain` for a target holding another deployment's state.
   */
  holds(p: CheckpointMirrorProgress, c: C): Promise<boolean>;
  /** With no seal copied yet: whether the target is still as `p` says (one request at most). */
  believedEmpty(p: CheckpointMirrorProgress): Promise<boolean>;
  /**
   * Fills `p` (fresh, counters carried) with what the target holds.
   *
   * @throws TidemarkError `SplitBrain`, `NotSupported` or `Corrupt` for a
   *   target that is not (and cannot become) a copy of this source.
   */
  derive(p: CheckpointMirrorProgress, c: C): Promise<void>;
}

/** A checkpoint mirror's view of its target. */
export class CheckpointTarget<C> {
  readonly #store: ObjectStore;
  readonly #binding: { source: string; target: string };
  readonly #saved: CheckpointMirrorProgressStore | undefined;
  readonly #layout: TargetLayout<C>;
  progress: CheckpointMirrorProgress;
  /** `init()` ran: `progress` is what the target was checked to hold. */
  initialised = false;
  /** `progress` was read from the target, not saved progress: what the mirror passed unsealed is unknown. */
  derived = false;

  constructor(
    store: ObjectStore,
    binding: { source: string; target: string },
    saved: CheckpointMirrorProgressStore | undefined,
    layout: TargetLayout<C>,
  ) {
    this.#store = store;
    this.#binding = binding;
    this.#saved = saved;
    this.#layout = layout;
    this.progress = freshCheckpointProgress(binding, layout.layout);
  }

  /**
   * Loads saved progress once, trusted only when bound to this pair and
   * layout, the target holds what the layout checks, and the newest seal
   * progress names; else reads the target.
   *
   * @throws TidemarkError as the layout's `holds` and `derive`.
   */
  async init(c: C): Promise<void> {
    if (this.initialised) return;
    const saved = await this.#saved?.load();
    if (
      saved &&
      boundTo(saved, this.#binding) &&
      layoutOf(saved) === this.#layout.layout &&
      (await this.#layout.holds(saved, c)) &&
      (await this.#hasNewest(saved))
    ) {
      this.progress = cloneCheckpointProgress(saved);
      this.progress.unsealed ??= [];
    } else {
      // Without saved progress, the totals so far (ticks before this one) carry over.
      await this.#derive(c, saved ?? this.progress);
    }
    this.initialised = true;
  }

  async #hasNewest(p: CheckpointMirrorProgress): Promise<boolean> {
    const newest = newestOf(p.attempts);
    return newest === undefined || (await exists(this.#store, this.#layout.sealKey(newest)));
  }

  /** Before a tick of an instance that ticked before: one HEAD of the newest seal copied (else the layout's check). */
  async asBelieved(): Promise<boolean> {
    const newest = newestOf(this.progress.attempts);
    if (newest !== undefined) return exists(this.#store, this.#layout.sealKey(newest));
    return this.#layout.believedEmpty(this.progress);
  }

  /** Drops what this instance believed; the target says what it holds. */
  async forget(c: C): Promise<void> {
    await this.#derive(c, this.progress);
  }

  async #derive(c: C, previous: CheckpointMirrorProgress | undefined): Promise<void> {
    this.derived = true;
    const p = freshCheckpointProgress(this.#binding, this.#layout.layout);
    // The running totals describe this mirror, not the target: keep them.
    if (previous) p.counters = cloneCheckpointProgress(previous).counters;
    await this.#layout.derive(p, c);
    this.progress = p;
  }
}
