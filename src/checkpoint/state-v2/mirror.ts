/**
 * The checkpoint mirror's pass over a LaminarDB `state-v2` root (see
 * `CheckpointMirror`, `../mirror.ts`, which ticks it): copies the root to
 * another store in an order in which a reader of the target never finds it
 * torn.
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
 * Costs: an idle tick is one delimited LIST of the source's `state-v2/` (its
 * epochs, and the floor's etag) plus one LIST per unsealed attempt above the
 * floor, and one HEAD on the target. An attempt with n objects: 3
 * requests (LIST, GET the seal, PUT it), one LIST of the target, and a GET
 * and a PUT per object.
 *
 * @module
 */

import { TidemarkError } from "../../errors.ts";
import type { TickBudget } from "../../mirror/budget.ts";
import { bytesIfExists, createOrSame, getIfExists } from "../../store/exists.ts";
import type { ObjectMeta } from "../../store/types.ts";
import {
  copyEpochObjects,
  type EpochOutcome,
  type LayoutPass,
  type PassContext,
  recordSkip,
  walkEpochs,
} from "../mirror-pass.ts";
import { CheckpointTarget } from "../mirror-target.ts";
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
import { parentsOf, stateV2Target } from "./mirror-target.ts";
import { decodeNamespace, decodePruneFloor, type PruneFloor } from "./namespace.ts";
import { decodeSeal, MAX_SEAL_BYTES } from "./seal.ts";

/** Requests an attempt costs besides its objects: LIST source, GET seal, LIST target, PUT seal. */
const ATTEMPT_REQUESTS = 4;

/** What the source root showed at the start of a tick (one delimited listing). */
interface SourceRoot {
  namespace: ObjectMeta | undefined;
  floor: ObjectMeta | undefined;
  epochs: bigint[];
}

/** The source's floor as last read: its etag, bytes and value. */
interface SourceFloor {
  etag: string;
  bytes: Uint8Array;
  floor: PruneFloor;
}

/** Requests the floor and a prune step reserve: GET and PUT the target's floor, LIST and DELETE an epoch. */
const FLOOR_REQUESTS = 4;

/** The `state-v2` pass of a `CheckpointMirror` (see the module). */
export class StateV2Pass implements LayoutPass {
  readonly layout = "state-v2";
  readonly target: CheckpointTarget<Uint8Array>;
  readonly #ctx: PassContext;
  #namespace: Uint8Array | undefined;
  #sourceFloor: SourceFloor | undefined;
  sourceNewest: bigint | null = null;
  pending = 0;

  constructor(ctx: PassContext) {
    this.#ctx = ctx;
    this.target = new CheckpointTarget(ctx.target, ctx.binding, ctx.progress, stateV2Target(ctx.target));
  }

  get sourceFloor(): string | null {
    return this.#sourceFloor ? String(this.#sourceFloor.floor.beforeEpoch) : null;
  }

  async pass(budget: TickBudget): Promise<boolean> {
    const { source, target } = this.#ctx;
    const src = await this.#readSourceRoot();
    if (src.namespace === undefined) {
      if (src.epochs.length === 0 && src.floor === undefined) return false; // nothing to mirror yet
      throw new TidemarkError(
        "NotSupported",
        `the source ${source.name} holds state-v2 objects but no namespace marker: LaminarDB refuses such a root, and so does the mirror`,
        { key: NAMESPACE_KEY },
      );
    }
    const namespace = await this.#sourceNamespace();
    const t = this.target;
    if (!t.initialised) await t.init(namespace);
    else if (!(await t.asBelieved())) await t.forget(namespace);
    const p = t.progress;
    if (!p.namespace) {
      p.counters.bytes += await createOrSame(
        target,
        NAMESPACE_KEY,
        namespace,
        () =>
          `the target ${target.name} holds another state namespace: another deployment's checkpoints are mirrored there`,
      );
      p.namespace = true;
    }
    const floor = await this.#readSourceFloor(src.floor);
    const before = floor?.floor.beforeEpoch ?? 0n;
    // Attempts passed unsealed (a newer one was handled) are looked at again until sealed or
    // below the floor: LaminarDB may still seal one (a slow sealer); sealed ones are not read again.
    const more = await walkEpochs(t, src.epochs, before, budget, {
      requests: ATTEMPT_REQUESTS,
      closed: this.#ctx.closed,
      handle: (e) => this.#attempt(e, before, budget),
      pending: (n) => {
        this.pending = n;
      },
    });
    if (more) return true;
    // The floor after the attempts, outside the budget's accounting but not beyond it.
    if (!budget.fits(FLOOR_REQUESTS, 0)) return floor?.etag !== p.sourceFloorEtag || p.prunePending;
    if (floor) await this.#floorAndPrune(floor);
    else if (p.prunePending && p.floor !== null) await this.#prune(BigInt(p.floor));
    return false;
  }

