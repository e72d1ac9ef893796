/**
 * Streaming checkpoint state on an object store: per-epoch, per-vnode partial
 * state files, an epoch sealed by a create-only `_COMMIT` marker naming its
 * committer (split-brain detection), a fencing assignment version, an
 * incremental prune, and the latest committed epoch.
 *
 * A port of LaminarDB's `ObjectStoreBackend`
 * (https://github.com/laminardb/laminardb/blob/ed43992/crates/laminar-core/src/state/object_store.rs,
 * commit descriptors and source offsets included), with the same layout, so
 * either can read and seal the other's epochs:
 *
 * ```
 * epoch={E}/vnode={V}/partial.bin   one vnode's state for epoch E (plain put)
 * epoch={E}/commit/{key}            a sink's commit descriptor (LaminarDB: key node={N}/sink={S})
 * epoch={E}/srcoff/{node}           a node's source offsets (LaminarDB: node node-{N}, a JSON map)
 * epoch={E}/_COMMIT                 the seal; body = the committer's instance id (create-only)
 * ```
 *
 * Nothing outside `epoch=` is read or written (LaminarDB ignores it too).
 *
 * @module
 */

import { safetyGate } from "../doctor/safe-store.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { pathProblem } from "../manifest/paths.ts";
import { checkNumber } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { type RetryPolicy, resolvePolicy, withRetry } from "../store/retry.ts";
import { capabilitiesOf, type DeleteError, type ObjectStore } from "../store/types.ts";

/** The key of vnode `vnode`'s partial state for `epoch`. */
export function checkpointPartialKey(epoch: number, vnode: number): string {
  return `epoch=${epoch}/vnode=${vnode}/partial.bin`;
}

/** The key of `epoch`'s `_COMMIT` marker. */
export function checkpointCommitKey(epoch: number): string {
  return `epoch=${epoch}/_COMMIT`;
}

/** `name` checked as a key below an epoch: relative, normalised, no control characters. */
function checkSubKey(name: string, value: unknown): string {
  const problem = typeof value === "string" ? pathProblem(value) : "is not a string";
  if (problem !== undefined) {
    throw new TidemarkError("InvalidArgument", `${name} ${JSON.stringify(value)} ${problem}`);
  }
  return value as string;
}

/**
 * The key of a commit descriptor of `epoch`: `epoch={E}/commit/{key}`.
 * LaminarDB names them `node={N}/sink={S}` (one per node and
 * coordinated-commit sink).
 *
 * @throws TidemarkError `InvalidArgument` for a key that is not relative and
 *   normalised (empty, `.`/`..` or empty segments, a leading `/`, a
 *   backslash or control character).
 */
export function checkpointDescriptorKey(epoch: number, key: string): string {
  return `epoch=${epoch}/commit/${checkSubKey("descriptor key", key)}`;
}

/**
 * The key of a node's source offsets for `epoch`: `epoch={E}/srcoff/{nodeKey}`
 * (LaminarDB: `node-{N}`, a JSON map of partition to offset).
 *
 * @throws TidemarkError `InvalidArgument` as {@link checkpointDescriptorKey}.
 */
export function checkpointSourceOffsetsKey(epoch: number, nodeKey: string): string {
  return `epoch=${epoch}/srcoff/${checkSubKey("node key", nodeKey)}`;
}

/** One object below an epoch (a commit descriptor, a node's source offsets): its key there and bytes. */
export interface EpochBlob {
  /** The key below `epoch={E}/commit/` or `epoch={E}/srcoff/`. */
  key: string;
  bytes: Uint8Array;
}

