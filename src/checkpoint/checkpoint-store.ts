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
 * This file holds the class, its options and its state (fencing version,
 * prune cursor, counters); the key names are in `layout.ts`, the seal and the
 * fence in `seal.ts`, the listings and latest-epoch discovery in `reads.ts`,
 * and a prune pass in `prune.ts`.
 *
 * @module
 */

import { safetyGate } from "../doctor/safe-store.ts";
import { TidemarkError } from "../errors.ts";
import { checkNumber } from "../options.ts";
import { bytesIfExists } from "../store/exists.ts";
import { type RetryPolicy, resolvePolicy } from "../store/retry.ts";
import type { ObjectStore } from "../store/types.ts";
import {
  checkpointDescriptorKey,
  checkpointPartialKey,
  checkpointSourceOffsetsKey,
  descriptorsPrefix,
  sourceOffsetsPrefix,
} from "./layout.ts";
import { type PruneResult, prunePass } from "./prune.ts";
import { type EpochBlob, latestCommitted, readBlobs, sealedByListing } from "./reads.ts";
import { type Committer, checkInstanceId, committerOf, fence, seal } from "./seal.ts";

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

const NON_NEGATIVE = { min: 0 };

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
  readonly #committer: Committer;
  readonly #capacity: number;
  readonly #fullScanEvery: number;
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
    const id = checkInstanceId(opts.instanceId);
    this.#capacity = checkNumber("vnodeCapacity", opts.vnodeCapacity, { min: 1, max: 2 ** 32 });
    this.#fullScanEvery = checkNumber("fullScanEvery", opts.fullScanEvery ?? 32, { min: 1 });
    this.#store = store;
    const retry = opts.retry ?? {};
    resolvePolicy(retry);
    this.#committer = committerOf(store, id, retry);
    this.#safe = safetyGate(opts.requireSafeStore, store, "checkpoint", "CheckpointStore");
  }

  /** This committer's id. */
  get instanceId(): string {
    return this.#committer.id;
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
    await this.#writeBlob(
      checkpointPartialKey(epoch, vnode),
      epoch,
      assignmentVersion,
      bytes,
      `vnode ${vnode}`,
      "partial state",
    );
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
    return readBlobs(this.#store, descriptorsPrefix(epoch));
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
    return readBlobs(this.#store, sourceOffsetsPrefix(epoch));
  }

  /**
   * The one stamped write (partials, descriptors, source offsets): checks
   * the epoch, version and body (`body` names it, default `what`), passes
   * the safety gate and the fence, then a plain put.
   */
  async #writeBlob(
    key: string,
    epoch: number,
    assignmentVersion: number,
    bytes: Uint8Array,
    what: string,
    body: string = what,
  ): Promise<void> {
    checkNumber("epoch", epoch, NON_NEGATIVE);
    checkNumber("assignmentVersion", assignmentVersion, NON_NEGATIVE);
    if (!(bytes instanceof Uint8Array)) {
      throw new TidemarkError("InvalidArgument", `${body} must be a Uint8Array`);
    }
    await this.#safe();
    fence(this.#authoritative, assignmentVersion, `${what} epoch ${epoch}`, key);
    await this.#store.put(key, bytes, { contentType: "application/octet-stream" });
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
    return (await bytesIfExists(this.#store, checkpointPartialKey(epoch, vnode))) ?? null;
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
    return seal(this.#committer, epoch, wanted, descriptors);
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
    return latestCommitted(this.#store, this.#committer.retry, () => {
      this.#latestFallbacks++;
    });
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
    for (const e of await sealedByListing(this.#store)) {
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
    const { fullScan, listed, deleted, failed } = await prunePass(this.#store, before, {
      start: this.#cursor,
      baseline: this.#baseline,
      pass: this.#prunePasses++,
      fullScanEvery: this.#fullScanEvery,
    });
    if (failed.length === 0) {
      this.#cursor = Math.max(this.#cursor, before);
      this.#baseline = true;
    }
    return { fullScan, listed, deleted, failed, cursor: this.#cursor };
  }
}