  /** One delimited listing of the source's `state-v2/`. */
  async #readSourceRoot(): Promise<SourceRoot> {
    const out: SourceRoot = { namespace: undefined, floor: undefined, epochs: [] };
    for await (const m of this.#ctx.source.list(STATE_V2_PREFIX, { delimiter: "/" })) {
      if (m.key === NAMESPACE_KEY) out.namespace = m;
      else if (m.key === PRUNE_FLOOR_KEY) out.floor = m;
      else if (m.isPrefix) {
        const e = epochOfPrefix(m.key);
        if (e !== undefined) out.epochs.push(e);
      }
    }
    out.epochs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.sourceNewest = out.epochs.at(-1) ?? null;
    return out;
  }

  /** The source's namespace bytes, checked as LaminarDB checks them (read once per instance: it never changes). */
  async #sourceNamespace(): Promise<Uint8Array> {
    if (this.#namespace) return this.#namespace;
    const bytes = await (await this.#ctx.source.get(NAMESPACE_KEY)).bytes();
    const ns = decodeNamespace(bytes);
    if (isFault(ns)) throw damagedRootDocument(NAMESPACE_KEY, "namespace marker", ns);
    this.#namespace = bytes;
    return bytes;
  }

  /** The source's floor, read again only when its etag changed. */
  async #readSourceFloor(meta: ObjectMeta | undefined): Promise<SourceFloor | undefined> {
    if (meta === undefined) return undefined;
    if (this.#sourceFloor?.etag === meta.etag) return this.#sourceFloor;
    const got = await getIfExists(this.#ctx.source, PRUNE_FLOOR_KEY);
    if (got === undefined) return this.#sourceFloor;
    const bytes = await got.bytes();
    const floor = decodePruneFloor(bytes);
    if (isFault(floor)) throw damagedRootDocument(PRUNE_FLOOR_KEY, "prune floor", floor);
    this.#sourceFloor = { etag: got.etag, bytes, floor };
    return this.#sourceFloor;
  }

  #skip(epoch: bigint, reason: string): EpochOutcome {
    return recordSkip(this.target.progress, epoch, reason);
  }

  /** Copies attempt `epoch` if it is sealed: its objects, then its seal. */
  async #attempt(epoch: bigint, before: bigint, budget: TickBudget): Promise<EpochOutcome> {
    const { source, target } = this.#ctx;
    const attempt = attemptOf(epoch);
    const prefix = attemptPrefix(attempt);
    const listed = new Map<string, ObjectMeta>();
    for await (const m of source.list(epochPrefix(epoch))) if (m.key.startsWith(prefix)) listed.set(m.key, m);
    const sealMeta = listed.get(sealKey(attempt));
    if (sealMeta === undefined) return "unsealed";
    if (sealMeta.size > MAX_SEAL_BYTES)
      return this.#skip(epoch, `its seal is ${sealMeta.size} bytes, above LaminarDB's limit`);
    const sealBytes = await bytesIfExists(source, sealKey(attempt));
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
    const lacking = parents.find((e) => this.target.progress.attempts[e] === undefined);
    if (lacking !== undefined) {
      return this.#skip(epoch, `it is built on attempt ${lacking}, which the target does not hold`);
    }
    for (const o of sealedObjects(attempt, seal)) {
      const m = listed.get(o.key);
      if (m === undefined)
        return this.#skip(epoch, `its seal names ${o.key}, which the source does not have`);
      if (m.size !== o.size)
        return this.#skip(epoch, `${o.key} is ${m.size} bytes on the source; its seal says ${o.size}`);
    }
    const p = this.target.progress;
    const ctx: CopyContext = {
      source,
      target,
      sourceId: this.#ctx.binding.source,
      partOf: `checkpoint attempt ${epoch}`,
    };
    let damaged: DamagedSource | undefined;
    const { complete } = await copyEpochObjects(
      this.#ctx,
      p,
      epoch,
      prefix,
      sealedObjects(attempt, seal),
      budget,
      (o, there) => copySealedObject(ctx, o, there),
      (e) => {
        if (!(e instanceof DamagedSource)) return false;
        damaged ??= e;
        return true;
      },
    );
    if (damaged) return this.#skip(epoch, `its objects do not match its seal: ${damaged.message}`);
    if (!complete) return "incomplete";
    // Recorded before the seal's put: a put whose response is lost may have landed, and the floor
    // and the prune must then keep this attempt's chain (recording one that did not land only holds
    // a floor back until the next tick seals it, or the target is read again).
    p.attempts[String(epoch)] = parents;
    p.counters.bytes += await createOrSame(
      target,
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
    const p = this.target.progress;
    const before = floor.floor.beforeEpoch;
    if (p.sourceFloorEtag !== floor.etag || p.heldFloor) {
      const why = floorWouldCut(before, p.attempts);
      if (why !== undefined) {
        p.heldFloor = { before: String(before), because: why };
      } else {
        p.counters.bytes += await putFloor(this.#ctx.target, floor.bytes, floor.floor);
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
    const p = this.target.progress;
    const keep = new Set(keptAncestors(before, p.attempts).keys());
    p.counters.pruned += await pruneBelow(this.#ctx.target, before, keep);
    for (const e of Object.keys(p.attempts)) if (BigInt(e) < before && !keep.has(e)) delete p.attempts[e];
    p.prunePending = false;
  }
}

/** `Corrupt`: the source's namespace or floor fails LaminarDB's checks (LaminarDB cannot read the root either). */
function damagedRootDocument(key: string, what: string, f: Fault): TidemarkError {
  return new TidemarkError("Corrupt", `the source's ${what} is damaged (${f.rule}): ${f.message}`, { key });
}