/** Options of {@link CheckpointStore}. */
export interface CheckpointStoreOptions {
  /**
   * This committer's id, written as the body of the `_COMMIT` markers it
   * creates (its UTF-8 bytes) and compared byte for byte with the body of a
   * marker it finds, as LaminarDB does. Must differ between processes that
   * may race to seal the same epoch (a restarted process may reuse its id:
   * its own markers stay its own). Non-empty, and text that survives a UTF-8
   * round trip: no lone surrogate, no leading byte-order mark (U+FEFF, which
   * a default `TextDecoder` drops).
   */
  instanceId: string;
  /** Vnodes are `0 .. vnodeCapacity - 1` (an integer in 1..2^32). */
  vnodeCapacity: number;
  /** The first prune and every `fullScanEvery`-th one list the whole layout (an integer >= 1; default 32). */
  fullScanEvery?: number;
  /**
   * Retry policy of the store calls whose outcome this class must resolve
   * itself (the marker create and its re-read, the marker HEADs). Default:
   * the library default.
   */
  retry?: RetryPolicy;
  /**
   * Fail closed: before the first write (`writePartial`, `sealEpoch`,
   * `pruneBefore`), probe the store once with the `doctor` checks the seal
   * and prune rest on (create-only, concurrent creators, read-after-write,
   * listings, delete of a missing key) and refuse it (`NotSupported` naming
   * the check) if it fails one. About 30 requests, once per store instance.
   * Default false.
   */
  requireSafeStore?: boolean;
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
  /**
   * `latestCommittedEpoch` calls that listed every key of the layout, because
   * more than 8 epochs above the latest sealed one were unsealed.
   */
  latestFallbacks: number;
}

// An incremental prune lists one prefix per epoch of its window; past this
// many epochs one full listing (1 request per 1,000 objects) is cheaper.
const MAX_PRUNE_WINDOW = 256;
// How many HEADs `latestCommittedEpoch` spends on the topmost epochs before
// it lists every key of the layout instead.
const LATEST_HEADS = 8;

