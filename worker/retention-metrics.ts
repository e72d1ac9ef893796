/**
 * The retention metrics of `/metrics` (worker/metrics.ts renders them after
 * the mirror's): for each table whose configuration has a retention policy,
 * what its target keeps (gauges, as of the last pass) and what retention
 * freed (counters since the table's progress began). A table without a
 * policy has no sample in these families.
 */
import type { RetentionStatus } from "../src/mirror/retention.ts";
import { type PartMetric, partFamilies } from "./metric-part.ts";
import type { Family } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";

const METRICS: PartMetric<RetentionStatus>[] = [
  [
    "tidemark_retention_oldest_retained_version",
    "The oldest version the mirror retains (its published boundary, metadata/oldest_retained.txt; 0: none yet).",
    "gauge",
    (r) => r.oldestRetained,
  ],
  [
    "tidemark_retention_versions_kept",
    "Versions on the target at or above the boundary.",
    "gauge",
    (r) => r.versionsKept,
  ],
  [
    "tidemark_retention_bytes_retained",
    "Bytes the retained versions name (their files, once each, and their manifests).",
    "gauge",
    (r) => r.bytesRetained,
  ],
  [
    "tidemark_retention_waiting_deletes",
    "Deletes waiting for an Object Lock to release (or that the store refused; retried).",
    "gauge",
    (r) => r.waiting,
  ],
  [
    "tidemark_retention_last_pass_timestamp_seconds",
    "When the last retention pass ended, Unix seconds (absent before the first).",
    "gauge",
    (r) => (r.lastPassAtMs === null ? undefined : r.lastPassAtMs / 1000),
  ],
  [
    "tidemark_retention_bytes_freed_total",
    "Bytes of the files and manifests retention deleted.",
    "counter",
    (r) => r.totals.bytesFreed,
  ],
  [
    "tidemark_retention_versions_expired_total",
    "Versions whose manifests retention deleted.",
    "counter",
    (r) => r.totals.versionsExpired,
  ],
  [
    "tidemark_retention_files_deleted_total",
    "Files retention deleted.",
    "counter",
    (r) => r.totals.filesDeleted,
  ],
  ["tidemark_retention_passes_total", "Retention passes run.", "counter", (r) => r.totals.passes],
  [
    "tidemark_retention_requests_total",
    "Store requests the retention passes made (inside each alarm's budget).",
    "counter",
    (r) => r.totals.requests,
  ],
];

/** The retention families, one sample per table with a policy. */
export function retentionFamilies(
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
): Family[] {
  return partFamilies(METRICS, statuses, (s) => s.retention);
}
