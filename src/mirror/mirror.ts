import { builtOn, type ManifestFile } from "../catalog/chain.ts";
import { advanceLowWater, manifestKey } from "../catalog/layout.ts";
import { safetyGate } from "../doctor/safe-store.ts";
import { type ErrorCode, isTidemarkError, TidemarkError, toTidemarkError } from "../errors.ts";
import { type IcebergView, icebergViews, VIEW_VERSION_REQUESTS } from "../iceberg/view.ts";
import type { LiveFile } from "../manifest/live.ts";
import { checkNumber, MAX_TIMER_MS } from "../options.ts";
import type { MeteredStore } from "../store/metered.ts";
import { backoffDelay } from "../store/retry.ts";
import { capabilitiesOf, type ObjectStore, storeId } from "../store/types.ts";
import { FILE_REQUESTS, SNAPSHOT_REQUESTS, TickBudget } from "./budget.ts";
import { type LagAlert, LagAlerts, LagClock } from "./lag.ts";
import { TickLoop } from "./loop.ts";
import { MirrorMeters } from "./meters.ts";
import { nextExisting } from "./probe.ts";
import {
  cloneProgress,
  freshMirrorProgress,
  handledThrough,
  type MirrorCounters,
  type MirrorGap,
  type MirrorProgress,
  type MirrorProgressStore,
  recordGap,
  rewindGaps,
} from "./progress.ts";
import {
  lockingWrites,
  MirrorRetention,
  type RetentionSettings,
  retentionSettings,
  zeroRetentionTotals,
} from "./retention.ts";
import { type MirrorOptions, type MirrorSettings, type MirrorStatus, mirrorSettings } from "./settings.ts";
import { mirrorSnapshot } from "./snapshot.ts";
import { MirrorSource, sameTable } from "./source.ts";
import { MirrorTarget } from "./target.ts";
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
 * The codes of mirror failures that no retry can fix, the one definition
 * `Mirror` and `tidemark mirror` share: `SplitBrain` (the target holds
 * another history, or the source's history was rewritten under the
 * mirror), `NotSupported` (a posix target, a store that cannot do what the
 * mirror needs), `StaleVersion` (fenced off by a newer writer). Every other
 * failure (`Transient`, `NotFound`: a late manifest, a source that is gone
 * for now; `PermissionDenied`, `Corrupt`...) is retried at the next tick.
 */
export const FATAL_MIRROR_CODES: readonly ErrorCode[] = ["SplitBrain", "NotSupported", "StaleVersion"];

/**
 * Whether a mirror failure is fatal (see {@link FATAL_MIRROR_CODES}): `Mirror`
 * rejects every pending `awaitMirror` with it (and new ones at once until a
 * tick succeeds); `tidemark mirror --watch` exits with it.
 */
