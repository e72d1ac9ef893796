/**
 * One listing of a checkpoint root's `state-v2/` keys, grouped the way
 * LaminarDB addresses them: the namespace marker, the prune floor, and per
 * attempt its partials, descriptors and seal; plus what LaminarDB never
 * reads (keys of another shape). Sizes come from the listing, so a verifier
 * knows each object's length before it reads it.
 *
 * @module
 */

import type { ObjectStore } from "../../store/types.ts";
import { type Attempt, attemptPrefix, parseStateKey, STATE_V2_PREFIX } from "./keys.ts";

/** An object as the listing showed it. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

/** One attempt's objects. */
export interface AttemptListing {
  attempt: Attempt;
  /** `state-v2/epoch={E}/checkpoint={E}/`. */
  prefix: string;
  /** By vnode. */
  partials: Map<number, ListedObject>;
  /** By descriptor key (the part after `commit/`). */
  descriptors: Map<string, ListedObject>;
  seal: ListedObject | undefined;
  /** Objects under the attempt that LaminarDB does not write (V1's `srcoff/`...). */
  others: ListedObject[];
}

/** A whole root, from one listing. */
export interface RootListing {
  namespace: ListedObject | undefined;
  floor: ListedObject | undefined;
  /** In epoch order. */
  attempts: AttemptListing[];
  /** Prefixes of attempts LaminarDB never addresses (`epoch != checkpoint`, or 0), with their objects. */
  noncanonical: Map<string, ListedObject[]>;
  /** Keys of no known shape. */
  strays: ListedObject[];
  /** Objects and bytes under `state-v2/`. */
  objects: number;
  bytes: number;
}

/** An empty attempt record. */
export function emptyAttempt(attempt: Attempt): AttemptListing {
  return {
    attempt,
    prefix: attemptPrefix(attempt),
    partials: new Map(),
    descriptors: new Map(),
    seal: undefined,
    others: [],
  };
}

/**
 * Lists `state-v2/` (one request per page) and groups it.
 *
 * @throws TidemarkError `NotSupported` on a store that cannot list; store errors.
 */
export async function listStateRoot(store: ObjectStore, prefix = STATE_V2_PREFIX): Promise<RootListing> {
  const out: RootListing = {
    namespace: undefined,
    floor: undefined,
    attempts: [],
    noncanonical: new Map(),
    strays: [],
    objects: 0,
    bytes: 0,
  };
  const byEpoch = new Map<bigint, AttemptListing>();
  for await (const m of store.list(prefix)) {
    const o: ListedObject = { key: m.key, size: m.size, etag: m.etag };
    out.objects++;
    out.bytes += m.size;
    const k = parseStateKey(m.key);
    if (k.kind === "namespace") out.namespace = o;
    else if (k.kind === "floor") out.floor = o;
    else if (k.kind === "stray") out.strays.push(o);
    else if (k.kind === "noncanonical") {
      const list = out.noncanonical.get(k.prefix);
      if (list) list.push(o);
      else out.noncanonical.set(k.prefix, [o]);
    } else {
      let a = byEpoch.get(k.attempt.epoch);
      if (!a) {
        a = emptyAttempt(k.attempt);
        byEpoch.set(k.attempt.epoch, a);
      }
      if (k.kind === "partial") a.partials.set(k.vnode, o);
      else if (k.kind === "descriptor") a.descriptors.set(k.key, o);
      else if (k.kind === "seal") a.seal = o;
      else a.others.push(o);
    }
  }
  out.attempts = [...byEpoch.values()].sort((x, y) =>
    x.attempt.epoch < y.attempt.epoch ? -1 : x.attempt.epoch > y.attempt.epoch ? 1 : 0,
  );
  return out;
}

/** Whether `prefix` has any key (one listing request, stopped at the first entry). */
export async function hasAny(store: ObjectStore, prefix: string): Promise<boolean> {
  for await (const _ of store.list(prefix)) return true;
  return false;
}