const CANONICAL = /^(0|[1-9][0-9]*)$/;
const encoder = new TextEncoder();
// For messages only; `ignoreBOM` keeps a leading U+FEFF visible (markers are compared as bytes).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `epoch=N/...` → N, for canonical decimal N only (`epoch=007/` is not our layout). */
function epochOfKey(key: string): number | undefined {
  if (!key.startsWith("epoch=")) return undefined;
  const slash = key.indexOf("/");
  if (slash < 0) return undefined;
  const s = key.slice("epoch=".length, slash);
  if (!CANONICAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

const NON_NEGATIVE = { min: 0 };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `id` checked to be a non-empty string that a marker body carries exactly:
 * its UTF-8 encoding decodes back to it. A lone surrogate is encoded as
 * U+FFFD, and a default `TextDecoder` drops a leading BOM, so either would
 * make the committer's own marker read back as someone else's (a false
 * `SplitBrain` on its own repeat seal), or read differently by a tool that
 * decodes the body.
 */
function checkInstanceId(id: unknown): string {
  if (typeof id !== "string" || id === "") {
    throw new TidemarkError("InvalidArgument", "instanceId must be a non-empty string");
  }
  if (new TextDecoder().decode(encoder.encode(id)) !== id) {
    throw new TidemarkError(
      "InvalidArgument",
      "instanceId must survive a UTF-8 round trip (no lone surrogate, no leading U+FEFF byte-order mark)",
    );
  }
  return id;
}

/**
 * Checkpoint state of one streaming job on `store` (give each job its own
 * store or `prefixed(store, ...)` view).
 *
 * Sealing: {@link sealEpoch} lists `epoch={E}/` once and, when every vnode's
 * partial is there, creates `epoch={E}/_COMMIT` create-only with this
 * instance's id as body. Whoever finds a marker compares its bytes with its
 * own id: equal means "sealed, by me" (idempotent), anything else is
 * `SplitBrain`.
 *
 * Fencing: {@link writePartial} rejects writes stamped with an assignment
 * version below {@link authoritativeVersion} (`StaleVersion`). As in
 * LaminarDB the authoritative version lives in this process only; a deposed
 * process that never learns the new version is caught by the `_COMMIT` body.
 *
 * Latest epoch: {@link latestCommittedEpoch} takes the highest sealed epoch
 * the store holds, as LaminarDB does, from one listing of epoch prefixes (see
 * there); it needs a store that can list.
 */
export class CheckpointStore {
  readonly #store: ObjectStore;
  readonly #id: string;
  readonly #idBytes: Uint8Array;
  readonly #capacity: number;
  readonly #fullScanEvery: number;
  readonly #retry: RetryPolicy;
  readonly #safe: () => Promise<void>;
  #authoritative = 0;
  #cursor = 0;
  #baseline = false;
  #prunePasses = 0;
  #latestFallbacks = 0;

  /**
   * @throws TidemarkError `InvalidArgument` for an empty `instanceId` or one
   *   that does not survive a UTF-8 round trip, a `vnodeCapacity` that is
   *   not an integer in 1..2^32, a `fullScanEvery` that is not an integer
   *   >= 1, or a bad retry policy (each message names the option).
   */
  constructor(store: ObjectStore, opts: CheckpointStoreOptions) {
    this.#id = checkInstanceId(opts.instanceId);
    this.#idBytes = encoder.encode(this.#id);
    this.#capacity = checkNumber("vnodeCapacity", opts.vnodeCapacity, { min: 1, max: 2 ** 32 });
    this.#fullScanEvery = checkNumber("fullScanEvery", opts.fullScanEvery ?? 32, { min: 1 });
    this.#store = store;
    this.#retry = opts.retry ?? {};
    resolvePolicy(this.#retry);
    this.#safe = safetyGate(opts.requireSafeStore, store, "checkpoint", "CheckpointStore");
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
    return { prunePasses: this.#prunePasses, latestFallbacks: this.#latestFallbacks };
  }

  /**
   * Raises the fencing version to `version`; a lower or equal one is a no-op
   * (a late call never lowers it).
   *
   * @throws TidemarkError `InvalidArgument` unless `version` is a non-negative safe integer.
   */
  setAuthoritativeVersion(version: number): void {
    checkNumber("version", version, NON_NEGATIVE);
    if (version > this.#authoritative) this.#authoritative = version;
  }

  #checkVnode(vnode: unknown): number {
    return checkNumber("vnode", vnode, { min: 0, max: this.#capacity - 1 });
  }

  /** The fence: `StaleVersion` for a write stamped below the authoritative version (unless 0, fence off). */
  #fence(assignmentVersion: number, what: string, key: string): void {
    const authoritative = this.#authoritative;
    if (authoritative > 0 && assignmentVersion < authoritative) {
      throw new TidemarkError(
        "StaleVersion",
        `${what}: assignment version ${assignmentVersion} is below the authoritative version ${authoritative}`,
        { key },
      );
    }
  }

  /**
   * Stores vnode `vnode`'s state for `epoch` (a plain overwrite: a retried
   * write is harmless).
   *
   * @throws TidemarkError `InvalidArgument` for a vnode out of range or a bad
   *   epoch or assignment version (named in the message); `StaleVersion`
   *   when `assignmentVersion` is below the authoritative version (unless
   *   that is 0, fence off); store errors.
   */
  async writePartial(
    vnode: number,
    epoch: number,
    assignmentVersion: number,
    bytes: Uint8Array,
  ): Promise<void> {
    this.#checkVnode(vnode);
    checkNumber("epoch", epoch, NON_NEGATIVE);
    checkNumber("assignmentVersion", assignmentVersion, NON_NEGATIVE);
    if (!(bytes instanceof Uint8Array)) {
      throw new TidemarkError("InvalidArgument", "partial state must be a Uint8Array");
    }
    await this.#safe();
    this.#fence(assignmentVersion, `vnode ${vnode} epoch ${epoch}`, checkpointPartialKey(epoch, vnode));
    await this.#store.put(checkpointPartialKey(epoch, vnode), bytes, {
      contentType: "application/octet-stream",
    });
  }

  /**
   * Stores a commit descriptor for `epoch` at `epoch={E}/commit/{key}` (a
   * plain overwrite, fenced like partials), as LaminarDB's
   * `write_commit_descriptor`: what a coordinated-commit sink needs to commit
   * the epoch downstream once it is sealed. {@link sealEpoch} can require it.
   *
   * @throws TidemarkError `InvalidArgument` for a bad epoch, key (see
   *   {@link checkpointDescriptorKey}), assignment version or body;
   *   `StaleVersion` below the authoritative version; store errors.
   */
  async writeCommitDescriptor(
    epoch: number,
    key: string,
    assignmentVersion: number,
    bytes: Uint8Array,
  ): Promise<void> {
    await this.#writeBlob(
      checkpointDescriptorKey(epoch, key),
      epoch,
      assignmentVersion,
      bytes,
      `descriptor ${key}`,
    );
  }

  /**
   * The commit descriptors of `epoch`, in key order (one listing of
   * `epoch={E}/commit/`, then a GET each, 8 at once), as LaminarDB's
   * `read_commit_descriptors`. Empty when there are none.
   *
   * @throws TidemarkError `InvalidArgument` for a bad epoch; `NotSupported`
   *   on a store that cannot list; store errors.
   */
  async readCommitDescriptors(epoch: number): Promise<EpochBlob[]> {
    checkNumber("epoch", epoch, NON_NEGATIVE);
    return this.#readBlobs(`epoch=${epoch}/commit/`);
  }

  /**
   * Stores a node's source offsets for `epoch` at `epoch={E}/srcoff/{nodeKey}`
   * (a plain overwrite, fenced like partials), as LaminarDB's
   * `write_source_offsets`; LaminarDB writes a JSON map of partition to
   * offset under `node-{N}`, and on a rotation unions every node's map of the
   * latest sealed epoch.
   *
   * @throws TidemarkError as {@link writeCommitDescriptor}.
   */
  async writeSourceOffsets(
    epoch: number,
    nodeKey: string,
    assignmentVersion: number,
    bytes: Uint8Array,
  ): Promise<void> {
    await this.#writeBlob(
      checkpointSourceOffsetsKey(epoch, nodeKey),
      epoch,
      assignmentVersion,
      bytes,
      `source offsets of ${nodeKey}`,
    );
  }

  /**
   * Every node's source offsets for `epoch`, in key order (one listing of
   * `epoch={E}/srcoff/`, then a GET each), as LaminarDB's
   * `read_source_offsets` (which returns the bodies only).
   *
   * @throws TidemarkError as {@link readCommitDescriptors}.
   */
  async readSourceOffsets(epoch: number): Promise<EpochBlob[]> {
    checkNumber("epoch", epoch, NON_NEGATIVE);
    return this.#readBlobs(`epoch=${epoch}/srcoff/`);
  }

  async #writeBlob(key: string, epoch: number, assignmentVersion: number, bytes: Uint8Array, what: string) {
    checkNumber("epoch", epoch, NON_NEGATIVE);
    checkNumber("assignmentVersion", assignmentVersion, NON_NEGATIVE);
    if (!(bytes instanceof Uint8Array)) {
      throw new TidemarkError("InvalidArgument", `${what} must be a Uint8Array`);
    }
    await this.#safe();
    this.#fence(assignmentVersion, `${what} epoch ${epoch}`, key);
    await this.#store.put(key, bytes, { contentType: "application/octet-stream" });
  }

  async #readBlobs(prefix: string): Promise<EpochBlob[]> {
    if (capabilitiesOf(this.#store).list === false) {
      throw new TidemarkError(
        "NotSupported",
        `reading ${prefix} needs a store that can list; ${this.#store.name} cannot`,
      );
    }
    const keys: string[] = [];
    for await (const m of this.#store.list(prefix)) keys.push(m.key);
    const out: Array<EpochBlob | undefined> = new Array(keys.length);
    await forEachLimit(
      keys.map((k, i) => [k, i] as const),
      8,
      async ([k, i]) => {
        try {
          out[i] = { key: k.slice(prefix.length), bytes: await (await this.#store.get(k)).bytes() };
        } catch (e) {
          if (!isTidemarkError(e, "NotFound")) throw e; // pruned since the listing
        }
      },
    );
    return out.filter((b): b is EpochBlob => b !== undefined);
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
    checkNumber("epoch", epoch, NON_NEGATIVE);
    try {
      return await (await this.#store.get(checkpointPartialKey(epoch, vnode))).bytes();
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return null;
      throw e;
    }
  }

  /**
   * Seals `epoch` once every vnode of `vnodes` has its partial and every
   * commit descriptor of `requiredDescriptors` is there (LaminarDB's
   * `epoch_complete`: a coordinated-commit sink's descriptor must be durable
   * before the epoch is): one listing of `epoch={E}/` (not one HEAD per
   * vnode; it also shows an existing marker and the descriptors), then a
   * create-only `_COMMIT` whose body is this instance's id.
   *
   * Returns `false` while a partial or a required descriptor is missing, `true` once the epoch is
   * sealed by this instance (again on every later call: idempotent). A marker
   * whose body is not exactly this instance's id (byte for byte, as
   * LaminarDB compares) is `SplitBrain`, whether it was there before the
   * listing or won the race to the create. A create whose response was lost
   * (a `Transient` after the write landed) is resolved by re-reading the
   * marker: its body names us, so it is never mistaken for a split brain.
   *
   * Cost with 1,000 vnodes: a poll while a partial is missing, 1 list; a
   * seal, 1 list page + 1 create (whatever came before: a restart, a gap);
   * a repeat call on a sealed epoch, 1 list page + 1 GET of the marker.
   *
   * @throws TidemarkError `SplitBrain` (the message names both committers);
   *   `InvalidArgument` for a vnode out of range, a bad epoch or descriptor key; `Corrupt`
   *   for a foreign marker body that is not UTF-8; `Transient` when the store
   *   stays unavailable (calling again is safe); other store errors.
   */
  async sealEpoch(
    epoch: number,
    vnodes: Iterable<number>,
    requiredDescriptors: Iterable<string> = [],
  ): Promise<boolean> {
    checkNumber("epoch", epoch, NON_NEGATIVE);
    for (const [name, it] of [
      ["vnodes", vnodes],
      ["requiredDescriptors", requiredDescriptors],
    ] as const) {
      if (typeof (it as Iterable<unknown> | null)?.[Symbol.iterator] !== "function") {
        throw new TidemarkError("InvalidArgument", `${name} must be an iterable`);
      }
    }
    const wanted = new Set<number>();
    for (const v of vnodes) wanted.add(this.#checkVnode(v));
    const descriptors = [...requiredDescriptors].map((k) => checkpointDescriptorKey(epoch, k));
    await this.#safe();
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
    for (const k of descriptors) if (!found.has(k)) return false;
    return this.#createMarker(epoch);
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

  /** The marker's body (the committer's id, as bytes), or `null` when there is no marker. */
  async #readMarker(epoch: number): Promise<Uint8Array | null> {
    try {
      return await withRetry(
        async () => (await this.#store.get(checkpointCommitKey(epoch))).bytes(),
        this.#retry,
      );
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return null;
      throw e;
    }
  }

  /** `true` when `owner` is exactly this instance's id; `SplitBrain` (or `Corrupt`) otherwise. */
  #decide(epoch: number, owner: Uint8Array): true {
    if (sameBytes(owner, this.#idBytes)) return true;
    const key = checkpointCommitKey(epoch);
    let text: string;
    try {
      text = decoder.decode(owner);
    } catch (e) {
      throw new TidemarkError("Corrupt", `commit marker of epoch ${epoch} is not UTF-8`, { key, cause: e });
    }
    throw new TidemarkError(
      "SplitBrain",
      `epoch ${epoch} was sealed by ${JSON.stringify(text)}, not by this committer ${JSON.stringify(this.#id)}`,
      { key },
    );
  }

  async #createMarker(epoch: number): Promise<boolean> {
    const key = checkpointCommitKey(epoch);
    // A marker that vanished between our lost create and our read of it
    // (pruned meanwhile) is not retried: the caller decides.
    let vanished = false;
    return withRetry(
      async () => {
        try {
          await this.#store.put(key, this.#idBytes, {
            mode: "create",
            contentType: "text/plain; charset=utf-8",
          });
          return true;
        } catch (e) {
          // A peer (or our own earlier attempt) got there first: the body decides.
          if (isTidemarkError(e, "AlreadyExists")) {
            const owner = await this.#readMarker(epoch);
            if (owner === null) {
              vanished = true;
              throw new TidemarkError("Transient", `marker of epoch ${epoch} vanished while sealing`, {
                key,
              });
            }
            return this.#decide(epoch, owner);
          }
          // The create may have landed with only its response lost; its body
          // names its writer, so re-reading tells ours from a peer's.
          if (isTidemarkError(e, "Transient")) {
            const owner = await this.#readMarker(epoch);
            if (owner !== null) return this.#decide(epoch, owner);
          }
          throw e;
        }
      },
      this.#retry,
      { retryable: () => !vanished },
    );
  }

  /**
   * The highest sealed epoch, or `null` when none is: what LaminarDB's
   * `latest_committed_epoch` answers, whoever sealed the epochs (LaminarDB
   * abandons epochs, so sealed epochs can have gaps above any remembered one).
   *
   * LaminarDB lists every key of the store. Here: one listing of `epoch=`
   * with delimiter `/` (one entry per epoch, not per object: 1 request per
   * 1,000 retained epochs), then a HEAD of `epoch={E}/_COMMIT` for each
   * listed epoch from the highest down (numerically: `epoch=10` sorts before
   * `epoch=9` as text) until one exists. With a prune keeping the store small
   * that is 1 list + 1 HEAD when the newest epoch is sealed, + 1 HEAD per
   * unsealed epoch above it (a seal in flight, an abandoned epoch). After 8
   * such HEADs it lists every key of the layout instead and takes the highest
   * `_COMMIT` (counted in `stats.latestFallbacks`). Only canonical decimal
   * epochs count (`epoch=007/` is not this layout); keys outside `epoch=` are
   * ignored, as by LaminarDB.
   *
   * A store that cannot list (`capabilities.list === false`, e.g. `HttpStore`)
   * gets `NotSupported`: without a listing no reader can know about an epoch
   * sealed far above the ones it remembers, and a guess is the stale answer
   * this method must not give.
   *
   * @throws TidemarkError `NotSupported` on a store that cannot list; store
   *   errors (`Transient` after retries, ...).
   */
  async latestCommittedEpoch(): Promise<number | null> {
    if (capabilitiesOf(this.#store).list === false) {
      throw new TidemarkError(
        "NotSupported",
        `latestCommittedEpoch needs a store that can list; ${this.#store.name} cannot (read partials of a known epoch instead)`,
      );
    }
    const epochs: number[] = [];
    for await (const m of this.#store.list("epoch=", { delimiter: "/" })) {
      const e = epochOfKey(m.key);
      if (e !== undefined) epochs.push(e);
    }
    epochs.sort((a, b) => b - a);
    for (const e of epochs.slice(0, LATEST_HEADS)) if (await this.#isSealed(e)) return e;
    if (epochs.length <= LATEST_HEADS) return null;
    this.#latestFallbacks++;
    const sealed = await this.#sealedByListing();
    return sealed.length === 0 ? null : (sealed[sealed.length - 1] ?? null);
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
    if (after !== undefined) checkNumber("after", after, NON_NEGATIVE);
    for (const e of await this.#sealedByListing()) {
      if (after === undefined || e > after) yield e;
    }
  }

  /**
   * Deletes every object of every epoch below `before` (partials, markers and
   * anything else under `epoch={E}/`; never a key outside `epoch=`).
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
    checkNumber("before", before, NON_NEGATIVE);
    await this.#safe();
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

    if (failed.length === 0) {
      this.#cursor = Math.max(this.#cursor, before);
      this.#baseline = true;
    }
    return { fullScan, listed, deleted, failed, cursor: this.#cursor };
  }
}
