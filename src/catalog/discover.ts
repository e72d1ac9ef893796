import { TidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";
import { LOW_WATER_KEY, manifestExists, manifestKey, readLowWater } from "./layout.ts";

/** Options of {@link discoverHead}. */
export interface DiscoverHeadOptions {
  /**
   * A version known to have existed (a cached HEAD): probing starts there and
   * low_water is not read, unless that manifest is gone (expired meanwhile).
   */
  from?: number;
}

/** The result of {@link discoverHead}. */
export interface HeadDiscovery {
  /** The HEAD version; 0 for an empty table. */
  version: number;
  /** `head` requests made (low_water's `get` is not counted). */
  probes: number;
  /** The low_water value read; 0 when missing, garbage, or not read (a `from` hint sufficed). */
  lowWater: number;
  /** How low_water was found: `skipped` when a `from` hint sufficed. */
  lowWaterStatus: "ok" | "missing" | "garbage" | "skipped";
  /** Set when low_water was unreadable garbage (discovery then started at 1). */
  warning?: string;
}

/** Re-reads of low_water when its version vanished under us (a concurrent expire). */
const MAX_RESTARTS = 4;

/**
 * Finds the HEAD version of the table on `store` with `head` requests only,
 * never a listing (so it works on read-only HTTP stores):
 *
 * 1. read `metadata/low_water.txt` (missing or garbage: start at 1, reported in
 *    the result; any other read error is thrown);
 * 2. probe `start`, then `start + 1`, `start + 2`, `start + 4`, ... until one is
 *    missing, then binary-search the last gap. Steps are relative to the start
 *    (merutable doubles the version itself), so the cost is O(log gap), not
 *    O(log HEAD): at most 2·log2(gap) + 4 probes.
 *
 * If the start version is missing: at 1 the table is empty (version 0).
 * Above 1, an expire may have advanced low_water and deleted it after we read
 * low_water: re-read low_water and start again. If low_water did not move, it
 * names a manifest that is gone, and the table is damaged.
 *
 * @throws TidemarkError `Corrupt` when low_water names a missing manifest;
 *   store errors other than `NotFound` (a `Transient` error is never taken for
 *   "missing").
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

  let lowWater = 0;
  let lowWaterStatus: HeadDiscovery["lowWaterStatus"] = "skipped";
  let warning: string | undefined;
  let start: number | undefined;
  if (opts.from !== undefined && opts.from >= 1 && (await exists(opts.from))) start = opts.from;
  // Start at low_water. If that version is missing, either the table is empty (at 1), or an
  // expire advanced low_water and deleted it after our read. So read low_water again: if it
  // moved, start again from there; if not, it is the truth (empty at 1, damaged above 1).
  let previous: number | undefined;
  for (let restart = 0; start === undefined; restart++) {
    const lw = await readLowWater(store);
    lowWater = lw.version ?? 0;
    lowWaterStatus = lw.status;
    warning =
      lw.status === "garbage"
        ? `${LOW_WATER_KEY} is not a decimal version (${JSON.stringify(lw.raw)}): discovery started at 1`
        : undefined;
    const candidate = Math.max(1, lowWater);
    if (candidate !== previous && restart <= MAX_RESTARTS && (await exists(candidate))) {
      start = candidate;
    } else if (candidate === previous || restart > MAX_RESTARTS) {
      if (candidate === 1) return result(0);
      throw new TidemarkError(
        "Corrupt",
        `${LOW_WATER_KEY} names version ${candidate}, but ${manifestKey(candidate)} is missing`,
        { key: manifestKey(candidate) },
      );
    }
    previous = candidate;
  }

  // Gallop: `lo` exists; find the first missing `start + step`.
  let lo = start;
  let hi = 0;
  for (let step = 1; hi === 0; step *= 2) {
    const v = Math.min(start + step, Number.MAX_SAFE_INTEGER);
    if (await exists(v)) {
      lo = v;
      if (v === Number.MAX_SAFE_INTEGER) return result(lo);
    } else {
      hi = v;
    }
  }
  // Binary search: lo exists, hi is missing.
  while (hi - lo > 1) {
    const mid: number = lo + Math.floor((hi - lo) / 2);
    if (await exists(mid)) lo = mid;
    else hi = mid;
  }
  return result(lo);

  function result(version: number): HeadDiscovery {
    return { version, probes, lowWater, lowWaterStatus, ...(warning ? { warning } : {}) };
  }
}
