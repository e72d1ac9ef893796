import { manifestExists } from "../catalog/index.ts";
import type { ObjectStore } from "../store/types.ts";

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
