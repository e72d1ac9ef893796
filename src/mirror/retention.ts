/**
 * A mirror's retention: which versions it keeps (by count and by age, on the
 * mirror's side), the boundary it publishes, and the pass that deletes what
 * left the window with the mechanism `Catalog.expire` uses
 * (`expireVersions`: every manifest read first, the boundary published
 * before anything is deleted, manifests before files, a file deleted only
 * when no manifest on the store names it). A sweep finds what a pass could
 * not reach: files a crash between a pass's manifest and file deletes left
 * unnamed, deletes the store refused (an Object Lock not released yet), and
 * uploads for a version the mirror never published (a copy cut short, a
 * SplitBrain), once older than a grace period.
 *
 * Every pass recomputes what to do from the store (one listing of
 * `metadata/v` and the boundary), so it can stop anywhere (a crash, the
 * tick's budget) and the next one completes it.
 *
 * @module
 */
import type { ManifestFile } from "../catalog/chain.ts";
import { readManifestIfExists } from "../catalog/chain.ts";
import { expireVersions } from "../catalog/expire.ts";
import {
  advanceLowWater,
  METADATA_PREFIX,
  parseManifestKey,
  RETENTION_KEY,
  readRetentionBoundary,
} from "../catalog/layout.ts";
import { TidemarkError, toTidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { numberOption } from "../options.ts";
import { headIfExists } from "../store/exists.ts";
import { lockHolds } from "../store/lock.ts";
import { type DeleteManyResult, type ObjectLock, type ObjectStore, wrapperOf } from "../store/types.ts";
import { CHECKSUMS_PREFIX, checksumsKey, parseChecksumsKey } from "./checksums.ts";
import { ORIGIN_SOURCE_KEY } from "./origin.ts";

const DAY_MS = 86_400_000;

/** A mirror's retention policy (the `retention` option of `Mirror`). */
export interface RetentionOptions {
  /** Keep the newest N versions the mirror holds (HEAD is always kept). */
  keepVersions?: number;
  /**
   * Keep every version that was the mirror's HEAD at some moment of the
   * last D days (fractions allowed): a version stays until the version
   * after it has been on the mirror for D days, by the time the target
   * stored its manifest (the target's clock, which `doctor`'s clock-skew
   * check compares with the mirror's). With `keepVersions` too, a version
   * either rule keeps is kept.
   */
  keepDays?: number;
  /**
   * Files on the target that no manifest names and that carry a mirror's
   * origin metadata (a copy cut short by a crash or a SplitBrain, a delete
   * a crash interrupted, a delete the store refused) are deleted once older
   * than this, in ms (default 86,400,000: a day). Keep it longer than a
   * version's copy can take.
   */
  graceMs?: number;
}

/** Object Lock on what a mirror writes (the `lock` option of `Mirror`). */
export interface MirrorLockOptions {
  /** `compliance`: nobody can shorten it; `governance`: a principal with `s3:BypassGovernanceRetention` can. */
  mode: "governance" | "compliance";
  /** The retention of each data file and manifest, in days from its write (fractions allowed); at least `keepDays`. */
  days: number;
}

/** A retention policy validated, defaults filled in. */
export interface RetentionSettings {
  keepVersions: number | undefined;
  keepDays: number | undefined;
  graceMs: number;
  /** The lock period in ms, when the mirror locks what it writes. */
  lockMs: number | undefined;
}

/**
 * Validates a mirror's `retention` and `lock` options.
 *
 * @throws TidemarkError `InvalidArgument` naming the option: a bad number,
 *   a policy with neither rule, a lock mode that is not one of the two, or a
 *   lock period shorter than `keepDays` (the lock would release versions the
 *   window still keeps, and keep nothing it drops).
 */
export function retentionSettings(
  retention: RetentionOptions | undefined,
  lock: MirrorLockOptions | undefined,
): RetentionSettings | undefined {
  let lockMs: number | undefined;
  if (lock !== undefined) {
    if (lock?.mode !== "governance" && lock?.mode !== "compliance") {
      throw new TidemarkError("InvalidArgument", 'lock.mode must be "governance" or "compliance"');
    }
    const days = numberOption("lock.days", lock.days, 0, { min: 0, integer: false });
    if (!(days > 0)) throw new TidemarkError("InvalidArgument", "lock.days must be more than 0");
    lockMs = days * DAY_MS;
  }
  if (retention === undefined) return lockMs === undefined ? undefined : noPolicy(lockMs);
  const keepVersions =
    retention.keepVersions === undefined
      ? undefined
      : numberOption("retention.keepVersions", retention.keepVersions, 0, { min: 1 });
  const keepDays =
    retention.keepDays === undefined
      ? undefined
      : numberOption("retention.keepDays", retention.keepDays, 0, { min: 0, integer: false });
  if (keepVersions === undefined && keepDays === undefined) {
    throw new TidemarkError("InvalidArgument", "retention needs keepVersions, keepDays, or both");
  }
  const graceMs = numberOption("retention.graceMs", retention.graceMs, DAY_MS, { min: 0 });
  if (lockMs !== undefined && keepDays !== undefined && lockMs < keepDays * DAY_MS) {
    throw new TidemarkError(
      "InvalidArgument",
      `lock.days (${lockMs / DAY_MS}) must be at least retention.keepDays (${keepDays}): a shorter lock would ` +
        "release versions the window still keeps",
    );
  }
  return { keepVersions, keepDays, graceMs, lockMs };
}

function noPolicy(lockMs: number): RetentionSettings {
  return { keepVersions: undefined, keepDays: undefined, graceMs: DAY_MS, lockMs };
}

/** Whether `settings` has a retention policy (else the mirror only locks what it writes). */
export function hasPolicy(s: RetentionSettings | undefined): s is RetentionSettings {
  return s !== undefined && (s.keepVersions !== undefined || s.keepDays !== undefined);
}

/**
 * Whether the mirror locks `key` when it writes it: data files and
 * manifests, the published history. Mutable pointers under `metadata/`
 * (low_water, the retention boundary) are not: a locked pointer could never
 * move.
 */
export function lockedKey(key: string): boolean {
  return !key.startsWith(METADATA_PREFIX) || parseManifestKey(key) !== undefined;
}

/**
 * `store` with every put of a key {@link lockedKey} names carrying an
 * Object Lock retention of `lockMs` from `now()` (the mirror's copies and
 * manifests).
 */
export function lockingWrites(
  store: ObjectStore,
  mode: ObjectLock["mode"],
  lockMs: number,
  now: () => number,
): ObjectStore {
  return {
    ...wrapperOf(store),
    get: (k, o) => store.get(k, o),
    head: (k) => store.head(k),
    put: (k, b, o) =>
      store.put(k, b, lockedKey(k) ? { ...o, lock: { mode, retainUntil: new Date(now() + lockMs) } } : o),
    delete: (k) => store.delete(k),
    deleteMany: (ks, o) => store.deleteMany(ks, o),
    list: (p, o) => store.list(p, o),
  };
}

/** What a mirror's retention has done (part of `MirrorStatus`). */
export interface RetentionStatus {
  /** The published boundary: the oldest version the mirror retains (0: none published yet). */
  oldestRetained: number;
  /** Versions on the target at or above the boundary, after the last pass. */
  versionsKept: number;
  /** Bytes the retained versions name (their files, once each, and their manifests), after the last pass. */
  bytesRetained: number;
  /**
   * Deletes waiting: manifests and files under an Object Lock retention not
   * released yet, or that the store refused (retried; never a failure).
   */
  waiting: number;
  /** When the last pass ended, on the mirror's clock (`null`: none yet). */
  lastPassAtMs: number | null;
  /** Totals since the mirror's progress began. */
  totals: RetentionTotals;
}

/** A mirror's retention totals (kept in its progress). */
export interface RetentionTotals {
  /** Retention passes run. */
  passes: number;
  /** Versions whose manifests retention deleted. */
  versionsExpired: number;
  /** Files retention deleted (of expired versions, and unnamed ones the sweep found). */
  filesDeleted: number;
  /** Bytes those files and manifests held. */
  bytesFreed: number;
  /** Requests the passes made (both kinds, every attempt). */
  requests: number;
}

/** Retention totals before any pass. */
export function zeroRetentionTotals(): RetentionTotals {
  return { passes: 0, versionsExpired: 0, filesDeleted: 0, bytesFreed: 0, requests: 0 };
}

/** What one pass works with, from the `Mirror`. */
export interface RetentionPassContext {
  /** The target (metered; deletes and the boundary are never locked). */
  target: ObjectStore;
  /** The version the mirror last published (its low_water). */
  head: number;
  /** Files of a version in progress (uploaded, not yet named by a published manifest). */
  protect: Iterable<string>;
  /** Prefixes on the target retention never sweeps (the Iceberg views'). */
  skipPrefixes: readonly string[];
  /**
   * The boundary never moves above this version (absent: no limit): the
   * oldest snapshot an Iceberg view's latest metadata lists, so a reader of
   * the view (time travel included) never meets a file retention deleted.
   */
  holdFrom?: number;
  /** Whether a step making about `requests` requests fits the tick's budget. */
  fits(requests: number): boolean;
  /** Requests sent so far (for the totals). */
  requestsSent(): number;
  /** The totals to add to (kept in the mirror's progress). */
  totals: RetentionTotals;
}

/** One cached manifest: its referenced files and its size. */
interface CachedManifest {
  files: LiveFile[];
  bytes: number;
}

/**
 * The retention of one `Mirror`: its policy, the manifests it has read (a
 * version's manifest never changes: cached until the version is deleted),
 * and when a pass is due.
 */
export class MirrorRetention {
  readonly #settings: RetentionSettings;
  readonly #now: () => number;
  readonly #cache = new Map<number, CachedManifest>();
  /** Interned entries: one object per path, however many versions name it. */
  readonly #files = new Map<string, LiveFile>();
  #status: Omit<RetentionStatus, "totals"> = {
    oldestRetained: 0,
    versionsKept: 0,
    bytesRetained: 0,
    waiting: 0,
    lastPassAtMs: null,
  };
  /** The head the last completed pass saw; a new version makes a pass due. */
  #passedHead = -1;
  /** When the policy's age rule or a lock next changes something (a pass is due then). */
  #nextDueMs = Number.POSITIVE_INFINITY;
  /** A sweep runs on the first pass of an instance, after a pass that failed, and every `graceMs`. */
  #sweepDue = true;
  #lastSweepMs = Number.NEGATIVE_INFINITY;
  /** The last pass stopped early (budget, failure): the next tick runs one. */
  #unfinished = false;

  constructor(settings: RetentionSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  /** The status, with the totals kept in the mirror's progress. */
  status(totals: RetentionTotals): RetentionStatus {
    return { ...this.#status, totals: { ...totals } };
  }

  /** A version the mirror just published: its manifest is cached for the passes. */
  published(file: ManifestFile): void {
    this.#remember(file.version, file.manifest, file.bytes.length);
  }

  /** Forget what was read of the target (a wiped or swapped target). */
  forget(): void {
    this.#cache.clear();
    this.#files.clear();
    this.#passedHead = -1;
    this.#sweepDue = true;
  }

  #remember(version: number, m: Manifest, bytes: number): CachedManifest {
    const files = referencedFiles(m).map((f) => {
      const known = this.#files.get(f.path);
      if (known !== undefined && known.size === f.size && known.minSize === f.minSize) return known;
      this.#files.set(f.path, f);
      return f;
    });
    const c = { files, bytes };
    this.#cache.set(version, c);
    return c;
  }

  /** Whether a pass has anything to do now (else it costs no request). */
  due(head: number): boolean {
    const now = this.#now();
    return (
      this.#unfinished ||
      head !== this.#passedHead ||
      now >= this.#nextDueMs ||
      this.#sweepDue ||
      now - this.#lastSweepMs >= this.#settings.graceMs
    );
  }

  async #manifest(target: ObjectStore, v: number): Promise<CachedManifest | undefined> {
    const cached = this.#cache.get(v);
    if (cached !== undefined) return cached;
    const f = await readManifestIfExists(target, v);
    return f === undefined ? undefined : this.#remember(v, f.manifest, f.bytes.length);
  }

  /**
   * One pass: the boundary the policy gives (never moved back), published,
   * then the versions below it expired (`expireVersions`), then a sweep when
   * one is due. Returns false when the budget stopped it (the next tick
   * goes on).
   *
   * @throws TidemarkError store errors (the next pass completes the work;
   *   refused deletes are not errors: they wait).
   */
  async pass(ctx: RetentionPassContext): Promise<boolean> {
    if (!hasPolicy(this.#settings) || !this.due(ctx.head)) return true;
    const before = ctx.requestsSent();
    this.#unfinished = true;
    try {
      const done = await this.#pass(ctx);
      this.#unfinished = !done;
      return done;
    } catch (e) {
      this.#sweepDue = true;
      throw toTidemarkError(e);
    } finally {
      ctx.totals.requests += ctx.requestsSent() - before;
    }
  }

  async #pass(ctx: RetentionPassContext): Promise<boolean> {
    const { target } = ctx;
    const now = this.#now();
    if (!ctx.fits(2)) return false;
    const listed = await listManifests(target);
    const published = await readRetentionBoundary(target);
    const policy = Math.min(
      this.#policyBoundary(listed, ctx.head, now),
      ctx.holdFrom ?? Number.POSITIVE_INFINITY,
    );
    const boundary = Math.max(published, policy);
    const lockMs = this.#settings.lockMs;
    const versions = [...listed.keys()].sort((a, b) => a - b);
    // Below the boundary: expired, unless its manifest's lock still holds (then it waits, keeping its files).
    const locked = (v: number) => {
      const at = listed.get(v)?.getTime();
      return lockMs !== undefined && (at === undefined || at + lockMs > now);
    };
    const below = versions.filter((v) => v < boundary);
    const expired = below.filter((v) => !locked(v));
    const staying = versions.filter((v) => v >= boundary || locked(v));
    let waiting = below.length - expired.length;
    const uncached = [...expired, ...staying].filter((v) => !this.#cache.has(v)).length;
    if (boundary > published || expired.length > 0) {
      // Reads, the boundary (GET, PUT), and each delete (a versioned bucket: a versions page, then DeleteObjects).
      if (!ctx.fits(uncached + 2 + 2 * (Math.ceil(expired.length / 1000) + 1))) return false;
      const r = await expireVersions(target, {
        publish: async () => {
          if (boundary > published) await advanceLowWater(target, boundary, { key: RETENTION_KEY });
        },
        expired,
        retained: staying,
        retainedFiles: async (v) => {
          const c = await this.#manifest(target, v);
          if (c === undefined) throw missingRetained(v);
          return c.files;
        },
        expiredFiles: (v) => this.#manifest(target, v),
        keepFiles: ctx.protect,
        // A version's checksum record goes after its manifest (a reader never meets a manifest without it).
        companions: (v) => [checksumsKey(v)],
        remove: (keys) => this.#remove(target, keys),
      });
      for (const v of r.manifests) this.#cache.delete(v);
      ctx.totals.versionsExpired += r.manifests.length;
      ctx.totals.filesDeleted += r.files.length;
      ctx.totals.bytesFreed += r.manifestBytes + r.files.reduce((n, f) => n + (f.size ?? f.minSize), 0);
      waiting += r.errors.length;
      if (r.errors.length > 0) this.#sweepDue = true;
    }
    // Versions no longer on the target leave the cache (those waiting for a lock stay: read again each pass otherwise).
    for (const v of this.#cache.keys()) if (!listed.has(v)) this.#cache.delete(v);
    this.#status = {
      oldestRetained: boundary,
      versionsKept: versions.filter((v) => v >= boundary).length,
      bytesRetained: this.#retainedBytes(versions.filter((v) => v >= boundary)),
      waiting,
      lastPassAtMs: now,
    };
    this.#nextDueMs = this.#nextDue(listed, boundary, below.length - expired.length > 0);
    if (this.#sweepDue || now - this.#lastSweepMs >= this.#settings.graceMs) {
      const swept = await this.#sweep(ctx, listed, boundary, now);
      if (!swept.done) return false;
      this.#status.waiting += swept.waiting;
      // A file under a lock: sweep again when the first such lock releases.
      this.#nextDueMs = Math.min(this.#nextDueMs, swept.released);
      this.#sweepDue = false;
      this.#lastSweepMs = now;
    }
    this.#passedHead = ctx.head;
    ctx.totals.passes++;
    return true;
  }

  /** Deletes `keys` for good: every version (a plain delete on a versioned bucket frees nothing). */
  #remove(target: ObjectStore, keys: string[]): Promise<DeleteManyResult> {
    return target.deleteMany(keys, { allVersions: true });
  }

  #retainedBytes(versions: number[]): number {
    const seen = new Set<string>();
    let n = 0;
    for (const v of versions) {
      const c = this.#cache.get(v);
      if (c === undefined) continue;
      n += c.bytes;
      for (const f of c.files) {
        if (seen.has(f.path)) continue;
        seen.add(f.path);
        n += f.size ?? f.minSize;
      }
    }
    return n;
  }

  /**
   * The oldest version the policy keeps: of the versions on the target up
   * to `head`, the newest `keepVersions`, and every one that was HEAD within
   * the last `keepDays` (a version whose successor arrived no earlier than
   * the cutoff); HEAD always. 0 when the target holds none.
   */
  #policyBoundary(listed: Map<number, Date | undefined>, head: number, now: number): number {
    const versions = [...listed.keys()].filter((v) => v <= head).sort((a, b) => a - b);
    if (versions.length === 0) return 0;
    const { keepVersions, keepDays } = this.#settings;
    let byCount: number | undefined;
    if (keepVersions !== undefined) {
      byCount = versions[Math.max(0, versions.length - keepVersions)] as number;
    }
    let byAge: number | undefined;
    if (keepDays !== undefined) {
      const cutoff = now - keepDays * DAY_MS;
      byAge = versions[0] as number;
      // The newest version on the target at the cutoff was HEAD then: it and the later ones stay.
      for (const v of versions) {
        const at = listed.get(v)?.getTime();
        if (at === undefined || at > cutoff) break;
        byAge = v;
      }
    }
    const kept = [byCount, byAge].filter((b): b is number => b !== undefined);
    return Math.min(...kept, head);
  }

  /** When the age rule or a lock next moves something: a pass is due then, even with no new version. */
  #nextDue(listed: Map<number, Date | undefined>, boundary: number, waiting: boolean): number {
    let next = Number.POSITIVE_INFINITY;
    const { keepDays, lockMs } = this.#settings;
    const times = [...listed.entries()].sort((a, b) => a[0] - b[0]);
    if (keepDays !== undefined) {
      // The first version after the boundary: when it has been on the target keepDays, the boundary moves.
      const after = times.find(([v]) => v > boundary)?.[1];
      if (after !== undefined) next = Math.min(next, after.getTime() + keepDays * DAY_MS);
    }
    if (waiting && lockMs !== undefined) {
      const oldest = times.find(([v]) => v < boundary)?.[1];
      if (oldest !== undefined) next = Math.min(next, oldest.getTime() + lockMs);
    }
    return next;
  }

  /**
   * Deletes files on the target that no manifest on it names, that carry a
   * mirror's origin metadata and are older than the grace period: what a
   * crash between a pass's manifest and file deletes left, refused deletes,
   * and uploads of a version the mirror never published; and the checksum
   * records (`_tidemark/checksums/`) of versions below the boundary whose
   * manifests are gone (a crash between the two deletes), no HEAD needed.
   * Everything under `metadata/` and the views' prefixes is left alone, and
   * so is any object no mirror wrote and any other record. One listing of
   * the target, one HEAD per candidate file.
   */
  async #sweep(
    ctx: RetentionPassContext,
    listed: Map<number, Date | undefined>,
    boundary: number,
    now: number,
  ): Promise<{ done: boolean; waiting: number; released: number }> {
    const { target } = ctx;
    let released = Number.POSITIVE_INFINITY;
    // The manifests' reads, then the listing of the target (a page per 1,000 keys).
    if (!ctx.fits(1 + [...listed.keys()].filter((v) => !this.#cache.has(v)).length)) {
      return { done: false, waiting: 0, released };
    }
    const named = new Set<string>(ctx.protect);
    for (const v of listed.keys()) {
      let c: CachedManifest | undefined;
      try {
        c = await this.#manifest(target, v);
      } catch (e) {
        // A manifest that does not decode names files nobody can know: sweep nothing.
        if (toTidemarkError(e).code === "Corrupt") return { done: true, waiting: 0, released };
        throw e;
      }
      for (const f of c?.files ?? []) named.add(f.path);
    }
    const skip = [METADATA_PREFIX, ...ctx.skipPrefixes.map((p) => (p.endsWith("/") ? p : `${p}/`))];
    const candidates: Array<{ key: string; size: number }> = [];
    const doomed: Array<{ key: string; size: number }> = [];
    for await (const o of target.list("")) {
      if (o.isPrefix || named.has(o.key) || skip.some((p) => o.key.startsWith(p))) continue;
      const at = o.lastModified?.getTime();
      if (at === undefined || at > now - this.#settings.graceMs) continue;
      if (o.key.startsWith(CHECKSUMS_PREFIX)) {
        // A record outlives its manifest only below the boundary; one above belongs to a version in progress.
        const v = parseChecksumsKey(o.key);
        if (v !== undefined && v < boundary && !listed.has(v)) doomed.push({ key: o.key, size: o.size });
        continue;
      }
      candidates.push({ key: o.key, size: o.size });
    }
    let waiting = 0;
    // The records' share of the delete (a versions page, then DeleteObjects).
    if (doomed.length > 0 && !ctx.fits(2)) return { done: false, waiting, released };
    for (const c of candidates) {
      // Its HEAD, and its share of the delete.
      if (!ctx.fits(doomed.length === 0 ? 3 : 1)) return { done: false, waiting, released };
      const meta = await headIfExists(target, c.key);
      if (meta === undefined) continue;
      // Only what a mirror wrote: any other object is not retention's to delete.
      if (meta.metadata?.[ORIGIN_SOURCE_KEY] === undefined) continue;
      if (lockHolds(meta.lock, now)) {
        waiting++;
        released = Math.min(released, meta.lock?.retainUntil.getTime() ?? released);
        continue;
      }
      doomed.push(c);
    }
    if (doomed.length > 0) {
      const r = await this.#remove(
        target,
        doomed.map((d) => d.key),
      );
      const refused = new Set(r.errors.map((e) => e.key));
      waiting += refused.size;
      for (const d of doomed) {
        if (refused.has(d.key)) continue;
        if (!d.key.startsWith(CHECKSUMS_PREFIX)) ctx.totals.filesDeleted++;
        ctx.totals.bytesFreed += d.size;
      }
    }
    return { done: true, waiting, released };
  }
}

/** The manifest versions on `target` (one listing of `metadata/v`) and when each was stored. */
async function listManifests(target: ObjectStore): Promise<Map<number, Date | undefined>> {
  const out = new Map<number, Date | undefined>();
  for await (const m of target.list(`${METADATA_PREFIX}v`)) {
    const v = parseManifestKey(m.key);
    if (v !== undefined) out.set(v, m.lastModified);
  }
  return out;
}

function missingRetained(v: number): TidemarkError {
  return new TidemarkError(
    "NotFound",
    `retention: v${v} was listed on the target and is gone (another retention pass?): the next pass looks again`,
  );
}
