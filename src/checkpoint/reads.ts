/**
 * Reading the checkpoint layout back: the objects below an epoch
 * prefix (commit descriptors, source offsets), the sealed epochs from one
 * listing, and the latest committed epoch (a delimited listing of epochs,
 * then HEADs of their markers from the top down). These are the paths that
 * need a store that can list and that must tolerate a concurrent prune; they
 * hold no state, so {@link CheckpointStore} calls them with its store and
 * retry policy.
 *
 * @module
 */

import { TidemarkError } from "../errors.ts";
import { forEachLimit } from "../store/batch.ts";
import { bytesIfExists, headIfExists } from "../store/exists.ts";
import { type RetryPolicy, withRetry } from "../store/retry.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import { checkpointCommitKey, epochOfKey } from "./layout.ts";

/** One object below an epoch (a commit descriptor, a node's source offsets): its key there and bytes. */
export interface EpochBlob {
  /** The key below `epoch={E}/commit/` or `epoch={E}/srcoff/`. */
  key: string;
  bytes: Uint8Array;
}

// How many HEADs `latestCommittedEpoch` spends on the topmost epochs before
// it lists every key of the layout instead.
const LATEST_HEADS = 8;

/** `NotSupported` (naming `what` and the store) unless `store` can list. */
function requireList(store: ObjectStore, what: string, hint = ""): void {
  if (capabilitiesOf(store).list === false) {
    throw new TidemarkError(
      "NotSupported",
      `${what} needs a store that can list; ${store.name} cannot${hint}`,
    );
  }
}

/**
 * The objects below `prefix`, in key order (one listing, then a GET each, 8
 * at once); one deleted since the listing (pruned) is left out.
 *
 * @throws TidemarkError `NotSupported` on a store that cannot list; store errors.
 */
export async function readBlobs(store: ObjectStore, prefix: string): Promise<EpochBlob[]> {
  requireList(store, `reading ${prefix}`);
  const keys: string[] = [];
  for await (const m of store.list(prefix)) keys.push(m.key);
  const out: Array<EpochBlob | undefined> = new Array(keys.length);
  await forEachLimit(
    keys.map((k, i) => [k, i] as const),
    8,
    async ([k, i]) => {
      const bytes = await bytesIfExists(store, k);
      if (bytes !== undefined) out[i] = { key: k.slice(prefix.length), bytes };
    },
  );
  return out.filter((b): b is EpochBlob => b !== undefined);
}

/** Whether `epoch`'s `_COMMIT` marker exists (a HEAD, retried by `retry`). */
async function isSealed(store: ObjectStore, retry: RetryPolicy, epoch: number): Promise<boolean> {
  return (await withRetry(() => headIfExists(store, checkpointCommitKey(epoch)), retry)) !== undefined;
}

/** Every sealed epoch, from one listing of the layout, in numeric order. */
export async function sealedByListing(store: ObjectStore): Promise<number[]> {
  const out: number[] = [];
  for await (const m of store.list("epoch=")) {
    if (!m.key.endsWith("/_COMMIT")) continue;
    const e = epochOfKey(m.key);
    if (e !== undefined && m.key === checkpointCommitKey(e)) out.push(e);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The highest sealed epoch (or `null`), as {@link CheckpointStore.latestCommittedEpoch}
 * documents: one delimited listing of `epoch=`, then up to 8 HEADs of markers
 * from the highest epoch down, then (calling `onFallback` first) one listing
 * of every key.
 *
 * @throws TidemarkError `NotSupported` on a store that cannot list; store errors.
 */
export async function latestCommitted(
  store: ObjectStore,
  retry: RetryPolicy,
  onFallback: () => void,
): Promise<number | null> {
  requireList(store, "latestCommittedEpoch", " (read partials of a known epoch instead)");
  const epochs: number[] = [];
  for await (const m of store.list("epoch=", { delimiter: "/" })) {
    const e = epochOfKey(m.key);
    if (e !== undefined) epochs.push(e);
  }
  epochs.sort((a, b) => b - a);
  for (const e of epochs.slice(0, LATEST_HEADS)) {
    if (await isSealed(store, retry, e)) return e;
  }
  if (epochs.length <= LATEST_HEADS) return null;
  onFallback();
  const sealed = await sealedByListing(store);
  return sealed.length === 0 ? null : (sealed[sealed.length - 1] ?? null);
}
