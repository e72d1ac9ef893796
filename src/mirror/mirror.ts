import {
  advanceLowWater,
  builtOn,
  discoverHead,
  isLegacyManifestError,
  type ManifestFile,
  manifestKey,
  readManifestIfExists,
  readVersionHint,
  type TableReader,
  tableReader,
  VERSION_HINT_KEY,
} from "../catalog/index.ts";
import { safetyGate } from "../doctor/safe-store.ts";
import { isTidemarkError, TidemarkError, toTidemarkError } from "../errors.ts";
import { type LiveFile, type Manifest, referencedFiles } from "../manifest/index.ts";
import { checkNumber, MAX_TIMER_MS, numberOption } from "../options.ts";
import { type MeteredStore, metered } from "../store/metered.ts";
import { backoffDelay } from "../store/retry.ts";
import { type ObjectStore, storeId } from "../store/types.ts";
import { FILE_REQUESTS, SNAPSHOT_REQUESTS, TickBudget } from "./budget.ts";
import { LagClock } from "./lag.ts";
import { TickLoop } from "./loop.ts";
import { nextExisting } from "./probe.ts";
import {
  addRequestCounts,
  boundTo,
  cloneProgress,
  freshMirrorProgress,
  handledThrough,
  type MirrorCounters,
  type MirrorGap,
  type MirrorProgress,
  type MirrorProgressStore,
  recordGap,
  zeroRequestCounts,
} from "./progress.ts";
import { DEFAULT_LIST_THRESHOLD, DEFAULT_PARALLELISM, mirrorSnapshot } from "./snapshot.ts";
import { Waiters } from "./waiters.ts";

export type { MirrorCounters, MirrorGap, MirrorProgress, MirrorProgressStore };
export { freshMirrorProgress };

/** What a lag alert says. */
export interface LagAlert {
  lagSeconds: number;
  mirrorSeq: number;
  sourceHead: number;
}

/** Options of {@link Mirror}. */
export interface MirrorOptions {
  /**
   * The primary's store, in either of merutable's layouts (see `openTable`):
   * an object-store table (a `Catalog`'s, or another mirror), or merutable's
   * primary (`version-hint.text`, `metadata/v{N}.metadata.pb`), whose
   * manifests are copied byte for byte into `v{N}.manifest.bin`.
   */
  source: ObjectStore;
  /** The mirror's store. */
  target: ObjectStore;
  /** Delay between ticks when caught up, in ms (default 5,000). */
  pollIntervalMs?: number;
  /** Files copied at once (default 8, {@link DEFAULT_PARALLELISM}). */
  parallelism?: number;
  /**
   * From this many files to check in one snapshot (the first one mirrored,
   * or a big commit), list the target once instead of one HEAD per file
   * (default 100; `Infinity`: never). See {@link MirrorSnapshotOptions.listThreshold}.
   */
  listThreshold?: number;
  /** Lag, in seconds, at which `onLagAlert` fires, at most once per this many seconds (default 60; 0: never). */
  lagAlertSecs?: number;
  /** Called when the lag reaches `lagAlertSecs` (once per window while it stays there). */
  onLagAlert?: (alert: LagAlert) => void;
  /** Called with every failed tick's error. */
  onError?: (e: TidemarkError) => void;
  /** Where progress is kept (default: in memory, re-derived from the target on the first tick). */
  progress?: MirrorProgressStore;
  /**
   * Limits of one `tick()` (0 or absent: unlimited). The tick stops cleanly
   * before a step that could exceed them (saving progress): it reserves 3
   * requests and the file's size for each file copy in flight and 4 requests
   * per snapshot, and always makes at least one step, so a single file larger
   * than `bytes` still gets copied.
   */
  budget?: { requests?: number; bytes?: number };
  /** Backoff after failed ticks (defaults: 1,000 ms base, 60,000 ms cap; jittered, never below base). */
  backoff?: { baseDelayMs?: number; maxDelayMs?: number };
  /** How long `shutdown()` waits for a tick in flight, in ms (default 30,000). */
  shutdownTimeoutMs?: number;
  /** Milliseconds clock, for lag (default `Date.now`). */
  now?: () => number;
  /** Sleep between ticks of the `start()` loop (default: a timer that `kick()` and `shutdown()` cancel). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Fail closed: before the first tick writes, probe the target once with the
   * `doctor` checks the mirror's guarantees rest on (create-only, concurrent
   * creators, compare-and-swap, read-after-write, listing order and
   * `startAfter`, a streamed upload) and refuse a target that fails one: every
   * tick then fails with `NotSupported` naming the check, and `awaitMirror`
   * rejects with it. About 50 requests, once per target store instance, outside
   * the tick's budget. Default false.
   */
  requireSafeStore?: boolean;
}

