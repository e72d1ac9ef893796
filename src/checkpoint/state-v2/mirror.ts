/**
 * The checkpoint mirror: copies a LaminarDB `state-v2` root to another
 * store in an order in which a reader of the target never finds it torn.
 *
 * 1. `state-v2/_NAMESPACE` first, create-only, the source's bytes (a
 *    target holding another namespace is `SplitBrain`);
 * 2. each sealed attempt above the source's prune floor, oldest first: the
 *    objects its seal names (create-only, streamed, each checked against
 *    the seal as it passes: header and payload SHA-256), then its `_SEAL`,
 *    the source's bytes, create-only;
 * 3. then `_PRUNE_FLOOR`, the source's bytes, never lowered, and only when
 *    it hides no ancestor of an attempt the target keeps (else held back and
 *    reported); then the target's attempts below its floor are deleted,
 *    seals first.
 *
 * Incremental: attempts are read in epoch order and one handled (copied, or
 * skipped because its source objects do not match its seal) is not read
 * again. Unsealed and abandoned attempts are not copied, but looked at again
 * each tick until the floor passes them: one LaminarDB seals late is copied. Saved progress is
 * bound to the pair of stores and checked against the target before it is
 * trusted, as the table mirror's is; objects already on the target are
 * accepted only when proven the source's (`proveOrigin`).
 *
 * One `tick()` is one budgeted pass (requests and bytes, as the table
 * mirror's `TickBudget` counts them), so a Durable Object alarm can drive it;
 * `start()` runs ticks on a timer in-process.
 *
 * Costs: an idle tick is one delimited LIST of the source's `state-v2/` (its
 * epochs, and the floor's etag) plus one LIST per unsealed attempt above the
 * floor, and one HEAD on the target. An attempt with n objects: 3
 * requests (LIST, GET the seal, PUT it), one LIST of the target, and a GET
 * and a PUT per object.
 *
 * @module
 */

import { TidemarkError, toTidemarkError } from "../../errors.ts";
import { FILE_REQUESTS, TickBudget } from "../../mirror/budget.ts";
import { boundedWait, TickLoop } from "../../mirror/loop.ts";
import { MirrorMeters } from "../../mirror/meters.ts";
import { type MirrorOptions, type MirrorSettings, mirrorSettings } from "../../mirror/settings.ts";
import { forEachLimit } from "../../store/batch.ts";
import { bytesIfExists, createOrSame, getIfExists } from "../../store/exists.ts";
import { backoffDelay } from "../../store/retry.ts";
import { type ObjectMeta, type ObjectStore, storeId } from "../../store/types.ts";
import { type Fault, isFault } from "./fault.ts";
import {
  attemptOf,
  attemptPrefix,
  epochOfPrefix,
  epochPrefix,
  NAMESPACE_KEY,
  PRUNE_FLOOR_KEY,
  STATE_V2_PREFIX,
  sealKey,
} from "./keys.ts";
import { type CopyContext, copySealedObject, DamagedSource, sealedObjects } from "./mirror-copy.ts";
import { floorWouldCut, keptAncestors, pruneBelow, putFloor } from "./mirror-floor.ts";
import {
  type CheckpointMirrorCounters,
  type CheckpointMirrorProgressStore,
  cloneCheckpointProgress,
  SKIPPED_KEPT,
  type SkippedAttempt,
} from "./mirror-progress.ts";
import { CheckpointTarget, parentsOf } from "./mirror-target.ts";
import { decodeNamespace, decodePruneFloor, type PruneFloor } from "./namespace.ts";
import { decodeSeal, MAX_SEAL_BYTES } from "./seal.ts";

/** Options of {@link CheckpointMirror}: the table mirror's, where they mean the same. */
export interface CheckpointMirrorOptions
  extends Pick<
    MirrorOptions,
    "pollIntervalMs" | "parallelism" | "budget" | "backoff" | "shutdownTimeoutMs" | "now" | "sleep"
  > {
  /** The checkpoint root LaminarDB writes (`state-v2/` under it). */
  source: ObjectStore;
  /** Where the copy goes (its own `state-v2/`). */
  target: ObjectStore;
  /** Where progress is kept (default: in memory, re-read from the target on the first tick). */
  progress?: CheckpointMirrorProgressStore;
  /** Called with every failed tick's error. */
  onError?: (e: TidemarkError) => void;
}

