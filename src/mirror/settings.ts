/**
 * A mirror's options (`MirrorOptions`: what a caller passes), the settings
 * they resolve to (`mirrorSettings`: every number checked, defaults filled
 * in), and `MirrorStatus`, the one status shape (the Durable Object's extends
 * it).
 *
 * @module
 */
import type { TidemarkError } from "../errors.ts";
import type { IcebergViewOptions, IcebergViewStatus } from "../iceberg/view.ts";
import { MAX_TIMER_MS, numberOption, option } from "../options.ts";
import type { Sha256Factory } from "../store/checksum.ts";
import type { ObjectStore } from "../store/types.ts";
import type { LagAlert } from "./lag.ts";
import type { MirrorCounters, MirrorGap, MirrorProgressStore } from "./progress.ts";
import type { MirrorLockOptions, RetentionOptions, RetentionStatus } from "./retention.ts";

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
  /** Delay between ticks when caught up, in ms (default 5,000; 10 to 2^31 - 1). */
  pollIntervalMs?: number;
  /** Files copied at once (default 8; 1 to 1,024). */
  parallelism?: number;
  /**
   * From this many files to check in one snapshot (the first one mirrored,
   * or a big commit), list the target once instead of one HEAD per file
   * (default 100; `Infinity`: never). See {@link MirrorSnapshotOptions.listThreshold}.
   */
  listThreshold?: number;
  /** Lag, in whole seconds, at which `onLagAlert` fires, at most once per this many seconds (default 60; 0: never). */
  lagAlertSecs?: number;
  /** Called when the lag reaches `lagAlertSecs` (once per window while it stays there). */
  onLagAlert?: (alert: LagAlert) => void;
  /** Called with every failed tick's error. */
  onError?: (e: TidemarkError) => void;
  /** Where progress is kept (default: in memory, re-derived from the target on the first tick). */
  progress?: MirrorProgressStore;
  /**
   * Makes the SHA-256 hashers of the checksums the mirror records for every
   * file and manifest it copies (default: pure JS, every runtime;
   * `nodeSha256` from `tidemark/node` takes several times less CPU).
   */
  sha256?: Sha256Factory;
  /**
   * Limits of one `tick()` (0 or absent: unlimited). The tick stops cleanly
   * before a step that could exceed them (saving progress): it reserves 3
   * requests and the file's size for each file copy in flight and 5 requests
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
  /**
   * Apache Iceberg views of the mirror (see docs/iceberg.md), one per
   * location, each under its own prefix: a version's view is written after
   * the version itself (files, manifest, low_water), within the tick's budget;
   * a gap in the mirror is a gap in the view. A view that fails fails the tick
   * (retried, as a copy is).
   */
  iceberg?: IcebergViewOptions | IcebergViewOptions[];
  /**
   * Keep only a window of versions on the target (by count, by age, or
   * both; HEAD always): each tick, once the versions it mirrored are
   * published, versions that left the window are expired as
   * `Catalog.expire` expires them (the boundary, `metadata/oldest_retained.txt`,
   * published before anything is deleted; manifests before files; a file
   * deleted only when no manifest left names it), within the tick's budget.
   * Readers refuse a version below the boundary, naming the oldest one
   * kept. See docs/operations.md for sizing the window.
   */
  retention?: RetentionOptions;
  /**
   * Write every data file and manifest with an S3 Object Lock retention of
   * `days` (`mode` governance or compliance), so that nobody, this mirror's
   * credentials included, can delete them before it ends; retention then
   * deletes only what the lock has released, and waits for the rest. The
   * target must keep retentions (`capabilities.objectLock`: an S3 bucket
   * created with Object Lock; `doctor --lock` checks it enforces them).
   */
  lock?: MirrorLockOptions;
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
  /** The Iceberg views, when the mirror has any: where each stands. */
  iceberg?: IcebergViewStatus[];
  /** The retention, when the mirror has a policy: what it keeps, what it freed. */
  retention?: RetentionStatus;
}

/** A mirror's settings: its options validated, the defaults filled in. */
export interface MirrorSettings {
  pollIntervalMs: number;
  parallelism: number;
  listThreshold: number;
  lagAlertSecs: number;
  /** 0: unlimited. */
  budget: { requests: number; bytes: number };
  backoff: { baseDelayMs: number; maxDelayMs: number };
  shutdownTimeoutMs: number;
}

/**
 * Validates a mirror's numeric options and fills in the defaults (the rules
 * of the options the CLI and the Worker share are `OPTIONS`, src/options.ts).
 *
 * @throws TidemarkError `InvalidArgument` naming the option for a bad number
 *   (`NaN`, `Infinity` where no limit makes no sense, a fraction, a negative).
 */
export function mirrorSettings(opts: MirrorOptions): MirrorSettings {
  const pollIntervalMs = option("pollIntervalMs", opts.pollIntervalMs);
  const parallelism = option("parallelism", opts.parallelism);
  const listThreshold = option("listThreshold", opts.listThreshold);
  const lagAlertSecs = option("lagAlertSecs", opts.lagAlertSecs);
  const budget = {
    requests: option("budgetRequests", opts.budget?.requests, "budget.requests"),
    bytes: option("budgetBytes", opts.budget?.bytes, "budget.bytes"),
  };
  const baseDelayMs = numberOption("backoff.baseDelayMs", opts.backoff?.baseDelayMs, 1_000, {
    min: 0,
    max: MAX_TIMER_MS,
  });
  const backoff = {
    baseDelayMs,
    maxDelayMs: numberOption("backoff.maxDelayMs", opts.backoff?.maxDelayMs, 60_000, {
      min: baseDelayMs,
      max: MAX_TIMER_MS,
    }),
  };
  const shutdownTimeoutMs = numberOption("shutdownTimeoutMs", opts.shutdownTimeoutMs, 30_000, {
    min: 0,
    max: MAX_TIMER_MS,
  });
  return { pollIntervalMs, parallelism, listThreshold, lagAlertSecs, budget, backoff, shutdownTimeoutMs };
}