/** A snapshot of a mirror's state; see {@link Mirror.status}. */
export interface MirrorStatus {
  mirrorSeq: number;
  /** The source's HEAD as last seen, `null` before the first successful look. */
  sourceHead: number | null;
  /** Every version up to `sourceHead` is mirrored or skipped as a gap, and the last tick succeeded. */
  caughtUp: boolean;
  /** See {@link Mirror.lagSeconds}. */
  lagSeconds: number | null;
  /** The version being copied and how many of its files are on the target; `null` between versions. */
  inProgress: { version: number; uploaded: number } | null;
  counters: MirrorCounters;
  /** The last tick's failure; `null` once a tick succeeds. */
  lastError: { message: string; atMs: number } | null;
  /** Source versions skipped, and why (see {@link MirrorGap}). */
  gaps: MirrorGap[];
  /** When to tick next: the poll interval when caught up, 0 when work remains, a backoff after a failure. */
  nextDelayMs: number;
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
  readonly #source: MeteredStore;
  /** The source's table (its layout detected on the first look). */
  readonly #sourceTable: TableReader;
  readonly #target: MeteredStore;
  readonly #binding: { source: string; target: string };
  readonly #pollIntervalMs: number;
  readonly #parallelism: number;
  readonly #listThreshold: number;
  readonly #lagAlertSecs: number;
  readonly #budgetLimits: { requests: number; bytes: number };
  readonly #backoff: { baseDelayMs: number; maxDelayMs: number };
  readonly #shutdownTimeoutMs: number;
  readonly #opts: MirrorOptions;
  readonly #now: () => number;
  readonly #safe: () => Promise<void>;

  #progress: MirrorProgress;
  #initialised = false;
  readonly #lag: LagClock;
  /** The manifest of `mirrorSeq` on the target (undefined: none, or not read yet). */
  #previous: ManifestFile | undefined;
  #previousVersion = -1;
  /** Files this instance put on the target for the version in progress (trusted without a request). */
  #uploadedHere = new Set<string>();
  #sourceHead: number | null = null;
  /** The source's HEAD manifest, read when a missing file needs telling apart from garbage-collected. */
  #headFile: ManifestFile | undefined;
  /** Versions were mirrored since low_water was last advanced (true at start: check it once). */
  #lowWaterDirty = true;
  #failureStreak = 0;
  #workRemains = false;
  #lastAlertMs: number | undefined;
  /** The stores' counts as last added to the progress's counters. */
  #counted = { source: zeroRequestCounts(), target: zeroRequestCounts() };
  #tickStart = 0;

