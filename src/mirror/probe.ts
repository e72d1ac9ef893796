/** Something whose versions can be probed: a table reader (either layout). */
export interface VersionProbe {
  /** Whether version `v` has a manifest. */
  exists(version: number): Promise<boolean>;
}

/**
 * The first version after `from` (which is missing) whose manifest exists,
 * given that `head` exists: probes `from + 1`, `+ 2`, `+ 4`, ... up to
 * `head`, then binary-searches the last step. O(log gap) probes. Where the
 * missing versions are not one run (a mirror of a mirror with several gaps),
 * an existing version inside the searched step can be passed over: it is
 * then skipped like the gap around it, never mirrored out of order.
 */
export async function nextExisting(table: VersionProbe, from: number, head: number): Promise<number> {
  let lo = from; // missing
  let hi = head; // exists
  for (let step = 1; from + step < head; step *= 2) {
    const v = from + step;
    if (await table.exists(v)) {
      hi = v;
      break;
    }
    lo = v;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await table.exists(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
