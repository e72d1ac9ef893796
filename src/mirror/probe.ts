import { manifestKey } from "../catalog/index.ts";
import { isTidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";

/** True when snapshot `v`'s manifest exists on `store` (one HEAD). Errors other than `NotFound` propagate. */
export async function manifestExists(store: ObjectStore, v: number): Promise<boolean> {
  try {
    await store.head(manifestKey(v));
    return true;
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) return false;
    throw e;
  }
}

/**
 * The oldest version in `[from, head]` whose manifest exists, given that
 * `head` exists and that the existing versions form a suffix of the range
 * (a primary expires oldest first). Binary search: O(log(head - from)) HEADs.
 */
export async function oldestFrom(store: ObjectStore, from: number, head: number): Promise<number> {
  let lo = from - 1; // treated as missing
  let hi = head; // exists
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await manifestExists(store, mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
