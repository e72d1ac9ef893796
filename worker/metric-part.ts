/**
 * Metric families over one part of each table's status (its retention, its
 * drill, ...): a table whose status has no such part has no sample in them.
 */
import type { Family } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";

/** One family: its name, help, type, and its value in a table's part (`undefined`: no sample). */
export type PartMetric<P> = [string, string, Family["type"], (part: P) => number | undefined];

/** The families `metrics` over `partOf` each table's status, one sample per table that has the part. */
export function partFamilies<P>(
  metrics: PartMetric<P>[],
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
  partOf: (s: MirrorObjectStatus) => P | undefined,
): Family[] {
  return metrics.map(([name, help, type, sample]) => ({
    name,
    help,
    type,
    samples: statuses.flatMap(({ table, status }) => {
      const part = status === undefined ? undefined : partOf(status);
      const value = part === undefined ? undefined : sample(part);
      return value === undefined ? [] : [{ labels: { table }, value }];
    }),
  }));
}
