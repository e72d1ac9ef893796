/**
 * Streaming checkpoint state on an object store: per-epoch, per-vnode partial
 * state files, an epoch sealed by a create-only `_COMMIT` marker naming its
 * committer (split-brain detection), a fencing assignment version, an
 * incremental prune, and a cheap "latest committed epoch".
 *
 * A port of LaminarDB's `ObjectStoreBackend`
 * (laminardb/laminardb `crates/laminar-core/src/state/object_store.rs`), with
 * the same layout, so either can read the other's epochs:
 *
 * ```
 * epoch={E}/vnode={V}/partial.bin   one vnode's state for epoch E (plain put)
 * epoch={E}/_COMMIT                 the seal; body = the committer's instance id (create-only)
 * _LATEST                           tidemark only: the latest-epoch hint (decimal; CAS, never backwards)
 * ```
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { type RetryPolicy, resolvePolicy, retryDelay, withRetry } from "../store/retry.ts";
import type { DeleteError, ObjectStore, PutResult } from "../store/types.ts";

/** The key of the latest-epoch hint (outside `epoch=`, so prune never touches it). */
export const CHECKPOINT_HINT_KEY = "_LATEST";

/** The key of vnode `vnode`'s partial state for `epoch`. */
export function checkpointPartialKey(epoch: number, vnode: number): string {
  return `epoch=${epoch}/vnode=${vnode}/partial.bin`;
}

/** The key of `epoch`'s `_COMMIT` marker. */
export function checkpointCommitKey(epoch: number): string {
  return `epoch=${epoch}/_COMMIT`;
}

/** Options of {@link CheckpointStore}. */
export interface CheckpointStoreOptions {
  /**
   * This committer's id, written as the body of the `_COMMIT` markers it
   * creates. Must differ between processes that may race to seal the same
   * epoch (a restarted process may reuse its id: its own markers stay its own).
   */
  instanceId: string;
  /** Vnodes are `0 .. vnodeCapacity - 1`. */
  vnodeCapacity: number;
  /** The first prune and every `fullScanEvery`-th one list the whole layout (default 32). */
  fullScanEvery?: number;
  /**
   * Retry policy of the store calls whose outcome this class must resolve
   * itself (the marker create and its re-read, the hint CAS). Default: the
   * library default.
   */
  retry?: RetryPolicy;
  /**
   * Minimum time between two hint updates after contiguous seals, in ms
   * (default 0: every seal). R2 takes about one write per second per key:
   * with sub-second seals there, set 1,000; readers then probe a few more
   * epochs above a slightly stale hint. A seal after a gap always updates it.
   */
  hintIntervalMs?: number;
  /** Milliseconds clock for `hintIntervalMs` (default `Date.now`). */
  now?: () => number;
}

/** What one {@link CheckpointStore.pruneBefore} pass did. */
export interface PruneResult {
  /** True when this pass listed the whole layout (`epoch=`), not the window. */
  fullScan: boolean;
  /** Objects found below the horizon. */
  listed: number;
  /** Objects deleted (or already gone). */
  deleted: number;
  /** Deletes that failed; they are retried by the next pass (the cursor did not advance). */
  failed: DeleteError[];
  /** The cursor after this pass. */
  cursor: number;
}

/** Counters for tests and metrics. */
export interface CheckpointStats {
  /** `pruneBefore` calls so far. */
  prunePasses: number;
  /** Post-seal hint updates that failed (harmless: readers probe upward past a stale hint). */
  hintFailures: number;
  /** `latestCommittedEpoch` calls that needed a listing (hint missing or wrong). */
  latestFallbacks: number;
}

// An incremental prune lists one prefix per epoch of its window; past this
// many epochs one full listing (1 request per 1,000 objects) is cheaper.
const MAX_PRUNE_WINDOW = 256;
// How far `latestCommittedEpoch` probes below a hint whose marker is absent
// (a gap seal in flight or crashed midway) before it falls back to a listing.
const DOWNWARD_PROBES = 2;
// How many HEADs the listing fallback spends on the topmost epochs before it
// lists every key of the layout instead.
const FALLBACK_HEADS = 8;
// Attempts of the hint compare-and-swap under contention.
const HINT_ATTEMPTS = 8;

