/**
 * The checkpoint mirror: copies a LaminarDB checkpoint root, in either
 * layout, to another store in an order in which a reader of the target never
 * finds it torn. The layout is the one the source holds, picked as `verify`
 * picks it (`detectCheckpointLayouts`: `state-v2/` when present, as
 * LaminarDB reads it, else the layout before it), on the first tick that
 * finds checkpoint state; what a pass copies, and in what order, is the
 * layout's:
 *
 * - `state-v2`: `StateV2Pass` (`state-v2/mirror.ts`): the namespace, each
 *   sealed attempt's objects then its `_SEAL`, the floor, the prune;
 * - the layout before it: `LegacyPass` (`legacy-mirror.ts`): per sealed
 *   epoch, its partials, commit descriptors and source offsets, then its
 *   `_COMMIT`; the target's epochs the source pruned, markers first.
 *
 * This module holds what the layouts share: the options (the table
 * mirror's, where they mean the same), the status, one budgeted `tick()`
 * (requests and bytes, as the table mirror's `TickBudget` counts them), so a
 * Durable Object alarm can drive it, the saved progress (bound to the pair of
 * stores and the layout, checked against the target before it is trusted:
 * `mirror-target.ts`), and `start()`, which runs ticks on a timer in-process.
 *
 * @module
 */

import { TidemarkError, toTidemarkError } from "../errors.ts";
import { TickBudget } from "../mirror/budget.ts";
import { TickLoop } from "../mirror/loop.ts";
import { MirrorMeters } from "../mirror/meters.ts";
import { type MirrorOptions, type MirrorSettings, mirrorSettings } from "../mirror/settings.ts";
import { backoffDelay } from "../store/retry.ts";
import { type ObjectStore, storeId } from "../store/types.ts";
import { detectCheckpointLayouts } from "./detect.ts";
import { LegacyPass } from "./legacy-mirror.ts";
import type { LayoutPass, PassContext } from "./mirror-pass.ts";
import {
  byEpoch,
  type CheckpointLayout,
  type CheckpointMirrorCounters,
  type CheckpointMirrorProgressStore,
  cloneCheckpointProgress,
  freshCheckpointProgress,
  type SkippedAttempt,
} from "./mirror-progress.ts";
import { StateV2Pass } from "./state-v2/mirror.ts";

/** Options of {@link CheckpointMirror}: the table mirror's, where they mean the same. */
export interface CheckpointMirrorOptions
  extends Pick<
    MirrorOptions,
    "pollIntervalMs" | "parallelism" | "budget" | "backoff" | "shutdownTimeoutMs" | "now" | "sleep"
  > {
  /** The checkpoint root LaminarDB writes (`state-v2/` under it, or `epoch={E}/` before it). */
  source: ObjectStore;
  /** Where the copy goes (in the source's layout). */
  target: ObjectStore;
  /** Where progress is kept (default: in memory, re-read from the target on the first tick). */
  progress?: CheckpointMirrorProgressStore;
  /**
   * Mirror only this layout: a source holding only the other is refused
   * (`NotSupported`, at the first tick). Default: the layout the source holds.
   */
  layout?: CheckpointLayout;
  /** Called with every failed tick's error. */
  onError?: (e: TidemarkError) => void;
}

/** A snapshot of a checkpoint mirror's state; see {@link CheckpointMirror.status}. */
export interface CheckpointMirrorStatus {
  /** The source's layout (`null`: no checkpoint state seen yet). */
  layout: CheckpointLayout | null;
  /** The newest source epoch handled (copied, or skipped). */
  through: string | null;
  /** The newest attempt (before state-v2: epoch) sealed on the target. */
  newestCopied: string | null;
  /** The newest epoch the source held at the last look (sealed or not). */
  sourceNewest: string | null;
  /** Source epochs above `through` (and above its floor) not handled yet, at the last look. */
  pending: number;
  /** Nothing left to do as of the last tick, which succeeded. */
  caughtUp: boolean;
  /**
   * `before_epoch` of each side's floor, and a source floor held back (why);
   * the layout before state-v2 has no floor (all `null`).
   */
  floor: { source: string | null; target: string | null; held: { before: string; because: string } | null };
  /** The attempt (epoch) being copied, and how many of its objects are on the target. */
  inProgress: { epoch: string; objects: number } | null;
  /** Source attempts (epochs) not copied, and why. */
  skipped: SkippedAttempt[];
  counters: CheckpointMirrorCounters;
  lastError: { message: string; atMs: number } | null;
  /** When to tick next: the poll interval when caught up, 0 when work remains, a backoff after a failure. */
  nextDelayMs: number;
}

