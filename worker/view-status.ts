/**
 * Where a table's Iceberg views stand, for its status and `/metrics`: each
 * configured view's current snapshot (its id is the mirrored version it
 * shows), its lag behind the mirror in versions, its latest metadata file
 * and why its last update failed. The `MirrorObject` keeps what the last
 * tick saw ({@link recordViews}, in its one state row), so a status read
 * after an eviction, before the next tick has loaded the view, still says
 * where the view is.
 */
import { ViewLocation } from "../src/iceberg/location.ts";
import type { IcebergViewStatus } from "../src/iceberg/view.ts";
import type { renderMetrics } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";
import { type IcebergSetting, viewSettings } from "./view-config.ts";

/** A view of the table's mirror, as its status reports it. */
export interface TableViewStatus extends IcebergViewStatus {
  /** The current snapshot's id: the mirrored version it shows (`null` before the first). */
  snapshotId: number | null;
  /** Mirrored versions after the view's (`mirrorSeq - version`, gaps included): 0 when it is up to date. */
  lagVersions: number;
}

const sameView = (a: Pick<IcebergViewStatus, "location" | "prefix">, b: typeof a) =>
  a.location === b.location && a.prefix === b.prefix;

/**
 * What to keep of the views after a tick: the mirror's view of each (`live`)
 * unless it knows less than the record (a new instance whose tick failed
 * before its view read the view's metadata reports version 0): then the
 * record, with the live error if there is one. Views no longer configured
 * are dropped. No live views (no mirror yet): the record as is.
 */
export function recordViews(
  previous: readonly IcebergViewStatus[],
  live: readonly IcebergViewStatus[] | undefined,
): IcebergViewStatus[] {
  if (live === undefined) return [...previous];
  return live.map((v) => {
    const before = previous.find((p) => sameView(p, v));
    if (before === undefined || v.version >= before.version) return { ...v };
    return v.lastError ? { ...before, lastError: v.lastError } : { ...before };
  });
}

/** Each configured view's status, from the record, against the mirror's `mirrorSeq`. */
export function tableViewStatuses(
  setting: IcebergSetting | undefined,
  records: readonly IcebergViewStatus[],
  mirrorSeq: number,
): TableViewStatus[] {
  return viewSettings(setting).map((v) => {
    const where = new ViewLocation(v.location, v.prefix);
    const at = { location: where.base, prefix: where.prefix };
    const r = records.find((x) => sameView(x, at)) ?? { ...at, version: 0, metadataLocation: null };
    return {
      ...r,
      snapshotId: r.version > 0 ? r.version : null,
      lagVersions: Math.max(0, mirrorSeq - r.version),
    };
  });
}

type Family = Parameters<typeof renderMetrics>[0][number];

/** The metric families of the tables' views (worker/metrics.ts renders them with the mirror's). */
export function viewMetrics(
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
): Family[] {
  const snapshot: Family = {
    name: "tidemark_iceberg_snapshot_id",
    help: "The Iceberg view's current snapshot id: the mirrored version it shows (0: none yet).",
    type: "gauge",
    samples: [],
  };
  const lag: Family = {
    name: "tidemark_iceberg_lag_versions",
    help: "Mirrored versions the Iceberg view does not show yet.",
    type: "gauge",
    samples: [],
  };
  const failing: Family = {
    name: "tidemark_iceberg_failing",
    help: "1 when the Iceberg view's last update failed (status: iceberg[].lastError).",
    type: "gauge",
    samples: [],
  };
  for (const { table, status } of statuses) {
    for (const v of status?.iceberg ?? []) {
      const labels = { table, prefix: v.prefix };
      snapshot.samples.push({ labels, value: v.snapshotId ?? 0 });
      lag.samples.push({ labels, value: v.lagVersions });
      failing.samples.push({ labels, value: v.lastError ? 1 : 0 });
    }
  }
  return [snapshot, lag, failing];
}
