/**
 * One prune pass over the checkpoint layout: choosing between a full listing
 * of `epoch=` and one listing per epoch of the window, grouping what it finds
 * into markers and the rest by epoch, and deleting markers first so that a
 * `_COMMIT` never outlives the partials it vouches for. It is kept apart from
 * {@link CheckpointStore} because it is the one bulk-delete path and its
 * ordering is an invariant of its own; the class keeps the cursor and pass
 * counter and advances them from what a pass reports.
 *
 * @module
 */

import { isTidemarkError } from "../errors.ts";
import type { DeleteError, ObjectStore } from "../store/types.ts";
import { checkpointCommitKey, epochOfKey, epochPrefix } from "./layout.ts";

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

/** Where a pass starts from: the class's prune state. */
export interface PruneState {
  /** The cursor: every epoch below it was pruned by a clean pass. */
  start: number;
  /** Whether a clean pass has happened (else this pass lists the whole layout). */
  baseline: boolean;
  /** This pass's number (0 for the first). */
  pass: number;
  /** Every `fullScanEvery`-th pass lists the whole layout. */
  fullScanEvery: number;
}

// An incremental prune lists one prefix per epoch of its window; past this
// many epochs one full listing (1 request per 1,000 objects) is cheaper.
const MAX_PRUNE_WINDOW = 256;

/**
 * Deletes every object of every epoch below `before`, as
 * {@link CheckpointStore.pruneBefore} documents; everything of the result but
 * the cursor, which the caller advances when `failed` is empty.
 *
 * @throws TidemarkError listing errors; bulk-delete errors other than `Transient`.
 */
export async function prunePass(
  store: ObjectStore,
  before: number,
  state: PruneState,
): Promise<Omit<PruneResult, "cursor">> {
  const { start, baseline, pass, fullScanEvery } = state;
  const fullScan = !baseline || pass % fullScanEvery === 0 || before - start > MAX_PRUNE_WINDOW;
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
    for await (const m of store.list("epoch=")) {
      const e = epochOfKey(m.key);
      if (e !== undefined && e < before) add(m.key, e);
    }
  } else {
    for (let e = start; e < before; e++) {
      for await (const m of store.list(epochPrefix(e))) add(m.key, e);
    }
  }

  const failed: DeleteError[] = [];
  let deleted = 0;
  const remove = async (keys: string[]): Promise<Set<string>> => {
    const bad = new Set<string>();
    if (keys.length === 0) return bad;
    try {
      const r = await store.deleteMany(keys);
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
  return { fullScan, listed, deleted, failed };
}
