import { advanceLowWater } from "../catalog/layout.ts";
import { safetyGate } from "../doctor/safe-store.ts";
import { TidemarkError, toTidemarkError } from "../errors.ts";
import { type IcebergView, icebergViews, VIEW_VERSION_REQUESTS } from "../iceberg/view.ts";
import { checkNumber, MAX_TIMER_MS } from "../options.ts";
import type { MeteredStore } from "../store/metered.ts";
import { backoffDelay } from "../store/retry.ts";
import { capabilitiesOf, type ObjectStore, storeId } from "../store/types.ts";
import { TickBudget } from "./budget.ts";
import { type LagAlert, LagAlerts, LagClock } from "./lag.ts";
import { isFatalMirrorError, TickLoop } from "./loop.ts";
import { MirrorMeters } from "./meters.ts";
import {
  cloneProgress,
  freshMirrorProgress,
  handledThrough,
  type MirrorCounters,
  type MirrorGap,
  type MirrorProgress,
  type MirrorProgressStore,
} from "./progress.ts";
import {
  lockingWrites,
  MirrorRetention,
  type RetentionSettings,
  retentionSettings,
  zeroRetentionTotals,
} from "./retention.ts";
import { type MirrorOptions, type MirrorSettings, type MirrorStatus, mirrorSettings } from "./settings.ts";
import { MirrorSource } from "./source.ts";
import { MirrorTarget } from "./target.ts";
import { MirrorVersions } from "./versions.ts";
import { Waiters } from "./waiters.ts";

export type {
  LagAlert,
  MirrorCounters,
  MirrorGap,
  MirrorOptions,
  MirrorProgress,
  MirrorProgressStore,
  MirrorStatus,
};
export { freshMirrorProgress };

/**
 * The mirror loop: copies every snapshot of `source` (either layout) to
 * `target` (always the object-store layout) in order,
 * without gaps while the source still has the intermediate manifests (so time
 * travel works on the mirror), uploading only the files the previous mirrored
 * snapshot lacked, so one snapshot costs O(new files), not O(live files).
 *
 * Drive it with `start()` (Node, Deno: a timer loop, `kick()` to tick now,
 * `shutdown()` to stop) or call `tick()` yourself (the Durable Object, from
 * its alarm, rescheduling after `status().nextDelayMs`).
 *
 * What it guarantees (see docs/layout.md):
 * - a reader of the target never meets a manifest whose files are not there
 *   with the source's bytes: files go first, and a file already on the target
 *   is accepted only when proven the source's (never on size alone);
 * - a version is mirrored only when it is the source's HEAD or its successor
 *   was built on it, so a leftover or a withdrawn stale commit below the
 *   source's GC boundary is never copied; versions the source no longer has
 *   (expired, or whose files were deleted) become recorded gaps, never a stall;
 * - saved progress is bound to the source's and target's identity and checked
 *   against the target before it is trusted;
 * - lag is measured on the mirror's clock, and grows while ticks fail.
 *
 * Improvements over merutable's worker: lag is the age of the oldest source
 * commit not yet mirrored (0 on an idle primary, not "time since the last
 * upload"); every snapshot is mirrored, not just the latest; a manifest
 * conflict with different bytes is `SplitBrain`; a tick costs two HEADs and a
 * GET on an idle object-store source, one GET (`version-hint.text`) on an
 * idle posix source; low_water is written once per tick, not once per snapshot
 * (R2 allows about one write per second per key), except right after a gap.
 */
export class Mirror {
  /** The source's table and HEAD as last seen. */
  readonly #source: MirrorSource;
  /** Both stores, metered: the budget's and the counters' view of the requests. */
  readonly #meters: MirrorMeters;
  readonly #targetStore: MeteredStore;
  readonly #settings: MirrorSettings;
  readonly #opts: MirrorOptions;
  readonly #now: () => number;
  readonly #safe: () => Promise<void>;

  /** What this instance knows of the target, its progress included. */
  readonly #target: MirrorTarget;
  readonly #lag: LagClock;
  #failureStreak = 0;
  #workRemains = false;
  readonly #alerts: LagAlerts;

  #current: Promise<number> | undefined;
  readonly #loop: TickLoop;
  readonly #waiters = new Waiters();
  #fatal: TidemarkError | undefined;
  /** Iceberg views written after each version (the `iceberg` option). */
  readonly #views: IcebergView[];
  /** The retention policy (the `retention` option), run after each tick's versions are published. */
  readonly #retention: MirrorRetention | undefined;
  /** The versions of each tick: found, proven, copied or recorded as gaps. */
  readonly #versions: MirrorVersions;