/** A snapshot of a checkpoint mirror's state; see {@link CheckpointMirror.status}. */
export interface CheckpointMirrorStatus {
  /** The newest source epoch handled (copied, or skipped). */
  through: string | null;
  /** The newest attempt sealed on the target. */
  newestCopied: string | null;
  /** The newest epoch the source held at the last look (sealed or not). */
  sourceNewest: string | null;
  /** Source epochs above `through` (and above its floor) not handled yet, at the last look. */
  pending: number;
  /** Nothing left to do as of the last tick, which succeeded. */
  caughtUp: boolean;
  /** `before_epoch` of each side's floor, and a source floor held back (why). */
  floor: { source: string | null; target: string | null; held: { before: string; because: string } | null };
  /** The attempt being copied, and how many of its objects are on the target. */
  inProgress: { epoch: string; objects: number } | null;
  /** Source attempts not copied, and why. */
  skipped: SkippedAttempt[];
  counters: CheckpointMirrorCounters;
  lastError: { message: string; atMs: number } | null;
  /** When to tick next: the poll interval when caught up, 0 when work remains, a backoff after a failure. */
  nextDelayMs: number;
}

/** Requests an attempt costs besides its objects: LIST source, GET seal, LIST target, PUT seal. */
const ATTEMPT_REQUESTS = 4;

/** What the source root showed at the start of a tick (one delimited listing). */
interface SourceRoot {
  namespace: ObjectMeta | undefined;
  floor: ObjectMeta | undefined;
  epochs: bigint[];
}

type AttemptOutcome = "copied" | "skipped" | "unsealed" | "incomplete";

/** The source's floor as last read: its etag, bytes and value. */
interface SourceFloor {
  etag: string;
  bytes: Uint8Array;
  floor: PruneFloor;
}

/** Requests the floor and a prune step reserve: GET and PUT the target's floor, LIST and DELETE an epoch. */
const FLOOR_REQUESTS = 4;

/**
 * Mirrors a LaminarDB `state-v2` checkpoint root (see the module). Drive it
 * with `start()` (a timer loop; `kick()`, `shutdown()`) or call `tick()` (a
 * Durable Object alarm, rescheduling after `status().nextDelayMs`).
 */
export class CheckpointMirror {
  readonly #meters: MirrorMeters;
  readonly #source: ObjectStore;
  readonly #target: ObjectStore;
  readonly #sourceId: string;
  readonly #settings: MirrorSettings;
  readonly #opts: CheckpointMirrorOptions;
  readonly #now: () => number;
  readonly #t: CheckpointTarget;
  readonly #loop: TickLoop;
  #namespace: Uint8Array | undefined;
  #sourceFloor: SourceFloor | undefined;
  #sourceNewest: bigint | null = null;
  #pending = 0;
  #failureStreak = 0;
  #workRemains = false;
  #lastTickOk = false;
  #current: Promise<string | null> | undefined;
  #closed = false;
  #shutdown: Promise<void> | undefined;

  /**
   * @throws TidemarkError `InvalidArgument` naming the option for a bad
   *   number, or a missing store.
   */
  constructor(opts: CheckpointMirrorOptions) {
    if (!opts?.source || !opts.target) {
      throw new TidemarkError("InvalidArgument", "a CheckpointMirror needs a source and a target store");
    }
    this.#opts = opts;
    // The numbers mean what they mean for a table mirror: one validation (the progress store differs).
    const { progress: _progress, ...shared } = opts;
    this.#settings = mirrorSettings(shared);
    this.#meters = new MirrorMeters(opts.source, opts.target);
    this.#source = this.#meters.source;
    this.#target = this.#meters.target;
    this.#sourceId = storeId(opts.source);
    this.#t = new CheckpointTarget(
      this.#target,
      { source: this.#sourceId, target: storeId(opts.target) },
      opts.progress,
    );
    this.#now = opts.now ?? (() => Date.now());
    this.#loop = new TickLoop({
      tick: () => this.tick(),
      nextDelayMs: () => this.status().nextDelayMs,
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
  }