const CANONICAL = /^(0|[1-9][0-9]*)$/;
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** `epoch=N/...` → N, for canonical decimal N only (`epoch=007/` is not our layout). */
function epochOfKey(key: string): number | undefined {
  if (!key.startsWith("epoch=")) return undefined;
  const slash = key.indexOf("/");
  if (slash < 0) return undefined;
  return parseEpoch(key.slice("epoch=".length, slash));
}

function parseEpoch(s: string): number | undefined {
  if (!CANONICAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function checkNonNegative(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TidemarkError("InvalidArgument", `${what} must be a non-negative safe integer, got ${n}`);
  }
}

/**
 * Checkpoint state of one streaming job on `store` (give each job its own
 * store or `prefixed(store, ...)` view).
 *
 * Sealing: {@link sealEpoch} lists `epoch={E}/` once and, when every vnode's
 * partial is there, creates `epoch={E}/_COMMIT` create-only with this
 * instance's id as body. Whoever finds a marker reads it: its own id means
 * "sealed, by me" (idempotent), another id is `SplitBrain`.
 *
 * Fencing: {@link writePartial} rejects writes stamped with an assignment
 * version below {@link authoritativeVersion} (`StaleVersion`). As in
 * LaminarDB the authoritative version lives in this process only; a deposed
 * process that never learns the new version is caught by the `_COMMIT` body.
 *
 * Latest epoch: the `_LATEST` hint makes {@link latestCommittedEpoch} 3
 * requests instead of a listing of every key (see there).
 */
export class CheckpointStore {
  readonly #store: ObjectStore;
  readonly #id: string;
  readonly #capacity: number;
  readonly #fullScanEvery: number;
  readonly #retry: RetryPolicy;
  #authoritative = 0;
  #cursor = 0;
  #baseline = false;
  #prunePasses = 0;
  #hintFailures = 0;
  #latestFallbacks = 0;
  /** The hint as this instance last wrote or read it (its epoch never decreases on the store). */
  #hint: { epoch: number; etag: string } | undefined;
  /** The highest epoch this instance sealed or confirmed as its own, -1 if none. */
  #lastSealed = -1;
  readonly #hintIntervalMs: number;
  readonly #clock: () => number;
  #hintWrittenAt = Number.NEGATIVE_INFINITY;

  /**
   * @throws TidemarkError `InvalidArgument` for an empty `instanceId`, a
   *   `vnodeCapacity` outside 1..2^32, a `fullScanEvery` below 1, a bad
   *   `hintIntervalMs` or retry policy.
   */
  constructor(store: ObjectStore, opts: CheckpointStoreOptions) {
    if (typeof opts.instanceId !== "string" || opts.instanceId === "") {
      throw new TidemarkError("InvalidArgument", "instanceId must be a non-empty string");
    }
    if (!Number.isInteger(opts.vnodeCapacity) || opts.vnodeCapacity < 1 || opts.vnodeCapacity > 2 ** 32) {
      throw new TidemarkError("InvalidArgument", `vnodeCapacity must be an integer in 1..2^32`);
    }
    const every = opts.fullScanEvery ?? 32;
    if (!Number.isInteger(every) || every < 1) {
      throw new TidemarkError("InvalidArgument", "fullScanEvery must be an integer >= 1");
    }
    this.#store = store;
    this.#id = opts.instanceId;
    this.#capacity = opts.vnodeCapacity;
    this.#fullScanEvery = every;
    this.#retry = opts.retry ?? {};
    resolvePolicy(this.#retry);
    const interval = opts.hintIntervalMs ?? 0;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new TidemarkError("InvalidArgument", "hintIntervalMs must be a finite number >= 0");
    }
    this.#hintIntervalMs = interval;
    this.#clock = opts.now ?? (() => Date.now());
  }

  /** This committer's id. */
  get instanceId(): string {
    return this.#id;
  }

  /** The vnode range: `0 .. vnodeCapacity - 1`. */
  get vnodeCapacity(): number {
    return this.#capacity;
  }

  /** The fencing version (0: fence off). */
  get authoritativeVersion(): number {
    return this.#authoritative;
  }

  /**
   * Every epoch below the cursor has been pruned by a clean pass (LaminarDB's
   * `latest_pruned_epoch`); 0 before the first clean pass. Never decreases.
   */
  get pruneCursor(): number {
    return this.#cursor;
  }

  /** Counters for tests and metrics. */
  get stats(): CheckpointStats {
    return {
      prunePasses: this.#prunePasses,
      hintFailures: this.#hintFailures,
      latestFallbacks: this.#latestFallbacks,
    };
  }

  /**
   * Raises the fencing version to `version`; a lower or equal one is a no-op
   * (a late call never lowers it).
   *
   * @throws TidemarkError `InvalidArgument` unless `version` is a non-negative safe integer.
   */
  setAuthoritativeVersion(version: number): void {
    checkNonNegative("assignment version", version);
    if (version > this.#authoritative) this.#authoritative = version;
  }

  #checkVnode(vnode: number): void {
    if (!Number.isInteger(vnode) || vnode < 0 || vnode >= this.#capacity) {
      throw new TidemarkError("InvalidArgument", `vnode ${vnode} out of range (capacity ${this.#capacity})`);
    }
  }

  /**
   * Stores vnode `vnode`'s state for `epoch` (a plain overwrite: a retried
   * write is harmless).
   *
   * @throws TidemarkError `InvalidArgument` for a vnode out of range or a bad
   *   epoch or version; `StaleVersion` when `assignmentVersion` is below the
   *   authoritative version (unless that is 0, fence off); store errors.
   */
  async writePartial(
    vnode: number,
    epoch: number,
    assignmentVersion: number,
    bytes: Uint8Array,
  ): Promise<void> {
    this.#checkVnode(vnode);
    checkNonNegative("epoch", epoch);
    checkNonNegative("assignment version", assignmentVersion);
    if (!(bytes instanceof Uint8Array)) {
      throw new TidemarkError("InvalidArgument", "partial state must be a Uint8Array");
    }
    const authoritative = this.#authoritative;
    if (authoritative > 0 && assignmentVersion < authoritative) {
      throw new TidemarkError(
        "StaleVersion",
        `vnode ${vnode} epoch ${epoch}: assignment version ${assignmentVersion} is below the authoritative version ${authoritative}`,
        { key: checkpointPartialKey(epoch, vnode) },
      );
    }
    await this.#store.put(checkpointPartialKey(epoch, vnode), bytes, {
      contentType: "application/octet-stream",
    });
  }

  /**
   * Reads vnode `vnode`'s state for `epoch`; `null` when there is none (never
   * written, or pruned), as LaminarDB's `Ok(None)`: a missing partial is an
   * expected answer during recovery, not an error.
   *
   * @throws TidemarkError `InvalidArgument` for a vnode out of range or a bad epoch; store errors.
   */
  async readPartial(vnode: number, epoch: number): Promise<Uint8Array | null> {
    this.#checkVnode(vnode);
    checkNonNegative("epoch", epoch);
    try {
      return await (await this.#store.get(checkpointPartialKey(epoch, vnode))).bytes();
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return null;
      throw e;
    }
  }

  /**
   * Seals `epoch` once every vnode of `vnodes` has its partial: one listing of
   * `epoch={E}/` (not one HEAD per vnode; it also shows an existing marker),
   * then a create-only `_COMMIT` whose body is this instance's id.
   *
   * Returns `false` while a partial is missing, `true` once the epoch is
   * sealed by this instance (again on every later call: idempotent). A marker
   * written by another committer is `SplitBrain`, whether it was there before
   * the listing or won the race to the create. A create whose response was
   * lost (a `Transient` after the write landed) is resolved by re-reading the
   * marker: its body names us, so it is never mistaken for a split brain.
   *
   * Before creating the marker of an epoch whose predecessor is not sealed (a
   * gap), the `_LATEST` hint is raised to `epoch` first; after a contiguous
   * seal it is raised afterwards, best-effort (see {@link latestCommittedEpoch}).
   *
   * Cost with 1,000 vnodes: a poll while a partial is missing, 1 list; a seal
   * in steady state (this instance sealed the previous epoch), 1 list + 1
   * create + 1 hint CAS (its etag cached); after a restart or a gap, 1 HEAD
   * of the previous epoch's marker and 1 GET of the hint more; a repeat call
   * on a sealed epoch, 1 list page + 1 GET of the marker.
   *
   * @throws TidemarkError `SplitBrain` (the message names both committers);
   *   `InvalidArgument` for a vnode out of range or a bad epoch; `Corrupt`
   *   for a marker body that is not UTF-8; `Transient` when the store stays
   *   unavailable (calling again is safe); other store errors.
   */
  async sealEpoch(epoch: number, vnodes: Iterable<number>): Promise<boolean> {
    checkNonNegative("epoch", epoch);
    const wanted = new Set<number>();
    for (const v of vnodes) {
      this.#checkVnode(v);
      wanted.add(v);
    }
    const commit = checkpointCommitKey(epoch);
    const found = new Set<string>();
    let marked = false;
    for await (const m of this.#store.list(`epoch=${epoch}/`)) {
      // `_COMMIT` sorts before `vnode=...` (0x5F < 0x76): an existing marker
      // ends the listing on its first page.
      if (m.key === commit) {
        marked = true;
        break;
      }
      found.add(m.key);
    }
    if (marked) {
      const owner = await this.#readMarker(epoch);
      // Present in the listing, gone now: a concurrent prune removed the epoch.
      if (owner === null) {
        throw new TidemarkError("Transient", `marker of epoch ${epoch} vanished while sealing`, {
          key: commit,
        });
      }
      return this.#decide(epoch, owner);
    }
    for (const v of wanted) {
      if (!found.has(checkpointPartialKey(epoch, v))) return false;
    }
    const gap = epoch > 0 && this.#lastSealed !== epoch - 1 && !(await this.#isSealed(epoch - 1));
    // Readers probe upward from the hint through contiguous sealed epochs, so
    // a seal after a gap must be covered by the hint before it exists.
    if (gap) await this.#advanceHint(epoch);
    const sealed = await this.#createMarker(epoch);
    if (!gap && this.#clock() - this.#hintWrittenAt >= this.#hintIntervalMs) {
      try {
        await this.#advanceHint(epoch);
      } catch {
        this.#hintFailures++;
      }
    }
    return sealed;
  }

  async #isSealed(epoch: number): Promise<boolean> {
    try {
      await withRetry(() => this.#store.head(checkpointCommitKey(epoch)), this.#retry);
      return true;
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return false;
      throw e;
    }
  }

  /** The marker's body (the committer), or `null` when there is no marker. */
  async #readMarker(epoch: number): Promise<string | null> {
    const key = checkpointCommitKey(epoch);
    let bytes: Uint8Array;
    try {
      bytes = await withRetry(async () => (await this.#store.get(key)).bytes(), this.#retry);
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return null;
      throw e;
    }
    try {
      return decoder.decode(bytes);
    } catch (e) {
      throw new TidemarkError("Corrupt", `commit marker of epoch ${epoch} is not UTF-8`, { key, cause: e });
    }
  }

  #decide(epoch: number, owner: string): true {
    if (owner !== this.#id) {
      throw new TidemarkError(
        "SplitBrain",
        `epoch ${epoch} was sealed by ${JSON.stringify(owner)}, not by this committer ${JSON.stringify(this.#id)}`,
        { key: checkpointCommitKey(epoch) },
      );
    }
    if (epoch > this.#lastSealed) this.#lastSealed = epoch;
    return true;
  }

  async #createMarker(epoch: number): Promise<boolean> {
    const key = checkpointCommitKey(epoch);
    const p = resolvePolicy(this.#retry);
    const started = p.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#store.put(key, this.#id, { mode: "create", contentType: "text/plain; charset=utf-8" });
        return this.#decide(epoch, this.#id);
      } catch (e) {
        // A peer (or our own earlier attempt) got there first: the body decides.
        if (isTidemarkError(e, "AlreadyExists")) {
          const owner = await this.#readMarker(epoch);
          if (owner === null) {
            throw new TidemarkError("Transient", `marker of epoch ${epoch} vanished while sealing`, { key });
          }
          return this.#decide(epoch, owner);
        }
        if (!isTidemarkError(e, "Transient")) throw e;
        // The create may have landed with only its response lost; its body
        // names its writer, so re-reading tells ours from a peer's.
        const owner = await this.#readMarker(epoch);
        if (owner !== null) return this.#decide(epoch, owner);
        const delay = retryDelay(e, attempt, started, p);
        if (delay === undefined) throw e;
        await p.sleep(delay);
      }
    }
  }

  /** The hint on the store, or `null` if missing; a garbage body reads as epoch -1. */
  async #readHint(): Promise<{ epoch: number; etag: string } | null> {
    try {
      return await withRetry(async () => {
        const b = await this.#store.get(CHECKPOINT_HINT_KEY);
        const text = await b.text();
        return { epoch: parseEpoch(text.trim()) ?? -1, etag: b.etag };
      }, this.#retry);
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return null;
      throw e;
    }
  }

  /** Raises `_LATEST` to at least `epoch` by compare-and-swap; never lowers it. */
  async #advanceHint(epoch: number): Promise<void> {
    // A cached etag saves the read: one conditional put per seal in steady state.
    let cur: { epoch: number; etag: string } | null | undefined = this.#hint;
    for (let attempt = 1; attempt <= HINT_ATTEMPTS; attempt++) {
      if (cur === undefined) cur = await this.#readHint();
      if (cur !== null && cur.epoch >= epoch) {
        this.#hint = cur;
        return;
      }
      let r: PutResult;
      try {
        r = await this.#store.put(CHECKPOINT_HINT_KEY, String(epoch), {
          mode: cur === null ? "create" : { ifMatch: cur.etag },
          contentType: "text/plain; charset=utf-8",
        });
      } catch (e) {
        // Lost the race, or lost the response (RGW also answers a lost
        // If-Match race with a 500): re-read and decide again.
        if (
          isTidemarkError(e, "PreconditionFailed") ||
          isTidemarkError(e, "AlreadyExists") ||
          isTidemarkError(e, "Transient")
        ) {
          cur = undefined;
          this.#hint = undefined;
          continue;
        }
        throw e;
      }
      this.#hint = { epoch, etag: r.etag };
      this.#hintWrittenAt = this.#clock();
      return;
    }
    throw new TidemarkError("Transient", `could not advance ${CHECKPOINT_HINT_KEY} to ${epoch}`, {
      key: CHECKPOINT_HINT_KEY,
    });
  }

  /**
   * The highest sealed epoch, or `null` when none is.
   *
   * LaminarDB lists every key of the store. Here: read the `_LATEST` hint H,
   * HEAD `epoch={H}/_COMMIT`, then HEAD `epoch={H+1}/_COMMIT`, `{H+2}`, ...
   * until a miss: 3 requests when the hint is current, whatever the number of
   * epochs and vnodes.
   *
   * Why the probe is enough: {@link sealEpoch} seals an epoch whose
   * predecessor is not sealed (a gap, e.g. 3 then 7) only after raising the
   * hint to it, while a contiguous seal raises the hint afterwards,
   * best-effort. So every sealed epoch above a sealed hint is reached through
   * a contiguous run from the hint, even when the committer crashed before
   * raising the hint; and when the hint's own marker is absent (a gap seal in
   * flight, or one that crashed between hint and marker), no sealed epoch lies
   * above it, and probing {@link DOWNWARD_PROBES} epochs below usually finds
   * the answer.
   *
   * Falls back to a listing when the hint is missing or garbage, or when
   * neither its marker nor the few below it exist (pruned, or written by a
   * writer that keeps no hint, like LaminarDB itself): one delimiter listing
   * of `epoch=` (one entry per epoch, not per object), then HEADs from the
   * highest epoch down, and a listing of every key only if those do not
   * settle it. Epochs are compared numerically (`epoch=10` after `epoch=9`).
   * Reads only: the hint is repaired by the next seal.
   *
   * @throws TidemarkError store errors (`Transient` after retries, ...).
   */
  async latestCommittedEpoch(): Promise<number | null> {
    const hint = await this.#readHint();
    if (hint !== null && hint.epoch >= 0) {
      if (await this.#isSealed(hint.epoch)) {
        let top = hint.epoch;
        while (await this.#isSealed(top + 1)) top++;
        return top;
      }
      for (let e = hint.epoch - 1; e >= 0 && e >= hint.epoch - DOWNWARD_PROBES; e--) {
        if (await this.#isSealed(e)) return e;
      }
    }
    this.#latestFallbacks++;
    return this.#latestByListing();
  }

  async #latestByListing(): Promise<number | null> {
    const epochs: number[] = [];
    for await (const m of this.#store.list("epoch=", { delimiter: "/" })) {
      const e = epochOfKey(m.key);
      if (e !== undefined) epochs.push(e);
    }
    epochs.sort((a, b) => b - a);
    if (epochs.length <= FALLBACK_HEADS) {
      for (const e of epochs) if (await this.#isSealed(e)) return e;
      return null;
    }
    for (const e of epochs.slice(0, FALLBACK_HEADS)) if (await this.#isSealed(e)) return e;
    let highest: number | null = null;
    for (const e of await this.#sealedByListing()) if (highest === null || e > highest) highest = e;
    return highest;
  }

  /** Every sealed epoch, from one listing of the layout, in numeric order. */
  async #sealedByListing(): Promise<number[]> {
    const out: number[] = [];
    for await (const m of this.#store.list("epoch=")) {
      if (!m.key.endsWith("/_COMMIT")) continue;
      const e = epochOfKey(m.key);
      if (e !== undefined && m.key === checkpointCommitKey(e)) out.push(e);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * The sealed epochs above `after` (all when omitted), in numeric order.
   * One listing of the layout (1 request per 1,000 objects), taken when
   * iteration starts.
   *
   * @throws TidemarkError `InvalidArgument` for a bad `after`; store errors.
   */
  async *sealedEpochs(after?: number): AsyncIterableIterator<number> {
    if (after !== undefined) checkNonNegative("epoch", after);
    for (const e of await this.#sealedByListing()) {
      if (after === undefined || e > after) yield e;
    }
  }

  /**
   * Deletes every object of every epoch below `before` (partials, markers and
   * anything else under `epoch={E}/`; never the `_LATEST` hint).
   *
   * The first call, every `fullScanEvery`-th call, and any call before a
   * clean pass list the whole layout (`epoch=`); the others list only the
   * epochs in [{@link pruneCursor}, before), one prefix each (or the whole
   * layout when that window exceeds 256 epochs). The cursor advances to
   * `before` only after a pass with no failed delete, so a failure is retried
   * by the next pass; a late write below the cursor is reclaimed by the next
   * full scan.
   *
   * Markers go first, in their own bulk delete, and an epoch's other objects
   * only once its marker is gone: a `_COMMIT` never outlives the partials it
   * vouches for.
   *
   * Failed deletes (per-key errors, or a `Transient` bulk request) are
   * reported in the result, not thrown: the next pass retries them.
   *
   * @throws TidemarkError `InvalidArgument` for a bad `before`; listing
   *   errors; bulk-delete errors other than `Transient`.
   */
  async pruneBefore(before: number): Promise<PruneResult> {
    checkNonNegative("epoch", before);
    const pass = this.#prunePasses++;
    const start = this.#cursor;
    const fullScan = !this.#baseline || pass % this.#fullScanEvery === 0 || before - start > MAX_PRUNE_WINDOW;
    const markers: string[] = [];
    const others = new Map<number, string[]>();
    let listed = 0;
    const add = (key: string, epoch: number): void => {
      listed++;
      if (key === checkpointCommitKey(epoch)) markers.push(key);
      else {
        const list = others.get(epoch);
        if (list) list.push(key);
        else others.set(epoch, [key]);
      }
    };
    if (fullScan) {
      for await (const m of this.#store.list("epoch=")) {
        const e = epochOfKey(m.key);
        if (e !== undefined && e < before) add(m.key, e);
      }
    } else {
      for (let e = start; e < before; e++) {
        for await (const m of this.#store.list(`epoch=${e}/`)) add(m.key, e);
      }
    }

    const failed: DeleteError[] = [];
    let deleted = 0;
    const remove = async (keys: string[]): Promise<Set<string>> => {
      const bad = new Set<string>();
      if (keys.length === 0) return bad;
      try {
        const r = await this.#store.deleteMany(keys);
        for (const err of r.errors) {
          bad.add(err.key);
          failed.push(err);
        }
        deleted += keys.length - r.errors.length;
      } catch (e) {
        if (!isTidemarkError(e, "Transient")) throw e;
        for (const key of keys) {
          bad.add(key);
          failed.push({ key, code: "Transient", message: (e as Error).message });
        }
      }
      return bad;
    };
    const badMarkers = await remove(markers);
    const rest: string[] = [];
    for (const [e, keys] of others) {
      if (!badMarkers.has(checkpointCommitKey(e))) rest.push(...keys);
    }
    // An epoch whose marker could not be deleted keeps its partials this pass.
    for (const key of markers) {
      if (!badMarkers.has(key)) continue;
      const e = epochOfKey(key);
      for (const k of (e !== undefined && others.get(e)) || []) {
        // Not attempted: its precondition (the marker gone first) did not hold.
        // A TidemarkError code, like every other entry of `failed`.
        failed.push({
          key: k,
          code: "PreconditionFailed",
          message: "kept: the epoch's marker could not be deleted",
        });
      }
    }
    await remove(rest);

    if (this.#lastSealed < before) this.#lastSealed = -1;
    if (failed.length === 0) {
      this.#cursor = Math.max(this.#cursor, before);
      this.#baseline = true;
    }
    return { fullScan, listed, deleted, failed, cursor: this.#cursor };
  }
}