export function isFatalMirrorError(e: unknown): boolean {
  return FATAL_MIRROR_CODES.some((code) => isTidemarkError(e, code));
}

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
  readonly #sourceStore: MeteredStore;
  /** The source's table and HEAD as last seen. */
  readonly #source: MirrorSource;
  /** Both stores, metered: the budget's and the counters' view of the requests. */
  readonly #meters: MirrorMeters;
  readonly #targetStore: MeteredStore;
  readonly #binding: { source: string; target: string };
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
  #closed = false;
  #shutdown: Promise<void> | undefined;
  readonly #waiters = new Waiters();
  #fatal: TidemarkError | undefined;
  /** Iceberg views written after each version (the `iceberg` option). */
  readonly #views: IcebergView[];
  /** The retention policy (the `retention` option), run after each tick's versions are published. */
  readonly #retention: MirrorRetention | undefined;
  /** Where copies and manifests are written: the target, with `lock`'s retention on each. */
  readonly #copyTarget: ObjectStore;

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
    this.#sourceStore = this.#meters.source;
    this.#source = new MirrorSource(this.#sourceStore);
    this.#targetStore = this.#meters.target;
    this.#binding = { source: storeId(opts.source), target: storeId(opts.target) };
    this.#target = new MirrorTarget(this.#targetStore, this.#binding, opts.progress);
    this.#views = icebergViews(this.#targetStore, opts.iceberg);
    this.#now = opts.now ?? (() => Date.now());
    const retention: RetentionSettings | undefined = retentionSettings(opts.retention, opts.lock);
    this.#retention =
      retention !== undefined && opts.retention !== undefined
        ? new MirrorRetention(retention, this.#now)
        : undefined;
    if (opts.lock !== undefined && retention?.lockMs !== undefined) {
      if (!capabilitiesOf(opts.target).objectLock) {
        throw new TidemarkError(
          "NotSupported",
          `lock: the target ${opts.target.name} cannot keep an Object Lock retention (an S3 bucket created with Object Lock can)`,
        );
      }
      this.#copyTarget = lockingWrites(this.#targetStore, opts.lock.mode, retention.lockMs, this.#now);
    } else {
      this.#copyTarget = this.#targetStore;
    }
    this.#lag = new LagClock(this.#now);
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
      await this.#mirrorPending(budget);
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
   * Before the first write: is the target's last mirrored snapshot the
   * source's? (Another table mirrored here first, or the source was
   * recreated.) One GET on each side, once per instance.
   */
  async #checkSameHistory(head: number): Promise<void> {
    const seq = this.#target.progress.mirrorSeq;
    if (seq > 0) {
      if (seq > head) {
        throw new TidemarkError(
          "SplitBrain",
          `the target is at v${seq}, past the source's HEAD v${head}: it mirrors another history`,
        );
      }
      const ours = await this.#target.previousManifest(seq);
      if (ours) {
        if (!(await this.#source.sameAs(ours, head))) {
          throw new TidemarkError(
            "SplitBrain",
            `the target's v${seq} is not the source's v${seq}: another history was mirrored here`,
            { key: manifestKey(seq) },
          );
        }
      }
    }
    this.#target.verified = true;
    this.#settleWaiters();
  }

  /**
   * The source's HEAD must not lie below what this mirror copied: a posix
   * primary's hint goes back when it is rolled back (a file-system snapshot
   * or a backup restored, or merutable's hint rename lost in a crash), and
   * its next commits reuse the numbers the target already holds. The target
   * keeps what it copied; the mirror stops (`SplitBrain`, fatal) rather than
   * stack the new history on the old. A HEAD that goes back, but not below
   * the last version copied, discarded only versions this mirror skipped as
   * gaps (or had not reached): those gaps are dropped and the versions
   * looked at again (HEAD itself is always mirrored), and each new version is
   * checked against the copied one (`checkFollowsOn`).
   *
   * @param seenBefore the source's HEAD at the last look (this instance's,
   *   or the saved progress's).
   */
  #followRollback(head: number, seenBefore: number | undefined): void {
    const p = this.#target.progress;
    // Below what was handled, or (a posix hint) below the HEAD seen at the last look.
    const wentBack =
      head < handledThrough(p) || (this.#source.posix && seenBefore !== undefined && head < seenBefore);
    if (!wentBack) return;
    if (head < p.mirrorSeq) {
      throw new TidemarkError(
        "SplitBrain",
        `the source's HEAD went back to v${head}, below v${p.mirrorSeq}, which this mirror copied: ` +
          "its history was rewritten (a rolled-back primary); the target keeps the versions it copied; " +
          "mirror the source into a fresh target to follow the new history",
      );
    }
    rewindGaps(p, head);
    if (p.inProgress && p.inProgress.version > head) delete p.inProgress;
    this.#target.uploadedHere.clear();
    this.#lag.reopen(head, handledThrough(p));
  }

  /**
   * Finds the source HEAD from what is known, cheaply: on an object-store
   * source two HEADs and a read of its low_water when nothing changed (a hint
   * below the source's GC boundary, or one a racing expire passed, is never
   * trusted); on a posix source one GET of `version-hint.text`, which
   * merutable replaces only after the manifest it names is written.
   */
  async #findSourceHead(): Promise<number> {
    const head = await this.#source.findHead(this.#target.initialised ? this.#target.progress.mirrorSeq : 0);
    this.#lag.sourceChecked(head, this.#target.initialised ? handledThrough(this.#target.progress) : 0);
    return head;
  }

  async #mirrorPending(budget: TickBudget): Promise<void> {
    this.#workRemains = false;
    this.#source.tickStarted();
    // The HEAD of the last look (this instance's, or the saved progress's, read once loaded).
    let seenBefore = this.#target.initialised ? this.#target.progress.lastSourceCheck?.head : undefined;
    // The source first: its HEAD (and so the lag) is known even when the target is down.
    const head = await this.#findSourceHead();
    const resumed = this.#target.initialised;
    if (!resumed) {
      await this.#target.init();
      const check = this.#target.progress.lastSourceCheck;
      if (check) this.#lag.restore(check);
      seenBefore = check?.head;
    }
    if (resumed && !(await this.#target.asBelieved())) {
      await this.#target.forget();
      this.#retention?.forget();
      // A view built on what the wiped target held would name files that are gone.
      for (const view of this.#views) view.forget();
      this.#lag.reopen(head, handledThrough(this.#target.progress));
    }
    this.#lag.handled(handledThrough(this.#target.progress));
    if (!this.#target.verified) await this.#checkSameHistory(head);
    this.#followRollback(head, seenBefore);
    const p = this.#target.progress;
    let lookahead: ManifestFile | undefined;
    while (handledThrough(p) < head) {
      if (this.#closed) return;
      if (!budget.begin(SNAPSHOT_REQUESTS, 0, false)) {
        this.#workRemains = true;
        return;
      }
      let moved = 0;
      try {
        const version = handledThrough(p) + 1;
        const file = lookahead?.version === version ? lookahead : await this.#source.read(version);
        lookahead = undefined;
        if (file === "legacy") {
          this.#skip({ from: version, to: version, reason: "legacy" });
          continue;
        }
        if (file === undefined) {
          if (version === head) throw this.#source.headMissing(head);
          // A posix table never deletes a manifest: a missing one is late, retried by the next tick.
          if (this.#source.posix) throw this.#source.lateManifest(version, head);
          // Expired on the source before we got here: skip to the next version it has.
          const next = await nextExisting(this.#source.table, version, head);
          this.#skip({ from: version, to: next - 1, reason: "expired" });
          continue;
        }
        // Only a version the source's history is built on: its HEAD, or one its successor names.
        if (version < head) {
          const next = await this.#source.read(version + 1);
          lookahead = next === "legacy" ? undefined : next;
          if (next === undefined && version + 1 === head) throw this.#source.headMissing(head);
          if (next === undefined && this.#source.posix) throw this.#source.lateManifest(version + 1, head);
          if (lookahead === undefined || !(await builtOn(lookahead.manifest, file))) {
            this.#skip({ from: version, to: version, reason: "unconfirmed" });
            continue;
          }
        }
        moved = await this.#mirrorVersion(budget, file, head);
      } finally {
        budget.end(SNAPSHOT_REQUESTS, 0, moved);
      }
      if (this.#workRemains) return;
      budget.progressed();
    }
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

  /** Records skipped versions; what was in progress for them is dropped. */
  #skip(gap: MirrorGap): void {
    const p = this.#target.progress;
    recordGap(p, gap);
    if (p.inProgress && p.inProgress.version <= gap.to) delete p.inProgress;
    this.#target.uploadedHere.clear();
    this.#lag.handled(handledThrough(p));
    this.#settleWaiters();
  }

  /**
   * Mirrors one source version (files, manifest; low_water at once after a
   * gap). Returns the manifest's bytes moved (files are counted as they go).
   * A source file that is gone and not in the source's HEAD was garbage
   * collected: the version becomes a gap.
   */
  async #mirrorVersion(budget: TickBudget, file: ManifestFile, head: number): Promise<number> {
    const p = this.#target.progress;
    const version = file.version;
    const manifest = file.manifest;
    const previous = await this.#target.previousManifest(p.mirrorSeq);
    if (previous && !sameTable(previous.manifest, manifest)) {
      throw new TidemarkError(
        "SplitBrain",
        `source v${version} belongs to table ${manifest.tableUuid}, the target's v${p.mirrorSeq} to ${previous.manifest.tableUuid}`,
        { key: manifestKey(version) },
      );
    }
    // The version right after the last one copied must be built on exactly what was copied.
    if (previous && version === previous.version + 1) await this.#source.checkFollowsOn(file, previous);
    const committed = Number(manifest.lastUpdatedMs);
    this.#lag.committed(version, committed);
    if (committed > 0) p.lastSourceCommitMs = Math.max(p.lastSourceCommitMs ?? 0, committed);
    const afterGap = version !== p.mirrorSeq + 1;
    if (p.inProgress?.version !== version) {
      p.inProgress = { version, uploaded: [], etags: {}, sha256: {} };
      this.#target.uploadedHere.clear();
    }
    const inProgress = p.inProgress;
    inProgress.etags ??= {};
    inProgress.sha256 ??= {};
    const etags = inProgress.etags;
    const digests = inProgress.sha256;
    const reserved = new Map<string, number>();
    let copiedBytes = 0;
    let res: Awaited<ReturnType<typeof mirrorSnapshot>>;
    try {
      res = await mirrorSnapshot({
        source: this.#sourceStore,
        target: this.#copyTarget,
        sourceId: this.#binding.source,
        version,
        previous: previous?.manifest,
        parallelism: this.#settings.parallelism,
        listThreshold: this.#settings.listThreshold,
        // A listing page is one request: list only while the page and one file
        // copy after it still fit, so a tick always gets a file done (progress).
        beforeListPage: () => budget.fits(1 + FILE_REQUESTS, 0),
        manifestBytes: file.bytes,
        // Files this instance put there are trusted; files an earlier process
        // recorded are checked against the etags it recorded.
        alreadyUploaded: [...this.#target.uploadedHere],
        knownEtags: etags,
        knownSha256: digests,
        sha256: this.#opts.sha256,
        previousChecksums: previous ? await this.#target.previousChecksums(previous) : undefined,
        // After a gap, readers probing from the old low_water would not find
        // the new version: advance low_water right away, not at the end of the tick.
        advanceLowWater: afterGap,
        shouldContinue: (f: LiveFile) => {
          if (this.#closed) return false;
          const size = f.size ?? f.minSize;
          if (!budget.begin(FILE_REQUESTS, size)) return false;
          reserved.set(f.path, size);
          return true;
        },
        onFile: (path, copied, n, etag, sha256) => {
          if (!this.#target.uploadedHere.has(path)) {
            this.#target.uploadedHere.add(path);
            if (!(path in etags)) inProgress.uploaded.push(path);
          }
          etags[path] = etag;
          if (sha256 !== undefined) digests[path] = sha256;
          // A file a listing found on the target was never reserved (no request of its own).
          const size = reserved.get(path);
          if (size !== undefined) {
            budget.end(FILE_REQUESTS, size, n);
            reserved.delete(path);
          }
          copiedBytes += n;
          if (copied) {
            p.counters.files++;
            p.counters.bytes += n;
          } else {
            p.counters.skippedFiles++;
          }
        },
      });
    } catch (e) {
      if (await this.#source.garbageCollected(e, manifest, version, head)) {
        this.#skip({ from: version, to: version, reason: "files-gone" });
        return 0;
      }
      throw e;
    } finally {
      // Release what failed copies reserved.
      for (const size of reserved.values()) budget.end(FILE_REQUESTS, size, 0);
    }
    if (!res.complete) {
      this.#workRemains = true;
      return 0;
    }
    const manifestBytes = res.bytes - copiedBytes;
    p.counters.bytes += manifestBytes;
    p.mirrorSeq = version;
    delete p.inProgress;
    this.#target.uploadedHere.clear();
    p.counters.snapshots++;
    this.#target.setPrevious(file, res.checksums);
    this.#retention?.published(file);
    this.#target.lowWaterDirty = !res.lowWaterAdvanced;
    this.#lag.handled(version);
    this.#settleWaiters();
    return manifestBytes;
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
      this.#findSourceHead().then(
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
    if (this.#closed) return;
    this.#loop.start();
  }

  /**
   * Stops the loop: no new step starts (copies in flight finish), pending
   * `awaitMirror` calls reject with `Transient`, and the returned promise
   * resolves once the tick in flight has ended (or after
   * `shutdownTimeoutMs`). No timer of the mirror's outlives it. Idempotent.
   */
  shutdown(): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    this.#closed = true;
    const loop = this.#loop.stop();
    this.#waiters.rejectAll((w) => this.#closedError(w.version));
    const pending = loop ?? this.#current;
    this.#shutdown = pending ? boundedWait(pending, this.#settings.shutdownTimeoutMs) : Promise.resolve();
    return this.#shutdown;
  }
}

/** Waits for `p` to settle, at most `ms` milliseconds (a shutdown that must not hang); never rejects. */
export async function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  if (timer !== undefined) clearTimeout(timer);
}