  /** A copy of the mirror's state. */
  status(): CheckpointMirrorStatus {
    const p = cloneCheckpointProgress(this.#t.progress);
    const caughtUp = this.#lastTickOk && this.#failureStreak === 0 && !this.#workRemains;
    const newest = Object.keys(p.attempts)
      .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))
      .at(-1);
    return {
      through: p.through,
      newestCopied: newest ?? null,
      sourceNewest: this.#sourceNewest === null ? null : String(this.#sourceNewest),
      pending: this.#pending,
      caughtUp,
      floor: {
        source: this.#sourceFloor ? String(this.#sourceFloor.floor.beforeEpoch) : null,
        target: p.floor,
        held: p.heldFloor ?? null,
      },
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
   * One pass: copies the sealed attempts the source has and the target
   * lacks, oldest first, then the floor and the prune, within the budget.
   * Concurrent calls share one pass. Never throws: a failure is recorded
   * (`status().lastError`) and passed to `onError`; the next tick retries.
   *
   * @returns the newest source epoch handled after the pass.
   */
  tick(): Promise<string | null> {
    if (this.#current) return this.#current;
    if (this.#closed) return Promise.resolve(this.#t.progress.through);
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
      await this.#pass(budget);
      this.#failureStreak = 0;
      delete this.#t.progress.lastError;
    } catch (e) {
      failed = toTidemarkError(e);
      this.#failureStreak++;
      this.#t.progress.counters.failures++;
      this.#t.progress.lastError = { message: failed.message, atMs: this.#now() };
    }
    this.#lastTickOk = failed === undefined;
    this.#meters.addTo(this.#t.progress.counters);
    if (this.#t.initialised) {
      try {
        await this.#opts.progress?.save(cloneCheckpointProgress(this.#t.progress));
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
    return this.#t.progress.through;
  }

  async #pass(budget: TickBudget): Promise<void> {
    const src = await this.#readSourceRoot();
    if (src.namespace === undefined) {
      if (src.epochs.length === 0 && src.floor === undefined) return; // nothing to mirror yet
      throw new TidemarkError(
        "NotSupported",
        `the source ${this.#source.name} holds state-v2 objects but no namespace marker: LaminarDB refuses such a root, and so does the mirror`,
        { key: NAMESPACE_KEY },
      );
    }
    const namespace = await this.#sourceNamespace();
    if (!this.#t.initialised) await this.#t.init(namespace);
    else if (!(await this.#t.asBelieved())) await this.#t.forget(namespace);
    const p = this.#t.progress;
    if (!p.namespace) {
      p.counters.bytes += await createOrSame(
        this.#target,
        NAMESPACE_KEY,
        namespace,
        () =>
          `the target ${this.#target.name} holds another state namespace: another deployment's checkpoints are mirrored there`,
      );
      p.namespace = true;
    }
    const floor = await this.#readSourceFloor(src.floor);
    const before = floor?.floor.beforeEpoch ?? 0n;
    const through = p.through === null ? 0n : BigInt(p.through);
    // Attempts passed unsealed (a newer one was handled) are looked at again until sealed or
    // below the floor: LaminarDB may still seal one (a slow sealer); sealed ones are not read again.
    const listed = new Set(src.epochs);
    if (this.#t.derived) {
      // Progress read from the target: every source attempt below it that the target lacks is looked at once more.
      p.unsealed = src.epochs.filter((e) => e < through && p.attempts[String(e)] === undefined).map(String);
      this.#t.derived = false;
    }
    p.unsealed = p.unsealed.filter((e) => BigInt(e) >= before && listed.has(BigInt(e)));
    // Each epoch once, in order (an unsealed one is in both lists until it is handled).
    const pending = [
      ...new Set([...p.unsealed.map(BigInt), ...src.epochs.filter((e) => e > through && e >= before)]),
    ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.#pending = pending.length;
    for (const e of pending) {
      if (this.#closed || !budget.begin(ATTEMPT_REQUESTS, 0, false)) {
        this.#workRemains = true;
        break;
      }
      let outcome: AttemptOutcome;
      try {
        outcome = await this.#attempt(e, before, budget);
      } finally {
        budget.end(ATTEMPT_REQUESTS, 0, 0);
      }
      if (outcome === "incomplete") {
        this.#workRemains = true;
        break;
      }
      this.#pending--;
      // Recorded at once: a tick that fails later must not forget an attempt it passed.
      const i = p.unsealed.indexOf(String(e));
      if (outcome === "unsealed") {
        if (i < 0) p.unsealed.push(String(e));
        continue;
      }
      if (i >= 0) p.unsealed.splice(i, 1);
      if (e > BigInt(p.through ?? "0")) p.through = String(e);
      budget.progressed();
    }
    if (this.#workRemains) return;
    // The floor after the attempts, outside the budget's accounting but not beyond it.
    if (!budget.fits(FLOOR_REQUESTS, 0)) {
      if (floor?.etag !== p.sourceFloorEtag || p.prunePending) this.#workRemains = true;
      return;
    }
    if (floor) await this.#floorAndPrune(floor);
    else if (p.prunePending && p.floor !== null) await this.#prune(BigInt(p.floor));
  }

  /** One delimited listing of the source's `state-v2/`. */
  async #readSourceRoot(): Promise<SourceRoot> {
    const out: SourceRoot = { namespace: undefined, floor: undefined, epochs: [] };
    for await (const m of this.#source.list(STATE_V2_PREFIX, { delimiter: "/" })) {
      if (m.key === NAMESPACE_KEY) out.namespace = m;
      else if (m.key === PRUNE_FLOOR_KEY) out.floor = m;
      else if (m.isPrefix) {
        const e = epochOfPrefix(m.key);
        if (e !== undefined) out.epochs.push(e);
      }
    }
    out.epochs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.#sourceNewest = out.epochs.at(-1) ?? null;
    return out;
  }

  /** The source's namespace bytes, checked as LaminarDB checks them (read once per instance: it never changes). */
  async #sourceNamespace(): Promise<Uint8Array> {
    if (this.#namespace) return this.#namespace;
    const bytes = await (await this.#source.get(NAMESPACE_KEY)).bytes();
    const ns = decodeNamespace(bytes);
    if (isFault(ns)) throw damagedRootDocument(NAMESPACE_KEY, "namespace marker", ns);
    this.#namespace = bytes;
    return bytes;
  }

  /** The source's floor, read again only when its etag changed. */
  async #readSourceFloor(meta: ObjectMeta | undefined): Promise<SourceFloor | undefined> {
    if (meta === undefined) return undefined;
    if (this.#sourceFloor?.etag === meta.etag) return this.#sourceFloor;
    const got = await getIfExists(this.#source, PRUNE_FLOOR_KEY);
    if (got === undefined) return this.#sourceFloor;
    const bytes = await got.bytes();
    const floor = decodePruneFloor(bytes);
    if (isFault(floor)) throw damagedRootDocument(PRUNE_FLOOR_KEY, "prune floor", floor);
    this.#sourceFloor = { etag: got.etag, bytes, floor };
    return this.#sourceFloor;
  }

  #skip(epoch: bigint, reason: string): AttemptOutcome {
    const p = this.#t.progress;
    p.skipped.push({ epoch: String(epoch), reason });
    if (p.skipped.length > SKIPPED_KEPT) p.skipped.splice(0, p.skipped.length - SKIPPED_KEPT);
    delete p.inProgress;
    return "skipped";
  }

  /** Copies attempt `epoch` if it is sealed: its objects, then its seal. */
  async #attempt(epoch: bigint, before: bigint, budget: TickBudget): Promise<AttemptOutcome> {
    const attempt = attemptOf(epoch);
    const prefix = attemptPrefix(attempt);
    const listed = new Map<string, ObjectMeta>();
    for await (const m of this.#source.list(epochPrefix(epoch)))
      if (m.key.startsWith(prefix)) listed.set(m.key, m);
    const sealMeta = listed.get(sealKey(attempt));
    if (sealMeta === undefined) return "unsealed";
    if (sealMeta.size > MAX_SEAL_BYTES)
      return this.#skip(epoch, `its seal is ${sealMeta.size} bytes, above LaminarDB's limit`);
    const sealBytes = await bytesIfExists(this.#source, sealKey(attempt));
    if (sealBytes === undefined) return "unsealed"; // pruned since the listing
    const seal = decodeSeal(sealBytes, attempt);
    if (isFault(seal)) return this.#skip(epoch, `its seal is damaged (${seal.rule}): ${seal.message}`);
    const parents = parentsOf(seal);
    const cut = parents.find((e) => BigInt(e) < before);
    if (cut !== undefined) {
      return this.#skip(
        epoch,
        `it is built on attempt ${cut}, below the source's prune floor (${before}): not restorable`,
      );
    }
    // Parents are older, so handled before: one the target lacks was skipped (or never seen), and
    // a seal built on it would be one the target cannot restore.
    const lacking = parents.find((e) => this.#t.progress.attempts[e] === undefined);
    if (lacking !== undefined) {
      return this.#skip(epoch, `it is built on attempt ${lacking}, which the target does not hold`);
    }
    const objects = sealedObjects(attempt, seal);
    for (const o of objects) {
      const m = listed.get(o.key);
      if (m === undefined)
        return this.#skip(epoch, `its seal names ${o.key}, which the source does not have`);
      if (m.size !== o.size)
        return this.#skip(epoch, `${o.key} is ${m.size} bytes on the source; its seal says ${o.size}`);
    }
    const p = this.#t.progress;
    if (p.inProgress?.epoch !== String(epoch)) p.inProgress = { epoch: String(epoch), etags: {} };
    const etags = p.inProgress.etags;
    const onTarget = new Map<string, ObjectMeta>();
    for await (const m of this.#target.list(prefix)) onTarget.set(m.key, m);
    const ctx: CopyContext = {
      source: this.#source,
      target: this.#target,
      sourceId: this.#sourceId,
      partOf: `checkpoint attempt ${epoch}`,
    };
    let complete = true;
    let damaged: DamagedSource | undefined;
    const todo = objects.filter((o) => {
      const there = onTarget.get(o.key);
      if (there !== undefined && etags[o.key] === there.etag) return false; // copied and checked by this mirror
      return true;
    });
    await forEachLimit(todo, this.#settings.parallelism, async (o) => {
      if (!complete || damaged || this.#closed) {
        complete = false;
        return;
      }
      if (!budget.begin(FILE_REQUESTS, o.size)) {
        complete = false;
        return;
      }
      let moved = 0;
      try {
        const r = await copySealedObject(ctx, o, onTarget.get(o.key));
        etags[o.key] = r.etag;
        if (r.copied === undefined) p.counters.foundObjects++;
        else {
          p.counters.objects++;
          p.counters.bytes += r.copied;
          moved = r.copied;
        }
      } catch (e) {
        if (e instanceof DamagedSource) damaged ??= e;
        else throw e;
      } finally {
        budget.end(FILE_REQUESTS, o.size, moved);
      }
    });
    if (damaged) return this.#skip(epoch, `its objects do not match its seal: ${damaged.message}`);
    if (!complete) return "incomplete";
    // Recorded before the seal's put: a put whose response is lost may have landed, and the floor
    // and the prune must then keep this attempt's chain (recording one that did not land only holds
    // a floor back until the next tick seals it, or the target is read again).
    p.attempts[String(epoch)] = parents;
    p.counters.bytes += await createOrSame(
      this.#target,
      sealKey(attempt),
      sealBytes,
      () =>
        `the target already has another seal for attempt ${epoch}: another deployment's state was mirrored there`,
    );
    p.counters.attempts++;
    delete p.inProgress;
    return "copied";
  }

  /** The source's floor on the target (unless it would cut a kept chain), then the prune below it. */
  async #floorAndPrune(floor: SourceFloor): Promise<void> {
    const p = this.#t.progress;
    const before = floor.floor.beforeEpoch;
    if (p.sourceFloorEtag !== floor.etag || p.heldFloor) {
      const why = floorWouldCut(before, p.attempts);
      if (why !== undefined) {
        p.heldFloor = { before: String(before), because: why };
      } else {
        p.counters.bytes += await putFloor(this.#target, floor.bytes, floor.floor);
        delete p.heldFloor;
        p.floor = String(before);
        p.prunePending = true;
      }
      p.sourceFloorEtag = floor.etag;
    }
    if (p.prunePending && p.floor !== null) await this.#prune(BigInt(p.floor));
  }

  /** Deletes the target's attempts below `before` (never one a kept attempt is built on). */
  async #prune(before: bigint): Promise<void> {
    const p = this.#t.progress;
    const keep = new Set(keptAncestors(before, p.attempts).keys());
    p.counters.pruned += await pruneBelow(this.#target, before, keep);
    for (const e of Object.keys(p.attempts)) if (BigInt(e) < before && !keep.has(e)) delete p.attempts[e];
    p.prunePending = false;
  }

  /** Ticks as soon as possible (see `Mirror.kick`). */
  kick(): void {
    this.#loop.kick();
  }

  /** Starts the in-process loop: tick, wait `status().nextDelayMs` (or a kick), repeat. */
  start(): void {
    if (this.#closed) return;
    this.#loop.start();
  }

  /** Stops the loop; resolves once the tick in flight ended (or after `shutdownTimeoutMs`). Idempotent. */
  shutdown(): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    this.#closed = true;
    const pending = this.#loop.stop() ?? this.#current;
    this.#shutdown = pending ? boundedWait(pending, this.#settings.shutdownTimeoutMs) : Promise.resolve();
    return this.#shutdown;
  }
}

/** `Corrupt`: the source's namespace or floor fails LaminarDB's checks (LaminarDB cannot read the root either). */
function damagedRootDocument(key: string, what: string, f: Fault): TidemarkError {
  return new TidemarkError("Corrupt", `the source's ${what} is damaged (${f.rule}): ${f.message}`, { key });
}