/**
 * Mirrors a LaminarDB checkpoint root, in the layout it holds (see the
 * module). Drive it with `start()` (a timer loop; `kick()`, `shutdown()`) or
 * call `tick()` (a Durable Object alarm, rescheduling after
 * `status().nextDelayMs`).
 */
export class CheckpointMirror {
  readonly #meters: MirrorMeters;
  readonly #ctx: PassContext;
  readonly #settings: MirrorSettings;
  readonly #opts: CheckpointMirrorOptions;
  readonly #now: () => number;
  readonly #loop: TickLoop;
  /** The layout's pass, once the source showed its layout. */
  #pass: LayoutPass | undefined;
  /** Progress before the layout is known (counters, the last error). */
  #unknown = freshCheckpointProgress();
  #failureStreak = 0;
  #workRemains = false;
  #lastTickOk = false;
  #current: Promise<string | null> | undefined;

  /**
   * @throws TidemarkError `InvalidArgument` naming the option for a bad
   *   number or layout, or a missing store.
   */
  constructor(opts: CheckpointMirrorOptions) {
    if (!opts?.source || !opts.target) {
      throw new TidemarkError("InvalidArgument", "a CheckpointMirror needs a source and a target store");
    }
    if (opts.layout !== undefined && opts.layout !== "state-v2" && opts.layout !== "legacy") {
      throw new TidemarkError(
        "InvalidArgument",
        `layout must be "state-v2" or "legacy", not ${JSON.stringify(opts.layout)}`,
      );
    }
    this.#opts = opts;
    // The numbers mean what they mean for a table mirror: one validation (the progress store differs).
    const { progress: _progress, layout: _layout, ...shared } = opts;
    this.#settings = mirrorSettings(shared);
    this.#meters = new MirrorMeters(opts.source, opts.target);
    this.#ctx = {
      source: this.#meters.source,
      target: this.#meters.target,
      binding: { source: storeId(opts.source), target: storeId(opts.target) },
      settings: this.#settings,
      progress: opts.progress,
      closed: () => this.#closed,
    };
    this.#now = opts.now ?? (() => Date.now());
    this.#loop = new TickLoop({
      tick: () => this.tick(),
      nextDelayMs: () => this.status().nextDelayMs,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
  }

  get #progress() {
    return this.#pass?.target.progress ?? this.#unknown;
  }

  /** A copy of the mirror's state. */
  status(): CheckpointMirrorStatus {
    const p = cloneCheckpointProgress(this.#progress);
    const pass = this.#pass;
    const caughtUp = this.#lastTickOk && this.#failureStreak === 0 && !this.#workRemains;
    const newest = Object.keys(p.attempts).sort(byEpoch).at(-1);
    return {
      layout: pass?.layout ?? null,
      through: p.through,
      newestCopied: newest ?? null,
      sourceNewest: pass === undefined || pass.sourceNewest === null ? null : String(pass.sourceNewest),
      pending: pass?.pending ?? 0,
      caughtUp,
      floor: { source: pass?.sourceFloor ?? null, target: p.floor, held: p.heldFloor ?? null },
      inProgress: p.inProgress
        ? { epoch: p.inProgress.epoch, objects: Object.keys(p.inProgress.etags).length }
        : null,
      skipped: p.skipped,
      counters: p.counters,
      lastError: p.lastError ?? null,
      nextDelayMs: this.#nextDelayMs(caughtUp),
    };
  }

  #nextDelayMs(caughtUp: boolean): number {
    if (this.#failureStreak > 0) {
      const { baseDelayMs: base, maxDelayMs: max } = this.#settings.backoff;
      return Math.max(base, backoffDelay(this.#failureStreak, { baseDelayMs: base, maxDelayMs: max }));
    }
    return caughtUp ? this.#settings.pollIntervalMs : 0;
  }

  /**
   * One pass: copies what the source has and the target lacks, oldest
   * first, then the layout's floor and prune, within the budget. Concurrent
   * calls share one pass. Never throws: a failure is recorded
   * (`status().lastError`) and passed to `onError`; the next tick retries.
   *
   * @returns the newest source epoch handled after the pass.
   */
  tick(): Promise<string | null> {
    if (this.#current) return this.#current;
    if (this.#closed) return Promise.resolve(this.#progress.through);
    const run = this.#tick().finally(() => {
      this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #tick(): Promise<string | null> {
    const sentBefore = this.#meters.requestsSent();
    const budget = new TickBudget(this.#settings.budget, () => this.#meters.requestsSent() - sentBefore);
    let failed: TidemarkError | undefined;
    this.#workRemains = false;
    try {
      const pass = await this.#layoutPass();
      this.#workRemains = pass === undefined ? false : await pass.pass(budget);
      this.#failureStreak = 0;
      delete this.#progress.lastError;
    } catch (e) {
      failed = toTidemarkError(e);
      this.#failureStreak++;
      this.#progress.counters.failures++;
      this.#progress.lastError = { message: failed.message, atMs: this.#now() };
    }
    this.#lastTickOk = failed === undefined;
    this.#meters.addTo(this.#progress.counters);
    if (this.#pass?.target.initialised) {
      try {
        await this.#opts.progress?.save(cloneCheckpointProgress(this.#progress));
      } catch (e) {
        failed ??= toTidemarkError(e);
        this.#lastTickOk = false;
      }
    }
    if (failed) {
      try {
        this.#opts.onError?.(failed);
      } catch {
        // A throwing callback must not break the loop.
      }
    }
    return this.#progress.through;
  }

  /** The source's layout's pass, picked once the source holds checkpoint state (`undefined`: none yet). */
  async #layoutPass(): Promise<LayoutPass | undefined> {
    if (this.#pass) return this.#pass;
    const found = await detectCheckpointLayouts(this.#ctx.source);
    const layout: CheckpointLayout | undefined = found.stateV2
      ? "state-v2"
      : found.legacy
        ? "legacy"
        : undefined;
    if (layout === undefined) return undefined; // nothing to mirror yet
    const wanted = this.#opts.layout;
    if (wanted !== undefined && wanted !== layout) {
      throw new TidemarkError(
        "NotSupported",
        `the source ${this.#opts.source.name} holds ${describeLayout(layout)}; this mirror copies ${describeLayout(wanted)} only`,
      );
    }
    const pass = layout === "state-v2" ? new StateV2Pass(this.#ctx) : new LegacyPass(this.#ctx);
    // The totals so far (the detection's requests, failures) carry over.
    pass.target.progress.counters = this.#unknown.counters;
    this.#pass = pass;
    return pass;
  }

  /** Ticks as soon as possible (see `Mirror.kick`). */
  kick(): void {
    this.#loop.kick();
  }

  /** Starts the in-process loop: tick, wait `status().nextDelayMs` (or a kick), repeat. */
  start(): void {
    this.#loop.start();
  }

  /** Stops the loop; resolves once the tick in flight ended (or after `shutdownTimeoutMs`). Idempotent. */
  shutdown(): Promise<void> {
    return this.#loop.shutdown(this.#current, this.#settings.shutdownTimeoutMs);
  }

  /** Shut down for good: the loop is stopped (see {@link shutdown}). */
  get #closed(): boolean {
    return this.#loop.stopped;
  }
}

/** A layout, for messages. */
export function describeLayout(layout: CheckpointLayout): string {
  return layout === "state-v2"
    ? "LaminarDB's state-v2 layout (state-v2/)"
    : "the layout LaminarDB wrote before state-v2 (epoch=E/ at the root)";
}
