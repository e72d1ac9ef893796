/**
 * The checkpoint mirror's pass over a root in the layout LaminarDB wrote
 * before `state-v2` (`epoch={E}/...` at the root; see `checkpoint-store.ts`),
 * ticked by `CheckpointMirror` (`mirror.ts`). LaminarDB's reader of that
 * layout takes an epoch as committed when its `_COMMIT` exists and then reads
 * its partials, commit descriptors and source offsets, so the order is:
 *
 * 1. each sealed epoch, oldest first: every partial, commit descriptor and
 *    source offsets object under `epoch={E}/` (`copyFile`, the table
 *    mirror's copy: create-only, sizes checked, streamed and hashed, origin
 *    recorded, an object found on the target accepted only when proven the
 *    source's), then its `_COMMIT`, the same way: the source's bytes,
 *    create-only; a marker already on the target with other bytes is
 *    `SplitBrain`, never overwritten;
 * 2. then, on the target, the epochs the source pruned: every epoch below
 *    the source's oldest, never the target's newest sealed one, markers
 *    first (`prunePass`, the layout's own prune), so no reader of the target
 *    ever finds a `_COMMIT` whose objects are missing.
 *
 * An epoch without `_COMMIT` is not committed for LaminarDB, and not copied
 * until it is sealed: its partials are plain overwrites until then (a retried
 * or fenced-out writer rewrites them), and abandoned epochs are never
 * sealed, so a copy made early could be stale bytes or wasted. It is looked
 * at again each tick (one LIST) until sealed or pruned.
 *
 * The layout has no namespace to tell one deployment's state from
 * another's, so the target's identity is its history, as the table mirror
 * checks it (once per instance, before the first write): the target's newest
 * sealed epoch must not be past the source's newest epoch, and must be the
 * source's, object by object (`acceptFound`: size and origin), or, when the
 * source pruned it since, carry this source's origin in its marker's
 * metadata. Anything else is `SplitBrain`. A target holding `state-v2/`
 * is refused (`NotSupported`): LaminarDB would read that, not the copy.
 *
 * Costs: an idle tick is one delimited LIST of the source's `epoch=` plus one
 * LIST per unsealed epoch, and one HEAD on the target. An epoch with n
 * objects: a LIST of each side, a GET and a PUT per object and for the
 * marker.
 *
 * @module
 */

import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { TickBudget } from "../mirror/budget.ts";
import { acceptFound, type CopyContext, copyFile } from "../mirror/copy.ts";
import { ORIGIN_SOURCE_KEY } from "../mirror/origin.ts";
import { headIfExists } from "../store/exists.ts";
import type { ObjectMeta, ObjectStore } from "../store/types.ts";
import { checkpointCommitKey, epochPrefix, parseEpochKey } from "./layout.ts";
import {
  copyEpochObjects,
  type EpochOutcome,
  type LayoutPass,
  type PassContext,
  walkEpochs,
} from "./mirror-pass.ts";
import { CheckpointTarget, newestOf, type TargetLayout } from "./mirror-target.ts";
import { prunePass } from "./prune.ts";
import { STATE_V2_PREFIX } from "./state-v2/keys.ts";
import { hasAny } from "./state-v2/listing.ts";

/** Requests an epoch costs besides its objects: LIST source, LIST target, GET and PUT the marker. */
const EPOCH_REQUESTS = 4;
/** Requests a prune reserves: LIST the target, DELETE the markers, DELETE the rest. */
const PRUNE_REQUESTS = 3;