  /**
   * @throws TidemarkError `InvalidArgument` naming the option for a bad
   *   number (`NaN`, `Infinity` where no limit makes no sense, a fraction, a
   *   negative) or a missing store.
   */
  constructor(opts: MirrorOptions) {
    if (!opts?.source || !opts.target) {
      throw new TidemarkError("InvalidArgument", "a Mirror needs a source and a target store");
    }
    this.#opts = opts;
    this.#settings = mirrorSettings(opts);
    // Bodies pass through untouched: bytes are counted as asked, not per chunk on the copy path.
    this.#meters = new MirrorMeters(opts.source, opts.target);
    this.#source = new MirrorSource(this.#meters.source);
    this.#targetStore = this.#meters.target;
    const binding = { source: storeId(opts.source), target: storeId(opts.target) };
    this.#target = new MirrorTarget(this.#targetStore, binding, opts.progress);
    this.#views = icebergViews(this.#targetStore, opts.iceberg);
    this.#now = opts.now ?? (() => Date.now());
    const retention: RetentionSettings | undefined = retentionSettings(opts.retention, opts.lock);
    this.#retention =
      retention !== undefined && opts.retention !== undefined
        ? new MirrorRetention(retention, this.#now)
        : undefined;
    // Where copies and manifests are written: the target, with `lock`'s retention on each.
    let copyTarget: ObjectStore = this.#targetStore;
    if (opts.lock !== undefined && retention?.lockMs !== undefined) {
      if (!capabilitiesOf(opts.target).objectLock) {
        throw new TidemarkError(
          "NotSupported",
          `lock: the target ${opts.target.name} cannot keep an Object Lock retention (an S3 bucket created with Object Lock can)`,
        );
      }
      copyTarget = lockingWrites(this.#targetStore, opts.lock.mode, retention.lockMs, this.#now);
    }
    this.#lag = new LagClock(this.#now);
    this.#versions = new MirrorVersions({
      sourceStore: this.#meters.source,
      source: this.#source,
      target: this.#target,
      copyTarget,
      sourceId: binding.source,
      settings: this.#settings,
      sha256: opts.sha256,
      lag: this.#lag,
      retention: this.#retention,
      views: this.#views,
      closed: () => this.#closed,
      settle: () => this.#settleWaiters(),
    });
    this.#alerts = new LagAlerts(this.#settings.lagAlertSecs, this.#now, opts.onLagAlert);
    this.#safe = safetyGate(opts.requireSafeStore, opts.target, "mirror", "Mirror target");
    this.#loop = new TickLoop({
      tick: () => this.tick(),
      nextDelayMs: () => this.status().nextDelayMs,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
  }

  /** The last version fully mirrored (0: none yet). */
  get mirrorSeq(): number {
    return this.#target.progress.mirrorSeq;
  }

  /**
   * Seconds since the oldest source commit that is not mirrored yet, on the
   * mirror's clock (see `LagClock`: a writer's clock is clamped to when the
   * mirror saw the version appear); 0 when caught up; while ticks fail, at
   * least the time since the last successful look at the source; `null`
   * before the first tick. An idle primary has lag 0, however long ago its
   * last commit.
   */
  lagSeconds(): number | null {
    const ms = this.#lag.lagMs(handledThrough(this.#target.progress));
    return ms === null ? null : ms / 1000;
  }

