/**
 * The retention metrics of `/metrics` (worker/metrics.ts renders them after
 * the mirror's): for each table whose configuration has a retention policy,
 * what its target keeps (gauges, as of the last pass) and what retention
 * freed (counters since the table's progress began). A table without a
 * policy has no sample in these families.
 */
import type { Family } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";

/** The retention families, one sample per table with a policy. */
export function retentionFamilies(
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
): Family[] {
  const fam = (name: string, help: string, type: Family["type"]): Family => ({
    name,
    help,
    type,
    samples: [],
  });
  const oldest = fam(
    "tidemark_retention_oldest_retained_version",
    "The oldest version the mirror retains (its published boundary, metadata/oldest_retained.txt; 0: none yet).",
    "gauge",
  );
  const kept = fam(
    "tidemark_retention_versions_kept",
    "Versions on the target at or above the boundary.",
    "gauge",
  );
  const retained = fam(
    "tidemark_retention_bytes_retained",
    "Bytes the retained versions name (their files, once each, and their manifests).",
    "gauge",
  );
  const waiting = fam(
    "tidemark_retention_waiting_deletes",
    "Deletes waiting for an Object Lock to release (or that the store refused; retried).",
    "gauge",
  );
  const lastPass = fam(
    "tidemark_retention_last_pass_timestamp_seconds",
    "When the last retention pass ended, Unix seconds (absent before the first).",
    "gauge",
  );
  const freed = fam(
    "tidemark_retention_bytes_freed_total",
    "Bytes of the files and manifests retention deleted.",
    "counter",
  );
  const expired = fam(
    "tidemark_retention_versions_expired_total",
    "Versions whose manifests retention deleted.",
    "counter",
  );
  const deleted = fam("tidemark_retention_files_deleted_total", "Files retention deleted.", "counter");
  const passes = fam("tidemark_retention_passes_total", "Retention passes run.", "counter");
  const requests = fam(
    "tidemark_retention_requests_total",
    "Store requests the retention passes made (inside each alarm's budget).",
    "counter",
  );
  for (const { table, status } of statuses) {
    const r = status?.retention;
    if (r === undefined) continue;
    const labels = { table };
    oldest.samples.push({ labels, value: r.oldestRetained });
    kept.samples.push({ labels, value: r.versionsKept });
    retained.samples.push({ labels, value: r.bytesRetained });
    waiting.samples.push({ labels, value: r.waiting });
    if (r.lastPassAtMs !== null) lastPass.samples.push({ labels, value: r.lastPassAtMs / 1000 });
    freed.samples.push({ labels, value: r.totals.bytesFreed });
    expired.samples.push({ labels, value: r.totals.versionsExpired });
    deleted.samples.push({ labels, value: r.totals.filesDeleted });
    passes.samples.push({ labels, value: r.totals.passes });
    requests.samples.push({ labels, value: r.totals.requests });
  }
  return [oldest, kept, retained, waiting, lastPass, freed, expired, deleted, passes, requests];
}
