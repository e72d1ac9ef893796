import { advanceLowWater, discoverHead, manifestKey } from "../catalog/index.ts";
import { isTidemarkError, TidemarkError, toTidemarkError } from "../errors.ts";
import { decodeManifest, type LiveFile, type Manifest } from "../manifest/index.ts";
import { backoffDelay } from "../store/retry.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import { oldestFrom } from "./probe.ts";
import {
  DEFAULT_PARALLELISM,
  type MirrorSnapshotOptions,
  mirrorSnapshot,
  readSourceManifest,
} from "./snapshot.ts";

/**
 * A mirror's durable progress: JSON-serialisable, saved through a
 * {@link MirrorProgressStore} (the Durable Object keeps it in its storage), so
 * a fresh `Mirror` resumes where the last one stopped, mid-snapshot included.
 */
export interface MirrorProgress {
  /** The last version fully mirrored (its files and manifest are on the target). */
  mirrorSeq: number;
  /** Files of `version` (= mirrorSeq + 1, or the first version after a gap) already on the target. */
  inProgress?: { version: number; uploaded: string[] };
  /** `last_updated_ms` of the newest source manifest the mirror has read. */
  lastSourceCommitMs?: number;
  /** Running totals since the progress was created. */
  counters: MirrorCounters;
  /** The last failure, kept until the next success. */
  lastError?: { message: string; atMs: number };
  /** Versions the source had expired before they could be mirrored (inclusive ranges). */
  gaps: Array<{ from: number; to: number }>;
}

/** Running totals of a mirror. */
export interface MirrorCounters {
  /** Snapshots mirrored. */
  snapshots: number;
  /** Files copied. */
  files: number;
  /** Bytes copied (files and manifests). */
  bytes: number;
  /** Files found on the target already and not copied. */
  skippedFiles: number;
  /** Failed ticks. */
  failures: number;
  /** Requests to source and target: read class (GET, HEAD), write class (PUT, DELETE, LIST). */
  requests: { read: number; write: number };
}

/** Where a {@link Mirror} keeps its {@link MirrorProgress}. */
export interface MirrorProgressStore {
  load(): Promise<MirrorProgress | undefined>;
  save(p: MirrorProgress): Promise<void>;
}

/** What a lag alert says. */
export interface LagAlert {
  lagSeconds: number;
  mirrorSeq: number;
  sourceHead: number;
}

/** Options of {@link Mirror}. */
export interface MirrorOptions {
  /** The primary's store. */
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
}

/** A snapshot of a mirror's state; see {@link Mirror.status}. */
export interface MirrorStatus {
  mirrorSeq: number;
  /** The source's HEAD as last seen, `null` before the first successful look. */
  sourceHead: number | null;
  /** `mirrorSeq` has reached `sourceHead`. */
  caughtUp: boolean;
  /** See {@link Mirror.lagSeconds}. */
  lagSeconds: number | null;
  inProgress?: { version: number; uploaded: string[] };
  counters: MirrorCounters;
  lastError?: { message: string; atMs: number };
  gaps: Array<{ from: number; to: number }>;
  /** When to tick next: the poll interval when caught up, 0 when work remains, a backoff after a failure. */
  nextDelayMs: number;
}