  /** A copy of the mirror's state. */
  status(): MirrorStatus {
    const p = cloneProgress(this.#target.progress);
    const caughtUp = this.#caughtUp();
    return {
      mirrorSeq: p.mirrorSeq,
      sourceHead: this.#source.head,
      caughtUp,
      lagSeconds: this.lagSeconds(),
      inProgress: p.inProgress
        ? { version: p.inProgress.version, uploaded: p.inProgress.uploaded.length }
        : null,
      counters: p.counters,
      lastError: p.lastError ?? null,
      gaps: p.gaps,
      nextDelayMs: this.#nextDelayMs(caughtUp),
      ...(this.#views.length > 0 ? { iceberg: this.#views.map((v) => v.snapshotStatus()) } : {}),
      ...(this.#retention
        ? { retention: this.#retention.status(p.counters.retention ?? zeroRetentionTotals()) }
        : {}),
    };
  }

  /** Every source version up to the last HEAD seen is mirrored or skipped, and the last tick did not fail. */
  #caughtUp(): boolean {
    return (
      this.#source.head !== null &&
      this.#failureStreak === 0 &&
      !this.#workRemains &&
      handledThrough(this.#target.progress) >= this.#source.head
    );
  }

  #nextDelayMs(caughtUp: boolean): number {
    if (this.#failureStreak > 0) {
      const { baseDelayMs: base, maxDelayMs: max } = this.#settings.backoff;
      return Math.max(base, backoffDelay(this.#failureStreak, { baseDelayMs: base, maxDelayMs: max }));
    }
    return this.#workRemains || !caughtUp ? 0 : this.#settings.pollIntervalMs;
  }

  /**
   * One pass: finds the source HEAD, then mirrors the versions after the
   * last one handled, in order, until caught up, the budget is spent, or
   * `shutdown()` is called; saves progress. Concurrent calls share one pass.
   *
   * Never throws: a failure is recorded (`status().lastError`,
   * `counters.failures`), passed to `onError`, and makes `nextDelayMs` a
   * backoff; the next tick retries. A `SplitBrain` additionally rejects every
   * pending `awaitMirror` with it.
   *
   * @returns `mirrorSeq` after the pass.
   */
  tick(): Promise<number> {
    if (this.#current) return this.#current;
    if (this.#closed) return Promise.resolve(this.#target.progress.mirrorSeq);
    const run = this.#tick().finally(() => {
      this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #tick(): Promise<number> {
    const sentBefore = this.#meters.requestsSent();
    const budget = new TickBudget(this.#settings.budget, () => this.#meters.requestsSent() - sentBefore);
    let failed: TidemarkError | undefined;
    try {
      await this.#safe();
      this.#workRemains = false;
      if (await this.#versions.mirrorPending(budget)) this.#workRemains = true;
      if (this.#target.lowWaterDirty && this.#target.progress.mirrorSeq > 0) {
        await advanceLowWater(this.#targetStore, this.#target.progress.mirrorSeq);
        this.#target.lowWaterDirty = false;
      }
      await this.#updateViews(budget);
      await this.#retain(budget);
      this.#failureStreak = 0;
      this.#fatal = undefined;
      delete this.#target.progress.lastError;
    } catch (e) {
      failed = toTidemarkError(e);
      this.#failureStreak++;
      this.#target.progress.counters.failures++;
      this.#target.progress.lastError = { message: failed.message, atMs: this.#now() };
    }
    this.#meters.addTo(this.#target.progress.counters);
    const check = this.#lag.lastCheck;
    if (check) this.#target.progress.lastSourceCheck = check;
    if (this.#target.initialised) {
      try {
        await this.#opts.progress?.save(cloneProgress(this.#target.progress));
      } catch (e) {
        failed ??= toTidemarkError(e);
      }
    }
    this.#lag.tickEnded(failed === undefined);
    this.#alerts.check(this.lagSeconds(), this.#target.progress.mirrorSeq, this.#source.head ?? 0);
    if (failed) {
      if (isFatalMirrorError(failed)) {
        this.#fatal = failed;
        this.#rejectAll(failed);
      }
      try {
        this.#opts.onError?.(failed);
      } catch {
        // A throwing callback must not break the loop.
      }
    }
    return this.#target.progress.mirrorSeq;
  }

  /**
   * The Iceberg views follow the versions published (files, manifest,
   * low_water), within the tick's budget: a view left behind catches up on
   * the next tick.
   */
  async #updateViews(budget: TickBudget): Promise<void> {
    for (const view of this.#views) {
      const r = await view.update({
        through: this.#target.progress.mirrorSeq,
        // Requests are counted as they are sent: the reservation only asks whether a version fits.
        shouldContinue: () => {
          if (this.#closed || !budget.begin(VIEW_VERSION_REQUESTS, 0, false)) return false;
          budget.end(VIEW_VERSION_REQUESTS, 0, 0);
          return true;
        },
        onVersion: () => budget.progressed(),
      });
      if (!r.complete) this.#workRemains = true;
    }
  }

  /**
   * The retention pass, once the tick's versions are published (low_water
   * written): within the tick's budget; a pass the budget stops goes on at
   * the next tick. A delete the store refuses (an Object Lock not released)
   * waits, never fails the tick; a store error does (retried).
   */
  async #retain(budget: TickBudget): Promise<void> {
    const retention = this.#retention;
    if (retention === undefined || this.#target.lowWaterDirty || this.#closed) return;
    const p = this.#target.progress;
    p.counters.retention ??= zeroRetentionTotals();
    // Each view's snapshots hold their versions: retention never expires what a view still lists.
    const views = await Promise.all(this.#views.map((v) => v.oldestSnapshot()));
    const done = await retention.pass({
      target: this.#targetStore,
      head: p.mirrorSeq,
      protect: p.inProgress?.uploaded ?? [],
      skipPrefixes: this.#views.map((v) => v.where.prefix),
      ...(views.length > 0 ? { holdFrom: Math.min(...views) } : {}),
      // Requests are counted as they are sent: the reservation only asks whether a step fits.
      // A step that ran is progress: the tick's first step always may, the next ones must fit.
      fits: (n) => {
        if (this.#closed || !budget.begin(n, 0, false)) return false;
        budget.end(n, 0, 0);
        budget.progressed();
        return true;
      },
      requestsSent: () => this.#meters.requestsSent(),
      totals: p.counters.retention,
    });
    if (!done) this.#workRemains = true;
  }

  /**
   * Resolves with `mirrorSeq` once `version` (default: the source HEAD at the
   * time of the call) is mirrored or skipped as a gap, kicking the loop. The
   * waiter is registered before the kick, so an advance in between is never
   * missed.
   *
   * @throws TidemarkError `InvalidArgument` for a bad version or timeout;
   *   `Transient` after `timeoutMs`, or when the mirror shuts down first;
   *   `SplitBrain` when mirroring hits one; store errors from reading the
   *   source HEAD.
   */
  awaitMirror(version?: number, opts: { timeoutMs?: number } = {}): Promise<number> {
    try {
      if (version !== undefined) checkNumber("version", version, { min: 0 });
      if (opts.timeoutMs !== undefined)
        checkNumber("timeoutMs", opts.timeoutMs, { min: 0, max: MAX_TIMER_MS });
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#closed) return Promise.reject(this.#closedError(version));
    if (this.#fatal) return Promise.reject(this.#fatal);
    const waiter = this.#waiters.add(
      version,
      opts.timeoutMs,
      (w) =>
        new TidemarkError(
          "Transient",
          `awaitMirror(${w.version ?? "HEAD"}): timed out after ${opts.timeoutMs} ms at mirrorSeq ${this.mirrorSeq}`,
        ),
    );
    if (version === undefined) {
      this.#versions.findHead().then(
        (head) => {
          waiter.version = head;
          this.#settleWaiters();
        },
        (e: unknown) => this.#waiters.reject(waiter, toTidemarkError(e)),
      );
    } else {
      this.#settleWaiters();
    }
    this.kick();
    return waiter.promise;
  }

  #closedError(version: number | undefined): TidemarkError {
    return new TidemarkError(
      "Transient",
      `awaitMirror(${version ?? "HEAD"}): the mirror shut down at mirrorSeq ${this.mirrorSeq}`,
    );
  }

  #settleWaiters(): void {
    // Only once the target's history is known to be the source's.
    if (this.#target.verified)
      this.#waiters.settle(handledThrough(this.#target.progress), this.#target.progress.mirrorSeq);
  }

  #rejectAll(e: TidemarkError): void {
    this.#waiters.rejectAll(() => e);
  }

  /**
   * Ticks as soon as possible: wakes the `start()` loop (or makes it tick
   * again right after the tick in flight). Without `start()`, it does
   * nothing: whoever drives `tick()` (the Durable Object) schedules it.
   */
  kick(): void {
    this.#loop.kick();
  }

  /** Starts the loop: tick, wait `status().nextDelayMs` (or a kick), repeat, until `shutdown()`. */
  start(): void {
    this.#loop.start();
  }

  /**
   * Stops the loop: no new step starts (copies in flight finish), pending
   * `awaitMirror` calls reject with `Transient`, and the returned promise
   * resolves once the tick in flight has ended (or after
   * `shutdownTimeoutMs`). No timer of the mirror's outlives it. Idempotent.
   */
  shutdown(): Promise<void> {
    if (!this.#closed) this.#waiters.rejectAll((w) => this.#closedError(w.version));
    return this.#loop.shutdown(this.#current, this.#settings.shutdownTimeoutMs);
  }

  /** Shut down for good: the loop is stopped (see {@link shutdown}). */
  get #closed(): boolean {
    return this.#loop.stopped;
  }
}