/** The layout's checks of `store` as a mirror's target: a seal is `_COMMIT`; nothing else to hold. */
function legacyTarget(store: ObjectStore): TargetLayout<void> {
  return {
    layout: "legacy",
    sealKey: (epoch) => checkpointCommitKey(BigInt(epoch)),
    holds: async () => true,
    believedEmpty: async () => true,
    async derive(p) {
      if (await hasAny(store, STATE_V2_PREFIX)) {
        throw new TidemarkError(
          "NotSupported",
          `the target ${store.name} holds state-v2 checkpoints: LaminarDB reads those there, never a copy of the layout before state-v2; mirror into another prefix`,
          { key: STATE_V2_PREFIX },
        );
      }
      for await (const m of store.list("epoch=")) {
        const k = parseEpochKey(m.key);
        if (k?.kind === "commit-marker") p.attempts[String(k.epoch)] = [];
      }
      p.through = newestOf(p.attempts) ?? null;
    },
  };
}

/** A listed object as the copy path takes a file: its key and exact size. */
function fileOf(m: ObjectMeta) {
  return { path: m.key, kind: "data" as const, size: m.size, minSize: m.size };
}

/** The pass of a `CheckpointMirror` over the layout before `state-v2` (see the module). */
export class LegacyPass implements LayoutPass {
  readonly layout = "legacy";
  readonly target: CheckpointTarget<void>;
  readonly sourceFloor = null;
  readonly #ctx: PassContext;
  /** The target's history was checked against the source's (once per instance, and after it was read again). */
  #verified = false;
  /** Whether the target copies the source's objects server-side (asked once). */
  #serverSide: boolean | Promise<boolean> | undefined;
  sourceNewest: bigint | null = null;
  pending = 0;

  constructor(ctx: PassContext) {
    this.#ctx = ctx;
    this.target = new CheckpointTarget(ctx.target, ctx.binding, ctx.progress, legacyTarget(ctx.target));
  }

  async pass(budget: TickBudget): Promise<boolean> {
    const epochs = await this.#sourceEpochs();
    const t = this.target;
    if (!t.initialised) await t.init();
    else if (!(await t.asBelieved())) {
      await t.forget();
      this.#verified = false;
    }
    if (!this.#verified) {
      await this.#checkSameHistory(epochs);
      this.#verified = true;
    }
    const more = await walkEpochs(t, epochs, 0n, budget, {
      requests: EPOCH_REQUESTS,
      closed: this.#ctx.closed,
      handle: (e) => this.#epoch(e, budget),
      pending: (n) => {
        this.pending = n;
      },
    });
    if (more) return true;
    return this.#prune(epochs, budget);
  }