interface Waiter {
  version: number | undefined;
  resolve: (seq: number) => void;
  reject: (e: TidemarkError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** The progress of a mirror that has done nothing yet (a fresh target, or no saved state). */
export function freshMirrorProgress(): MirrorProgress {
  return {
    mirrorSeq: 0,
    counters: {
      snapshots: 0,
      files: 0,
      bytes: 0,
      skippedFiles: 0,
      failures: 0,
      requests: { read: 0, write: 0 },
    },
    gaps: [],
  };
}

function cloneProgress(p: MirrorProgress): MirrorProgress {
  return JSON.parse(JSON.stringify(p)) as MirrorProgress;
}

/** Tracks one tick's use of its budget. */
class TickBudget {
  readonly #requests: number;
  readonly #bytes: number;
  readonly #used: () => number;
  #bytesUsed = 0;
  #reservedRequests = 0;
  #reservedBytes = 0;
  /**
   * A file copy started or a snapshot completed this tick. Until then any
   * step is allowed: a snapshot's own reservation must not count as the
   * tick's one step, or a file bigger than the byte budget (or a request
   * budget below a snapshot plus a file) would never move, tick after tick.
   */
  #progressed = false;

  constructor(limits: { requests?: number; bytes?: number } | undefined, used: () => number) {
    this.#requests = limits?.requests || Number.POSITIVE_INFINITY;
    this.#bytes = limits?.bytes || Number.POSITIVE_INFINITY;
    this.#used = used;
  }

  /**
   * Whether a step needing `requests` and `bytes` may start; reserves them if
   * so. `progress`: the step itself moves the mirror forward (a file copy),
   * as opposed to opening a snapshot (see {@link progressed}).
   */
  begin(requests: number, bytes: number, progress = true): boolean {
    // Always allow a tick's first step of progress, or a big file would never move.
    if (!this.fits(requests, bytes) && this.#progressed) return false;
    if (progress) this.#progressed = true;
    this.#reservedRequests += requests;
    this.#reservedBytes += bytes;
    return true;
  }

  /** Records progress made without a file step (a snapshot completed). */
  progressed(): void {
    this.#progressed = true;
  }

  /** Whether a step needing `requests` and `bytes` would fit now (reserves nothing). */
  fits(requests: number, bytes: number): boolean {
    return (
      this.#used() + this.#reservedRequests + requests <= this.#requests &&
      this.#bytesUsed + this.#reservedBytes + bytes <= this.#bytes
    );
  }

  /** Ends a step begun with `begin(requests, bytes)`, having moved `moved` bytes. */
  end(requests: number, bytes: number, moved: number): void {
    this.#reservedRequests -= requests;
    this.#reservedBytes -= bytes;
    this.#bytesUsed += moved;
  }
}

const SNAPSHOT_REQUESTS = 4; // source GET manifest, target PUT manifest, low_water GET + PUT
const FILE_REQUESTS = 3; // target HEAD, source GET, target PUT

/**
 * The mirror loop: copies every snapshot of `source` to `target` in order,
 * without gaps while the source still has the intermediate manifests (so time
 * travel works on the mirror), uploading only the files the previous mirrored
 * snapshot lacked, so one snapshot costs O(new files), not O(live files).
 *
 * Drive it with `start()` (Node, Deno: a timer loop, `kick()` to tick now,
 * `shutdown()` to stop) or call `tick()` yourself (the Durable Object, from
 * its alarm, rescheduling after `status().nextDelayMs`).
 *
 * Improvements over merutable's worker: lag is the age of the oldest source
 * commit not yet mirrored (0 on an idle primary, not "time since the last
 * upload"); every snapshot is mirrored, not just the latest; a manifest
 * conflict with different bytes is `SplitBrain`; a tick costs one or two
 * HEADs when idle; low_water is written once per tick, not once per snapshot
 * (R2 allows about one write per second per key), except right after a gap.
 */
export class Mirror {
  readonly #source: CountedStore;
  readonly #target: CountedStore;
  readonly #pollIntervalMs: number;
  readonly #parallelism: number;
  readonly #lagAlertSecs: number;
  readonly #opts: MirrorOptions;
  readonly #now: () => number;

  #progress: MirrorProgress = freshMirrorProgress();
  #initialised = false;
  #previous: Manifest | undefined;
  #previousVersion = -1;
  #sourceHead: number | null = null;
  /** When the oldest unmirrored source snapshot was committed (or first seen). */
  #pendingSinceMs: number | undefined;
  /** Versions were mirrored since low_water was last advanced (true at start: check it once). */
  #lowWaterDirty = true;
  #failureStreak = 0;
  #workRemains = false;
  #lastAlertMs: number | undefined;
  #counted = { read: 0, write: 0 };
  #tickStart = 0;

  #current: Promise<number> | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  #shutdown: Promise<void> | undefined;
  #kicked = false;
  #wake: (() => void) | undefined;
  readonly #waiters = new Set<Waiter>();
  #fatal: TidemarkError | undefined;
  /** The target's history was checked against the source's (once per instance). */
  #verified = false;

  constructor(opts: MirrorOptions) {
    this.#opts = opts;
    this.#source = counted(opts.source);
    this.#target = counted(opts.target);
    this.#pollIntervalMs = opts.pollIntervalMs ?? 5_000;
    this.#parallelism = opts.parallelism ?? DEFAULT_PARALLELISM;
    this.#lagAlertSecs = opts.lagAlertSecs ?? 60;
    this.#now = opts.now ?? (() => Date.now());
  }

  /** The last version fully mirrored (0: none yet). */
  get mirrorSeq(): number {
    return this.#progress.mirrorSeq;
  }

  /**
   * Seconds since the oldest source commit that is not mirrored yet (its
   * manifest's `last_updated_ms`, or when the mirror first saw it if unset);
   * 0 when caught up; `null` before the first tick has looked at the source.
   * An idle primary therefore has lag 0, however long ago its last commit.
   */
  lagSeconds(): number | null {
    if (this.#sourceHead === null) return null;
    if (this.#progress.mirrorSeq >= this.#sourceHead) return 0;
    if (this.#pendingSinceMs === undefined) return 0;
    return Math.max(0, (this.#now() - this.#pendingSinceMs) / 1000);
  }

  /** A copy of the mirror's state. */
  status(): MirrorStatus {
    const p = cloneProgress(this.#progress);
    const caughtUp = this.#sourceHead !== null && p.mirrorSeq >= this.#sourceHead;
    const s: MirrorStatus = {
      mirrorSeq: p.mirrorSeq,
      sourceHead: this.#sourceHead,
      caughtUp,
      lagSeconds: this.lagSeconds(),
      counters: p.counters,
      gaps: p.gaps,
      nextDelayMs: this.#nextDelayMs(caughtUp),
    };
    if (p.inProgress) s.inProgress = p.inProgress;
    if (p.lastError) s.lastError = p.lastError;
    return s;
  }

  #nextDelayMs(caughtUp: boolean): number {
    if (this.#failureStreak > 0) {
      const base = this.#opts.backoff?.baseDelayMs ?? 1_000;
      const max = this.#opts.backoff?.maxDelayMs ?? 60_000;
      return Math.max(base, backoffDelay(this.#failureStreak, { baseDelayMs: base, maxDelayMs: max }));
    }
    return this.#workRemains || !caughtUp ? 0 : this.#pollIntervalMs;
  }

  /**
   * One pass: finds the source HEAD, then mirrors the versions after
   * `mirrorSeq` in order until caught up, the budget is spent, or
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
    const budget = new TickBudget(this.#opts.budget, () => this.#requestsThisTick());
    const startCounts = this.#requestCounts();
    this.#tickStart = startCounts.read + startCounts.write;
    let failed: TidemarkError | undefined;
    try {
      await this.#init();
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
    try {
      await this.#opts.progress?.save(cloneProgress(this.#progress));
    } catch (e) {
      failed ??= toTidemarkError(e);
    }
    this.#checkLag();
    if (failed) {
      if (isTidemarkError(failed, "SplitBrain")) {
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

  #requestCounts(): { read: number; write: number } {
    const s = this.#source.counts;
    const t = this.#target.counts;
    return { read: s.read + t.read, write: s.write + t.write };
  }

  #requestsThisTick(): number {
    const c = this.#requestCounts();
    return c.read + c.write - this.#tickStart;
  }

  #syncRequestCounters(): void {
    const c = this.#requestCounts();
    this.#progress.counters.requests.read += c.read - this.#counted.read;
    this.#progress.counters.requests.write += c.write - this.#counted.write;
    this.#counted = c;
  }

  async #init(): Promise<void> {
    if (this.#initialised) return;
    const saved = await this.#opts.progress?.load();
    if (saved) {
      this.#progress = cloneProgress(saved);
      this.#progress.gaps ??= [];
    } else {
      // No saved progress: the target's own HEAD says how far it got.
      this.#progress.mirrorSeq = (await discoverHead(this.#target)).version;
    }
    this.#initialised = true;
  }

  /** The manifest of `mirrorSeq`, read back from the target (undefined: none, or unreadable as such). */
  async #previousManifest(): Promise<Manifest | undefined> {
    const seq = this.#progress.mirrorSeq;
    if (this.#previousVersion === seq) return this.#previous;
    let m: Manifest | undefined;
    if (seq > 0) {
      try {
        m = decodeManifest(await (await this.#target.get(manifestKey(seq))).bytes());
      } catch (e) {
        // Missing on the target (progress from elsewhere): check every file instead of trusting it.
        if (!isTidemarkError(e, "NotFound")) throw e;
      }
    }
    this.#previous = m;
    this.#previousVersion = seq;
    return m;
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
      const previous = await this.#previousManifest();
      if (previous) {
        let theirs: Uint8Array | undefined;
        try {
          theirs = await readSourceManifest(this.#source, seq);
        } catch (e) {
          if (!isTidemarkError(e, "NotFound")) throw e; // expired: the uuid check below will do
        }
        const ours = await (await this.#target.get(manifestKey(seq))).bytes();
        const same =
          theirs !== undefined
            ? sameBytes(theirs, ours)
            : sameTable(previous, decodeManifest(await readSourceManifest(this.#source, head)));
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

  /** Finds the source HEAD from what is known, cheaply (one or two HEADs when nothing changed). */
  async #findSourceHead(): Promise<number> {
    const known = Math.max(this.#sourceHead ?? 0, this.#progress.mirrorSeq);
    const found = (await discoverHead(this.#source, known > 0 ? { from: known } : {})).version;
    if (this.#sourceHead === null || found > this.#sourceHead) this.#sourceHead = found;
    return this.#sourceHead;
  }

  async #mirrorPending(budget: TickBudget): Promise<void> {
    this.#workRemains = false;
    const head = await this.#findSourceHead();
    const p = this.#progress;
    if (!this.#verified) await this.#checkSameHistory(head);
    if (p.mirrorSeq < head && this.#pendingSinceMs === undefined) this.#pendingSinceMs = this.#now();
    while (p.mirrorSeq < head) {
      if (this.#closed) return;
      if (!budget.begin(SNAPSHOT_REQUESTS, 0, false)) {
        this.#workRemains = true;
        return;
      }
      let moved = 0;
      try {
        moved = await this.#mirrorNext(budget, head);
      } finally {
        budget.end(SNAPSHOT_REQUESTS, 0, moved);
      }
      if (this.#workRemains) return;
      budget.progressed();
    }
  }

  /** Mirrors the version after `mirrorSeq` (or the oldest the source still has). Returns bytes moved. */
  async #mirrorNext(budget: TickBudget, head: number): Promise<number> {
    const p = this.#progress;
    let version = p.mirrorSeq + 1;
    let bytes: Uint8Array;
    try {
      bytes = await readSourceManifest(this.#source, version);
    } catch (e) {
      if (!isTidemarkError(e, "NotFound")) throw e;
      // The source expired it before we got here: jump to the oldest it still has.
      const oldest = await oldestFrom(this.#source, version, head);
      if (oldest <= version) throw e; // it vanished under us and reappeared? let the next tick look again
      const gap = { from: version, to: oldest - 1 };
      const last = p.gaps.at(-1);
      if (!last || last.from !== gap.from || last.to !== gap.to) p.gaps.push(gap);
      version = oldest;
      bytes = await readSourceManifest(this.#source, version);
    }
    const manifest = decodeManifest(bytes);
    const previous = await this.#previousManifest();
    if (previous && !sameTable(previous, manifest)) {
      throw new TidemarkError(
        "SplitBrain",
        `source v${version} belongs to table ${manifest.tableUuid}, the target's v${p.mirrorSeq} to ${previous.tableUuid}`,
        { key: manifestKey(version) },
      );
    }
    const committed = Number(manifest.lastUpdatedMs);
    if (committed > 0) {
      this.#pendingSinceMs = committed;
      p.lastSourceCommitMs = Math.max(p.lastSourceCommitMs ?? 0, committed);
    }
    const afterGap = version !== p.mirrorSeq + 1;
    if (p.inProgress?.version !== version) p.inProgress = { version, uploaded: [] };
    const inProgress = p.inProgress;
    const reserved = new Map<string, number>();
    let copiedBytes = 0;
    const res = await mirrorSnapshot({
      source: this.#source,
      target: this.#target,
      version,
      previous,
      parallelism: this.#parallelism,
      ...(this.#opts.listThreshold !== undefined ? { listThreshold: this.#opts.listThreshold } : {}),
      // A listing page is one request: list only while the page and one file
      // copy after it still fit, so a tick always gets a file done (progress).
      beforeListPage: () => budget.fits(1 + FILE_REQUESTS, 0),
      manifestBytes: bytes,
      alreadyUploaded: inProgress.uploaded,
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
      onFile: (path, copied, n) => {
        inProgress.uploaded.push(path);
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
    }).finally(() => {
      // Release what failed copies reserved.
      for (const size of reserved.values()) budget.end(FILE_REQUESTS, size, 0);
    });
    if (!res.complete) {
      this.#workRemains = true;
      return 0;
    }
    const manifestBytes = res.bytes - copiedBytes;
    p.counters.bytes += manifestBytes;
    p.mirrorSeq = version;
    delete p.inProgress;
    p.counters.snapshots++;
    this.#previous = res.manifest;
    this.#previousVersion = version;
    this.#lowWaterDirty = !res.lowWaterAdvanced;
    // Still behind: keep this snapshot's commit time until the next manifest is
    // read (it bounds the next one's age from above); caught up: no lag.
    if (p.mirrorSeq >= head) this.#pendingSinceMs = undefined;
    this.#settleWaiters();
    return manifestBytes;
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
   * time of the call) is mirrored, kicking the loop. The waiter is registered
   * before the kick, so an advance in between is never missed.
   *
   * @throws TidemarkError `Transient` after `timeoutMs`, or when the mirror
   *   shuts down first; `SplitBrain` when mirroring hits one; store errors
   *   from reading the source HEAD.
   */
  awaitMirror(version?: number, opts: { timeoutMs?: number } = {}): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { version, resolve, reject };
      if (this.#closed) {
        reject(this.#closedError(version));
        return;
      }
      if (this.#fatal) {
        reject(this.#fatal);
        return;
      }
      if (opts.timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new TidemarkError(
              "Transient",
              `awaitMirror(${waiter.version ?? "HEAD"}): timed out after ${opts.timeoutMs} ms at mirrorSeq ${this.mirrorSeq}`,
            ),
          );
        }, opts.timeoutMs);
      }
      this.#waiters.add(waiter);
      if (version === undefined) {
        this.#findSourceHead().then(
          (head) => {
            waiter.version = head;
            this.#settleWaiters();
          },
          (e: unknown) => {
            this.#finish(waiter);
            reject(toTidemarkError(e));
          },
        );
      } else {
        this.#settleWaiters();
      }
      this.kick();
    });
  }

  #closedError(version: number | undefined): TidemarkError {
    return new TidemarkError(
      "Transient",
      `awaitMirror(${version ?? "HEAD"}): the mirror shut down at mirrorSeq ${this.mirrorSeq}`,
    );
  }

  #finish(w: Waiter): void {
    this.#waiters.delete(w);
    if (w.timer !== undefined) clearTimeout(w.timer);
  }

  #settleWaiters(): void {
    for (const w of this.#waiters) {
      // Only once the target's history is known to be the source's.
      if (w.version !== undefined && this.#verified && w.version <= this.#progress.mirrorSeq) {
        this.#finish(w);
        w.resolve(this.#progress.mirrorSeq);
      }
    }
  }

  #rejectAll(e: TidemarkError): void {
    for (const w of this.#waiters) {
      this.#finish(w);
      w.reject(e);
    }
  }

  /**
   * Ticks as soon as possible: wakes the `start()` loop (or makes it tick
   * again right after the tick in flight). Without `start()`, it does
   * nothing: whoever drives `tick()` (the Durable Object) schedules it.
   */
  kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /** Starts the loop: tick, wait `status().nextDelayMs` (or a kick), repeat, until `shutdown()`. */
  start(): void {
    if (this.#loop || this.#closed) return;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      this.#kicked = false;
      await this.tick();
      if (this.#closed) break;
      if (this.#kicked) continue;
      await this.#wait(this.status().nextDelayMs);
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      if (this.#opts.sleep) this.#opts.sleep(ms).then(done, done);
      else timer = setTimeout(done, ms);
    });
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
    this.#wake?.();
    for (const w of this.#waiters) {
      this.#finish(w);
      w.reject(this.#closedError(w.version));
    }
    const pending = this.#loop ?? this.#current;
    this.#shutdown = pending
      ? boundedWait(pending, this.#opts.shutdownTimeoutMs ?? 30_000)
      : Promise.resolve();
    return this.#shutdown;
  }
}

type CountedStore = ObjectStore & { readonly counts: { read: number; write: number } };

/**
 * `store` with its requests counted by class (GET/HEAD read; PUT, DELETE,
 * LIST write). Lighter than `metered`: bodies are passed through untouched
 * (no per-chunk transform on the copy path). A listing counts one request per
 * page of the store's `listPageSize` keys, as `metered` does (at least one).
 */
function counted(store: ObjectStore): CountedStore {
  const counts = { read: 0, write: 0 };
  const pageSize = Math.max(1, capabilitiesOf(store).listPageSize);
  return {
    name: store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    counts,
    get: (k, o) => {
      counts.read++;
      return store.get(k, o);
    },
    head: (k) => {
      counts.read++;
      return store.head(k);
    },
    put: (k, b, o) => {
      counts.write++;
      return store.put(k, b, o);
    },
    delete: (k) => {
      counts.write++;
      return store.delete(k);
    },
    deleteMany: (ks) => {
      counts.write++;
      return store.deleteMany(ks);
    },
    list: (p, o) =>
      (async function* () {
        counts.write++;
        let n = 0;
        for await (const m of store.list(p, o)) {
          if (n > 0 && n % pageSize === 0) counts.write++;
          n++;
          yield m;
        }
      })(),
  };
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