  #current: Promise<number> | undefined;
  readonly #loop: TickLoop;
  #closed = false;
  #shutdown: Promise<void> | undefined;
  readonly #waiters = new Waiters();
  #fatal: TidemarkError | undefined;
  /** The target's history was checked against the source's (once per instance). */
  #verified = false;

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
    this.#pollIntervalMs = numberOption("pollIntervalMs", opts.pollIntervalMs, 5_000, {
      min: 1,
      max: MAX_TIMER_MS,
    });
    this.#parallelism = numberOption("parallelism", opts.parallelism, DEFAULT_PARALLELISM, {
      min: 1,
      max: 1024,
    });
    this.#listThreshold = numberOption("listThreshold", opts.listThreshold, DEFAULT_LIST_THRESHOLD, {
      min: 1,
      infinity: true,
    });
    this.#lagAlertSecs = numberOption("lagAlertSecs", opts.lagAlertSecs, 60, { min: 0, integer: false });
    this.#budgetLimits = {
      requests: numberOption("budget.requests", opts.budget?.requests, 0, { min: 0 }),
      bytes: numberOption("budget.bytes", opts.budget?.bytes, 0, { min: 0 }),
    };
    const baseDelayMs = numberOption("backoff.baseDelayMs", opts.backoff?.baseDelayMs, 1_000, {
      min: 0,
      max: MAX_TIMER_MS,
    });
    this.#backoff = {
      baseDelayMs,
      maxDelayMs: numberOption("backoff.maxDelayMs", opts.backoff?.maxDelayMs, 60_000, {
        min: baseDelayMs,
        max: MAX_TIMER_MS,
      }),
    };
    this.#shutdownTimeoutMs = numberOption("shutdownTimeoutMs", opts.shutdownTimeoutMs, 30_000, {
      min: 0,
      max: MAX_TIMER_MS,
    });
    // Bodies pass through untouched: bytes are counted as asked, not per chunk on the copy path.
    this.#source = metered(opts.source, { bytesIn: "requested" });
    this.#sourceTable = tableReader(this.#source);
    this.#target = metered(opts.target, { bytesIn: "requested" });
    this.#binding = { source: storeId(opts.source), target: storeId(opts.target) };
    this.#progress = freshMirrorProgress(this.#binding);
    this.#now = opts.now ?? (() => Date.now());
    this.#lag = new LagClock(this.#now);
    this.#safe = safetyGate(opts.requireSafeStore, opts.target, "mirror", "Mirror target");
    this.#loop = new TickLoop({
      tick: () => this.tick(),
      nextDelayMs: () => this.status().nextDelayMs,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
  }

  /** The last version fully mirrored (0: none yet). */
  get mirrorSeq(): number {
    return this.#progress.mirrorSeq;
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
    const ms = this.#lag.lagMs(handledThrough(this.#progress));
    return ms === null ? null : ms / 1000;
  }

  /** A copy of the mirror's state. */
  status(): MirrorStatus {
    const p = cloneProgress(this.#progress);
    const caughtUp = this.#caughtUp();
    return {
      mirrorSeq: p.mirrorSeq,
      sourceHead: this.#sourceHead,
      caughtUp,
      lagSeconds: this.lagSeconds(),
      inProgress: p.inProgress
        ? { version: p.inProgress.version, uploaded: p.inProgress.uploaded.length }
        : null,
      counters: p.counters,
      lastError: p.lastError ?? null,
      gaps: p.gaps,
      nextDelayMs: this.#nextDelayMs(caughtUp),
    };
  }

  /** Every source version up to the last HEAD seen is mirrored or skipped, and the last tick did not fail. */
  #caughtUp(): boolean {
    return (
      this.#sourceHead !== null &&
      this.#failureStreak === 0 &&
      !this.#workRemains &&
      handledThrough(this.#progress) >= this.#sourceHead
    );
  }

  #nextDelayMs(caughtUp: boolean): number {
    if (this.#failureStreak > 0) {
      const { baseDelayMs: base, maxDelayMs: max } = this.#backoff;
      return Math.max(base, backoffDelay(this.#failureStreak, { baseDelayMs: base, maxDelayMs: max }));
    }
    return this.#workRemains || !caughtUp ? 0 : this.#pollIntervalMs;
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
    if (this.#closed) return Promise.resolve(this.#progress.mirrorSeq);
    const run = this.#tick().finally(() => {
      this.#current = undefined;
    });
    this.#current = run;
    return run;
  }

  async #tick(): Promise<number> {
    const budget = new TickBudget(this.#budgetLimits, () => this.#requestsSent() - this.#tickStart);
    this.#tickStart = this.#requestsSent();
    let failed: TidemarkError | undefined;
    try {
      await this.#safe();
      await this.#mirrorPending(budget);
      if (this.#lowWaterDirty && this.#progress.mirrorSeq > 0) {
        await advanceLowWater(this.#target, this.#progress.mirrorSeq);
        this.#lowWaterDirty = false;
      }
      this.#failureStreak = 0;
      this.#fatal = undefined;
      delete this.#progress.lastError;
    } catch (e) {
      failed = toTidemarkError(e);
      this.#failureStreak++;
      this.#progress.counters.failures++;
      this.#progress.lastError = { message: failed.message, atMs: this.#now() };
    }
    this.#syncRequestCounters();
    const check = this.#lag.lastCheck;
    if (check) this.#progress.lastSourceCheck = check;
    if (this.#initialised) {
      try {
        await this.#opts.progress?.save(cloneProgress(this.#progress));
      } catch (e) {
        failed ??= toTidemarkError(e);
      }
    }
    this.#lag.tickEnded(failed === undefined);
    this.#checkLag();
    if (failed) {
      if (isTidemarkError(failed, "SplitBrain") || isTidemarkError(failed, "NotSupported")) {
        this.#fatal = failed;
        this.#rejectAll(failed);
      }
      try {
        this.#opts.onError?.(failed);
      } catch {
        // A throwing callback must not break the loop.
      }
    }
    return this.#progress.mirrorSeq;
  }

  /**
   * Requests both stores sent so far, for the budget: what went on the wire
   * (every attempt of a retried request, each page) when a store reports it
   * (`requestsSent`), else the calls made of it. Two views of one store
   * instance (prefixes of one bucket) each report the instance's total: the
   * budget then counts high, and stops early, never late.
   */
  #requestsSent(): number {
    let n = 0;
    for (const store of [this.#source, this.#target]) {
      const sent = store.requestsSent?.();
      if (sent !== undefined) {
        n += sent;
      } else {
        const c = store.counts();
        n += c.readClass + c.writeClass;
      }
    }
    return n;
  }

  /** Adds what both stores did since the last call to the progress's counters. */
  #syncRequestCounters(): void {
    const counters = this.#progress.counters;
    for (const side of ["source", "target"] as const) {
      const now = (side === "source" ? this.#source : this.#target).counts();
      const delta = addRequestCounts({ ...now }, this.#counted[side], -1);
      counters.requests.read += delta.readClass;
      counters.requests.write += delta.writeClass;
      counters[side] = addRequestCounts(counters[side] ?? zeroRequestCounts(), delta);
      this.#counted[side] = now;
    }
  }

  /**
   * Loads saved progress, once: trusted only when it was made with this
   * source and target (their `storeId`s) and the target still holds the
   * manifest it says was mirrored last (a wiped or swapped bucket does not).
   * Otherwise the target's own HEAD says how far it got.
   */
  async #init(): Promise<void> {
    if (this.#initialised) return;
    // A mirror writes the object-store layout: never into merutable's primary
    // (or a restore of one), say with --from and --to swapped.
    if ((await readVersionHint(this.#target)) !== undefined) {
      throw new TidemarkError(
        "NotSupported",
        `the target ${this.#target.name} holds a posix table (${VERSION_HINT_KEY}: merutable's primary, or a restore): ` +
          "a mirror writes the object-store layout, into an empty store or an earlier mirror of this source",
        { key: VERSION_HINT_KEY },
      );
    }
    const saved = await this.#opts.progress?.load();
    let p: MirrorProgress | undefined;
    if (saved && boundTo(saved, this.#binding)) {
      p = cloneProgress(saved);
      p.gaps ??= [];
      if (p.mirrorSeq > 0 && (await this.#previousManifest(p.mirrorSeq)) === undefined) p = undefined;
    }
    if (p === undefined) {
      p = freshMirrorProgress(this.#binding);
      if (saved) {
        // Keep the running totals (they describe this mirror, not the target).
        p.counters = cloneProgress(saved).counters;
      }
      p.mirrorSeq = (await discoverHead(this.#target)).version;
    }
    this.#progress = p;
    if (p.lastSourceCheck) this.#lag.restore(p.lastSourceCheck);
    this.#initialised = true;
  }

  /**
   * Before each tick of an instance that ticked before: is the target still
   * what this instance believes? A bucket wiped or swapped under a live
   * mirror would otherwise get manifests naming files it no longer has. One
   * HEAD: the last file put for the version in progress (with the etag
   * recorded), else the manifest mirrored last.
   */
  async #targetAsBelieved(): Promise<boolean> {
    const p = this.#progress;
    const last = p.inProgress?.uploaded.at(-1);
    const key = last ?? (p.mirrorSeq > 0 ? manifestKey(p.mirrorSeq) : undefined);
    if (key === undefined) return true;
    try {
      const meta = await this.#target.head(key);
      const etag = last === undefined ? undefined : p.inProgress?.etags?.[last];
      return etag === undefined || etag === meta.etag;
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return false;
      throw e;
    }
  }

  /** Drops what this instance believed of the target; its own HEAD says how far it got. */
  async #forgetTarget(): Promise<void> {
    const p = freshMirrorProgress(this.#binding);
    p.counters = this.#progress.counters;
    if (this.#progress.lastSourceCheck) p.lastSourceCheck = this.#progress.lastSourceCheck;
    p.mirrorSeq = (await discoverHead(this.#target)).version;
    this.#progress = p;
    this.#uploadedHere.clear();
    this.#previous = undefined;
    this.#previousVersion = -1;
    this.#verified = false;
    this.#lowWaterDirty = true;
  }

  /** The manifest of `seq` on the target, cached (undefined: not there). */
  async #previousManifest(seq: number): Promise<ManifestFile | undefined> {
    if (this.#previousVersion === seq) return this.#previous;
    const f = seq > 0 ? await readManifestIfExists(this.#target, seq) : undefined;
    this.#previous = f;
    this.#previousVersion = seq;
    return f;
  }

  /**
   * Before the first write: is the target's last mirrored snapshot the
   * source's? (Another table mirrored here first, or the source was
   * recreated.) One GET on each side, once per instance.
   */
  async #checkSameHistory(head: number): Promise<void> {
    const seq = this.#progress.mirrorSeq;
    if (seq > 0) {
      if (seq > head) {
        throw new TidemarkError(
          "SplitBrain",
          `the target is at v${seq}, past the source's HEAD v${head}: it mirrors another history`,
        );
      }
      const ours = await this.#previousManifest(seq);
      if (ours) {
        const theirs = await this.#readSource(seq);
        const same =
          theirs !== undefined && theirs !== "legacy"
            ? sameBytes(theirs.bytes, ours.bytes)
            : sameTable(ours.manifest, (await this.#sourceTable.read(head)).manifest);
        if (!same) {
          throw new TidemarkError(
            "SplitBrain",
            `the target's v${seq} is not the source's v${seq}: another history was mirrored here`,
            { key: manifestKey(seq) },
          );
        }
      }
    }
    this.#verified = true;
    this.#settleWaiters();
  }

  /**
   * Finds the source HEAD from what is known, cheaply: on an object-store
   * source two HEADs and a read of its low_water when nothing changed (a hint
   * below the source's GC boundary, or one a racing expire passed, is never
   * trusted); on a posix source one GET of `version-hint.text`, which
   * merutable replaces only after the manifest it names is written.
   */
  async #findSourceHead(): Promise<number> {
    const known = Math.max(this.#sourceHead ?? 0, this.#initialised ? this.#progress.mirrorSeq : 0);
    const found = (await this.#sourceTable.discover(known > 0 ? { from: known } : {})).version;
    if (this.#sourceHead === null || found > this.#sourceHead) this.#sourceHead = found;
    this.#lag.sourceChecked(this.#sourceHead, this.#initialised ? handledThrough(this.#progress) : 0);
    return this.#sourceHead;
  }

  async #mirrorPending(budget: TickBudget): Promise<void> {
    this.#workRemains = false;
    this.#headFile = undefined;
    // The source first: its HEAD (and so the lag) is known even when the target is down.
    const head = await this.#findSourceHead();
    const resumed = this.#initialised;
    await this.#init();
    if (resumed && !(await this.#targetAsBelieved())) {
      await this.#forgetTarget();
      this.#lag.reopen(head, handledThrough(this.#progress));
    }
    this.#lag.handled(handledThrough(this.#progress));
    if (!this.#verified) await this.#checkSameHistory(head);
    const p = this.#progress;
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
        const file = lookahead?.version === version ? lookahead : await this.#readSource(version);
        lookahead = undefined;
        if (file === "legacy") {
          this.#skip({ from: version, to: version, reason: "legacy" });
          continue;
        }
        if (file === undefined) {
          if (version === head) throw this.#headMissing(head);
          // Expired on the source before we got here: skip to the next version it has.
          const next = await nextExisting(this.#sourceTable, version, head);
          this.#skip({ from: version, to: next - 1, reason: "expired" });
          continue;
        }
        // Only a version the source's history is built on: its HEAD, or one its successor names.
        if (version < head) {
          const next = await this.#readSource(version + 1);
          lookahead = next === "legacy" ? undefined : next;
          if (next === undefined && version + 1 === head) throw this.#headMissing(head);
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
   * The source's HEAD has no manifest: discovery found it (on an object-store
   * source, by its manifest), so its pointer names a missing one (a posix
   * table copied out of order, say): damaged or catching up, never a gap.
   */
  #headMissing(head: number): TidemarkError {
    const key = this.#sourceTable.manifestKey(head);
    return new TidemarkError("NotFound", `the source's HEAD v${head} has no manifest (${key})`, { key });
  }

  /**
   * The source's manifest of `version`; `undefined` when it is not there;
   * `"legacy"` when a posix source has only a legacy JSON manifest for it.
   */
  async #readSource(version: number): Promise<ManifestFile | "legacy" | undefined> {
    try {
      return await this.#sourceTable.readManifestIfExists(version);
    } catch (e) {
      if (isLegacyManifestError(e)) return "legacy";
      throw e;
    }
  }

  /** Records skipped versions; what was in progress for them is dropped. */
  #skip(gap: MirrorGap): void {
    const p = this.#progress;
    recordGap(p, gap);
    if (p.inProgress && p.inProgress.version <= gap.to) delete p.inProgress;
    this.#uploadedHere.clear();
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
    const p = this.#progress;
    const version = file.version;
    const manifest = file.manifest;
    const previous = await this.#previousManifest(p.mirrorSeq);
    if (previous && !sameTable(previous.manifest, manifest)) {
      throw new TidemarkError(
        "SplitBrain",
        `source v${version} belongs to table ${manifest.tableUuid}, the target's v${p.mirrorSeq} to ${previous.manifest.tableUuid}`,
        { key: manifestKey(version) },
      );
    }
    const committed = Number(manifest.lastUpdatedMs);
    this.#lag.committed(version, committed);
    if (committed > 0) p.lastSourceCommitMs = Math.max(p.lastSourceCommitMs ?? 0, committed);
    const afterGap = version !== p.mirrorSeq + 1;
    if (p.inProgress?.version !== version) {
      p.inProgress = { version, uploaded: [], etags: {} };
      this.#uploadedHere.clear();
    }
    const inProgress = p.inProgress;
    inProgress.etags ??= {};
    const etags = inProgress.etags;
    const reserved = new Map<string, number>();
    let copiedBytes = 0;
    let res: Awaited<ReturnType<typeof mirrorSnapshot>>;
    try {
      res = await mirrorSnapshot({
        source: this.#source,
        target: this.#target,
        sourceId: this.#binding.source,
        version,
        previous: previous?.manifest,
        parallelism: this.#parallelism,
        listThreshold: this.#listThreshold,
        // A listing page is one request: list only while the page and one file
        // copy after it still fit, so a tick always gets a file done (progress).
        beforeListPage: () => budget.fits(1 + FILE_REQUESTS, 0),
        manifestBytes: file.bytes,
        // Files this instance put there are trusted; files an earlier process
        // recorded are checked against the etags it recorded.
        alreadyUploaded: [...this.#uploadedHere],
        knownEtags: etags,
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
        onFile: (path, copied, n, etag) => {
          if (!this.#uploadedHere.has(path)) {
            this.#uploadedHere.add(path);
            if (!(path in etags)) inProgress.uploaded.push(path);
          }
          etags[path] = etag;
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
      if (await this.#garbageCollected(e, manifest, version, head)) {
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
    this.#uploadedHere.clear();
    p.counters.snapshots++;
    this.#previous = file;
    this.#previousVersion = version;
    this.#lowWaterDirty = !res.lowWaterAdvanced;
    this.#lag.handled(version);
    this.#settleWaiters();
    return manifestBytes;
  }

  /**
   * Whether `e` is a file of `version` missing on the source that the
   * source's HEAD no longer has either: garbage collected after a compaction
   * (merutable deletes such files 5 minutes later), so the version can never
   * be mirrored. A missing file that HEAD still has is a real error.
   */
  async #garbageCollected(e: unknown, manifest: Manifest, version: number, head: number): Promise<boolean> {
    if (!isTidemarkError(e, "NotFound") || version >= head) return false;
    const key = e.key;
    if (key === undefined || !referencedFiles(manifest).some((f) => f.path === key)) return false;
    this.#headFile ??= await this.#sourceTable.read(head);
    return !referencedFiles(this.#headFile.manifest).some((f) => f.path === key);
  }

  #checkLag(): void {
    const lag = this.lagSeconds();
    if (lag === null) return;
    if (this.#lagAlertSecs <= 0 || lag < this.#lagAlertSecs) {
      if (lag === 0) this.#lastAlertMs = undefined;
      return;
    }
    const now = this.#now();
    if (this.#lastAlertMs !== undefined && now - this.#lastAlertMs < this.#lagAlertSecs * 1000) return;
    this.#lastAlertMs = now;
    try {
      this.#opts.onLagAlert?.({
        lagSeconds: lag,
        mirrorSeq: this.#progress.mirrorSeq,
        sourceHead: this.#sourceHead ?? 0,
      });
    } catch {
      // A throwing callback must not break the loop.
    }
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
    if (this.#verified) this.#waiters.settle(handledThrough(this.#progress), this.#progress.mirrorSeq);
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
    this.#shutdown = pending ? boundedWait(pending, this.#shutdownTimeoutMs) : Promise.resolve();
    return this.#shutdown;
  }
}

/** Whether two manifests may be of one table: an empty table_uuid (a writer that sets none) says nothing. */
function sameTable(a: Manifest, b: Manifest): boolean {
  return a.tableUuid === "" || b.tableUuid === "" || a.tableUuid === b.tableUuid;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
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