  /** The source's epochs, ascending: one delimited listing of `epoch=`. */
  async #sourceEpochs(): Promise<bigint[]> {
    const out: bigint[] = [];
    for await (const m of this.#ctx.source.list("epoch=", { delimiter: "/" })) {
      const k = m.isPrefix ? parseEpochKey(m.key) : undefined;
      if (k !== undefined && k.rest === "") out.push(k.epoch);
    }
    out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.sourceNewest = out.at(-1) ?? null;
    return out;
  }

  #copyContext(epoch: bigint): CopyContext {
    return {
      source: this.#ctx.source,
      target: this.#ctx.target,
      sourceId: this.#ctx.binding.source,
      version: 0,
      partOf: `checkpoint epoch ${epoch}`,
      serverSide: this.#serverSide,
    };
  }

  /**
   * Before the first write: is the target's newest sealed epoch the
   * source's? (Another job's checkpoints mirrored there first, or the source
   * was recreated.) See the module.
   */
  async #checkSameHistory(epochs: readonly bigint[]): Promise<void> {
    const { source, target } = this.#ctx;
    const newest = newestOf(this.target.progress.attempts);
    if (newest === undefined) return;
    const epoch = BigInt(newest);
    const marker = checkpointCommitKey(epoch);
    const top = epochs.at(-1);
    if (top === undefined || epoch > top) {
      throw new TidemarkError(
        "SplitBrain",
        `the target ${target.name} has epoch ${epoch} sealed, past the source's newest epoch (${top ?? "none"}): it mirrors another history`,
        { key: marker },
      );
    }
    const ctx = this.#copyContext(epoch);
    const pruned = async () => (await headIfExists(source, marker)) === undefined;
    if (!(await pruned())) {
      for await (const m of target.list(epochPrefix(epoch))) {
        if (parseEpochKey(m.key)?.kind === undefined) continue;
        try {
          await acceptFound(ctx, fileOf(m), m);
        } catch (e) {
          // The source pruned the epoch meanwhile: its marker, checked below, decides.
          if (isTidemarkError(e, "NotFound") && (await pruned())) break;
          throw e;
        }
      }
      if (!(await pruned())) return;
    }
    // The source pruned it since: only this source's copy is accepted.
    const meta = await headIfExists(target, marker);
    if (meta === undefined) return;
    const origin = meta.metadata?.[ORIGIN_SOURCE_KEY];
    if (origin !== this.#ctx.binding.source) {
      throw new TidemarkError(
        "SplitBrain",
        `the target ${target.name}'s newest sealed epoch ${epoch} is no longer on the source, and was not copied from it (${origin === undefined ? "no origin recorded" : "another source's copy"}): it cannot be proven this source's history`,
        { key: marker },
      );
    }
  }

  /** Copies epoch `epoch` if it is sealed: its objects, then its `_COMMIT`. */
  async #epoch(epoch: bigint, budget: TickBudget): Promise<EpochOutcome> {
    const { source } = this.#ctx;
    const prefix = epochPrefix(epoch);
    const objects: ObjectMeta[] = [];
    let marker: ObjectMeta | undefined;
    for await (const m of source.list(prefix)) {
      const kind = parseEpochKey(m.key)?.kind;
      if (kind === "commit-marker") marker = m;
      else if (kind !== undefined) objects.push(m);
    }
    if (marker === undefined) return "unsealed";
    const p = this.target.progress;
    const ctx = this.#copyContext(epoch);
    const { complete, onTarget } = await copyEpochObjects(
      this.#ctx,
      p,
      epoch,
      prefix,
      objects,
      budget,
      (o, there) => copyFile(ctx, fileOf(o), there === undefined),
    );
    this.#serverSide ??= ctx.serverSide;
    if (!complete) return "incomplete";
    // The marker last. Recorded only once it is there: the prune never removes the target's newest
    // sealed epoch, so it must not count one whose put failed.
    const r = await copyFile(ctx, fileOf(marker), !onTarget.has(marker.key));
    this.#serverSide ??= ctx.serverSide;
    if (r.copied !== undefined) p.counters.bytes += r.copied;
    p.attempts[String(epoch)] = [];
    p.counters.attempts++;
    delete p.inProgress;
    return "copied";
  }

  /**
   * Deletes the target's epochs the source pruned: those below the source's
   * oldest epoch, never the target's newest sealed one (markers first).
   * Returns whether work remains (the budget could not take it).
   */
  async #prune(epochs: readonly bigint[], budget: TickBudget): Promise<boolean> {
    const p = this.target.progress;
    const oldest = epochs[0];
    const newest = newestOf(p.attempts);
    if (oldest === undefined || newest === undefined) return false;
    const before = oldest < BigInt(newest) ? oldest : BigInt(newest);
    // The layout's prune takes epochs as numbers (its keys' epochs are safe integers).
    if (before > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    if (p.prunedBelow !== undefined && before <= BigInt(p.prunedBelow)) return false;
    if (!budget.fits(PRUNE_REQUESTS, 0)) return true;
    const r = await prunePass(this.#ctx.target, Number(before), {
      start: 0,
      baseline: false,
      pass: 0,
      fullScanEvery: 1,
    });
    p.counters.pruned += r.deleted;
    for (const e of Object.keys(p.attempts)) if (BigInt(e) < before) delete p.attempts[e];
    if (r.failed.length > 0) {
      const first = r.failed[0];
      throw new TidemarkError(
        "Transient",
        `pruning the target below epoch ${before}: ${r.failed.length} delete(s) failed, first ${first?.key}: ${first?.message}`,
        { key: first?.key ?? epochPrefix(before) },
      );
    }
    p.prunedBelow = String(before);
    return false;
  }
}
