import { TidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";
import { LOW_WATER_KEY, type LowWaterState, manifestExists, manifestKey, readBoundary } from "./layout.ts";

/** Options of {@link discoverHead}. */
export interface DiscoverHeadOptions {
  /**
   * A version known to have existed (a cached HEAD): probing starts there
   * instead of at low_water. A hint is never trusted on its own: the answer is
   * checked against low_water read after the probes, and a hint below it (a
   * leftover of a failed expire, or a number expire has since deleted) is
   * dropped for low_water.
   */
  from?: number;
}

/** The result of {@link discoverHead}. */
export interface HeadDiscovery {
  /** The HEAD version; 0 for an empty table. */
  version: number;
  /** `head` requests made (low_water's `get`s are not counted). */
  probes: number;
  /** The low_water value read last; 0 when the file is missing. */
  lowWater: number;
  /** Whether low_water exists (`ok`) or not (`missing`: discovery started at 1). */
  lowWaterStatus: "ok" | "missing";
}

/**
 * Times discovery starts again because low_water moved past its answer while
 * it probed (a concurrent expire). Each restart starts at the new low_water,
 * so it only repeats while expires keep advancing it.
 */
const MAX_RESTARTS = 8;

/**
 * Finds the HEAD version of the table on `store` with `head` requests and
 * reads of low_water only, never a listing (so it works on read-only HTTP
 * stores):
 *
 * 1. start at the `from` hint if its manifest exists, else at low_water
 *    (`metadata/low_water.txt`; missing: 1);
 * 2. probe `start + 1`, `start + 2`, `start + 4`, ... until one is missing,
 *    then binary-search the last gap: O(log gap) probes (at most
 *    2·log2(gap) + 4), where gap is the distance from the start;
 * 3. read low_water again. Versions at or above low_water are never deleted
 *    (expire advances it first), so if it is at or below the answer, the
 *    answer was HEAD at some instant during the call; if it moved past the
 *    answer, an expire raced the probes (or the hint was a leftover below the
 *    boundary): start again from the new low_water.
 *
 * A missing start version at 1 (and low_water still at most 1) is an empty
 * table. Above 1, low_water names a manifest that is gone: the table is damaged.
 *
 * An idle call with a hint costs two probes and one low_water read.
 *
 * @throws TidemarkError `Corrupt` when low_water is not a decimal version
 *   (merutable refuses the same way; starting at 1 would let a writer begin
 *   a second history over the existing one) or names a missing manifest;
 *   `Transient` when low_water kept moving for {@link MAX_RESTARTS} rounds;
 *   store errors other than `NotFound` (a `Transient` error is never taken
 *   for "missing").
 */
export async function discoverHead(
  store: ObjectStore,
  opts: DiscoverHeadOptions = {},
): Promise<HeadDiscovery> {
  let probes = 0;
  const exists = (v: number): Promise<boolean> => {
    probes++;
    return manifestExists(store, v);
  };
  const boundary = () => readBoundary(store);

  let start: number | undefined;
  if (
    opts.from !== undefined &&
    Number.isSafeInteger(opts.from) &&
    opts.from >= 1 &&
    (await exists(opts.from))
  ) {
    start = opts.from;
  }
  for (let round = 0; round <= MAX_RESTARTS; round++) {
    if (start === undefined) {
      const lw = await boundary();
      const candidate = Math.max(1, lw.version ?? 0);
      if (await exists(candidate)) {
        start = candidate;
      } else {
        // Missing start: an empty table (at 1), an expire that advanced low_water and deleted
        // the version after our read, or damage. Only a second read tells them apart.
        const again = await boundary();
        const moved = Math.max(1, again.version ?? 0);
        if (moved > candidate) continue;
        if (candidate === 1) return result(0, again);
        throw new TidemarkError(
          "Corrupt",
          `${LOW_WATER_KEY} names version ${candidate}, but ${manifestKey(candidate)} is missing`,
          { key: manifestKey(candidate) },
        );
      }
    }
    const head = await gallop(start, exists);
    const lw = await boundary();
    if ((lw.version ?? 0) <= head) return result(head, lw);
    start = undefined; // low_water moved past the answer: begin again from it
  }
  throw new TidemarkError(
    "Transient",
    `HEAD discovery: ${LOW_WATER_KEY} moved past the answer ${MAX_RESTARTS + 1} times (expires running back to back?)`,
    { key: LOW_WATER_KEY },
  );

  function result(version: number, lw: LowWaterState): HeadDiscovery {
    return {
      version,
      probes,
      lowWater: lw.version ?? 0,
      lowWaterStatus: lw.status === "ok" ? "ok" : "missing",
    };
  }
}

/**
 * The last existing version from `start` (which exists): probes `start + 1`,
 * `+ 2`, `+ 4`, ... until one is missing, then binary-searches that gap.
 */
async function gallop(start: number, exists: (v: number) => Promise<boolean>): Promise<number> {
  let lo = start;
  let hi = 0;
  for (let step = 1; hi === 0; step *= 2) {
    const v = Math.min(start + step, Number.MAX_SAFE_INTEGER);
    if (await exists(v)) {
      lo = v;
      if (v === Number.MAX_SAFE_INTEGER) return lo;
    } else {
      hi = v;
    }
  }
  while (hi - lo > 1) {
    const mid: number = lo + Math.floor((hi - lo) / 2);
    if (await exists(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
