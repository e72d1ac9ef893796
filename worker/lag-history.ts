/**
 * The last hour of a mirror's lag, for the inspector's lag-over-time chart:
 * a small ring buffer kept by the table's Durable Object (in its storage, so
 * it survives evictions) and returned by its status. One sample per 30 s
 * bucket, holding the worst lag measured in it: a 2-second spike is not
 * averaged away, and an hour costs at most 120 samples, whatever the tick rate.
 */

/** The worst lag measured within one bucket. */
export interface LagSample {
  /** Start of the bucket, epoch milliseconds. */
  atMs: number;
  /** The worst lag in the bucket, seconds; `null` when no tick could measure it. */
  lagSeconds: number | null;
}

/** Width of a bucket. */
export const LAG_BUCKET_MS = 30_000;
/** How far back samples are kept. */
export const LAG_WINDOW_MS = 3_600_000;
/** The ring's capacity. */
export const LAG_SAMPLES = LAG_WINDOW_MS / LAG_BUCKET_MS;

/**
 * Adds a lag measured at `atMs` to `history` (oldest first) and returns the
 * new history: merged into the last sample when in the same bucket (the
 * worse lag wins; a measured lag beats `null`), else appended; samples older
 * than the window, or beyond the ring's capacity, are dropped. A clock that
 * steps back lands in the last bucket rather than reordering the history.
 */
export function recordLag(
  history: readonly LagSample[],
  atMs: number,
  lagSeconds: number | null,
): LagSample[] {
  const bucket = Math.floor(atMs / LAG_BUCKET_MS) * LAG_BUCKET_MS;
  const out = history.filter((s) => s.atMs > bucket - LAG_WINDOW_MS);
  const last = out.at(-1);
  if (last !== undefined && bucket <= last.atMs) {
    const worst =
      last.lagSeconds === null
        ? lagSeconds
        : lagSeconds === null
          ? last.lagSeconds
          : Math.max(last.lagSeconds, lagSeconds);
    out[out.length - 1] = { atMs: last.atMs, lagSeconds: worst };
  } else {
    out.push({ atMs: bucket, lagSeconds });
  }
  return out.slice(-LAG_SAMPLES);
}
