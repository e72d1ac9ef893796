/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4), one
 * label `table` per series. https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import { billingClasses, classNames } from "./cost.ts";
import type { MirrorObjectStatus } from "./object-state.ts";
import { retentionFamilies } from "./retention-metrics.ts";
import { viewMetrics } from "./view-status.ts";

export interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** Renders metric families as Prometheus text. */
export function renderMetrics(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(",");
      const value = Number.isFinite(s.value)
        ? String(s.value)
        : s.value > 0
          ? "+Inf"
          : s.value < 0
            ? "-Inf"
            : "NaN";
      lines.push(`${f.name}${labels ? `{${labels}}` : ""} ${value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The families of the mirror metrics, from each table's status (`undefined`: the object did not answer). */
export function mirrorMetrics(
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
): string {
  const fam = (name: string, help: string, type: Family["type"]): Family => ({
    name,
    help,
    type,
    samples: [],
  });
  const seq = fam("tidemark_mirror_seq", "Latest snapshot version fully mirrored.", "gauge");
  const head = fam("tidemark_source_head", "Latest snapshot version seen on the source.", "gauge");
  const lag = fam(
    "tidemark_mirror_lag_seconds",
    "Seconds the mirror is behind the source's latest commit.",
    "gauge",
  );
  const up = fam("tidemark_mirror_up", "1 when the table's mirror object answered.", "gauge");
  const caught = fam("tidemark_mirror_caught_up", "1 when the mirror has the source's HEAD.", "gauge");
  const snapshots = fam("tidemark_mirror_snapshots_total", "Snapshots mirrored.", "counter");
  const files = fam("tidemark_mirror_files_total", "Files uploaded to the mirror.", "counter");
  const skipped = fam(
    "tidemark_mirror_skipped_files_total",
    "Files found already present on the mirror.",
    "counter",
  );
  const bytes = fam("tidemark_mirror_bytes_total", "Bytes uploaded to the mirror.", "counter");
  const requests = fam(
    "tidemark_mirror_requests_total",
    "Store requests by class (read: get/head; write: put/delete/list).",
    "counter",
  );
  const failures = fam("tidemark_mirror_failures_total", "Failed mirror ticks.", "counter");
  const gaps = fam(
    "tidemark_mirror_gaps",
    "Version ranges the mirror skipped (expired on the source first).",
    "gauge",
  );
  const storeRequests = fam(
    "tidemark_store_requests_total",
    "Store requests of the mirror by side and billing class (R2: class_a, class_b; S3: put, get; free: deletes).",
    "counter",
  );
  const storeBytes = fam(
    "tidemark_store_bytes_total",
    "Bytes the mirror read from (direction=read) and wrote to (direction=written) each side.",
    "counter",
  );
  const doRequests = fam(
    "tidemark_durable_object_requests_total",
    "Requests the table's Durable Object received (RPC calls, alarms), as it counts them.",
    "counter",
  );
  const doActive = fam(
    "tidemark_durable_object_active_seconds_total",
    "Wall time the table's Durable Object spent handling requests (what duration is billed on).",
    "counter",
  );
  const doRows = fam(
    "tidemark_durable_object_rows_total",
    "Storage rows the table's Durable Object wrote (op=written: each key put or deleted, each alarm set) and read (op=read).",
    "counter",
  );
  const pushEnabled = fam(
    "tidemark_push_enabled",
    "1 when the table's wake-ups are pushed (its source's bucket is in PUSH_BUCKETS).",
    "gauge",
  );
  const push = fam(
    "tidemark_push_total",
    "Pushed wake-ups by outcome: messages routed here, wakes, stale (already mirrored), ignored (not its source), missed (a poll found what no push announced).",
    "counter",
  );
  const cost = fam(
    "tidemark_cost_monthly_usd",
    "The last one to two hours of the table's use projected to 30 days at list prices, by item (worker/cost.ts).",
    "gauge",
  );
  for (const { table, status: s } of statuses) {
    const l = { table };
    up.samples.push({ labels: l, value: s ? 1 : 0 });
    if (!s) continue;
    seq.samples.push({ labels: l, value: s.mirrorSeq });
    if (s.sourceHead !== null) head.samples.push({ labels: l, value: s.sourceHead });
    if (s.lagSeconds !== null) lag.samples.push({ labels: l, value: s.lagSeconds });
    caught.samples.push({ labels: l, value: s.caughtUp ? 1 : 0 });
    snapshots.samples.push({ labels: l, value: s.counters.snapshots });
    files.samples.push({ labels: l, value: s.counters.files });
    skipped.samples.push({ labels: l, value: s.counters.skippedFiles });
    bytes.samples.push({ labels: l, value: s.counters.bytes });
    requests.samples.push({ labels: { table, class: "read" }, value: s.counters.requests.read });
    requests.samples.push({ labels: { table, class: "write" }, value: s.counters.requests.write });
    failures.samples.push({ labels: l, value: s.counters.failures });
    gaps.samples.push({ labels: l, value: s.gaps.length });
    const { usage, providers, monthlyUsd } = s.cost;
    for (const side of ["source", "target"] as const) {
      const provider = providers?.[side];
      if (provider !== undefined) {
        const k = billingClasses(usage[side]);
        const names = classNames(provider);
        for (const [cls, value] of [
          [names.write, k.write],
          [names.read, k.read],
          ["free", k.free],
        ] as const) {
          storeRequests.samples.push({ labels: { table, side, provider, class: cls }, value });
        }
      }
      storeBytes.samples.push({ labels: { table, side, direction: "read" }, value: usage[side].bytesIn });
      storeBytes.samples.push({ labels: { table, side, direction: "written" }, value: usage[side].bytesOut });
    }
    doRequests.samples.push({ labels: l, value: usage.durableObject.requests });
    doActive.samples.push({ labels: l, value: usage.durableObject.activeMs / 1000 });
    doRows.samples.push({ labels: { table, op: "written" }, value: usage.durableObject.rowsWritten });
    doRows.samples.push({ labels: { table, op: "read" }, value: usage.durableObject.rowsRead });
    pushEnabled.samples.push({ labels: l, value: s.push.enabled ? 1 : 0 });
    for (const outcome of ["messages", "wakes", "stale", "ignored", "missed"] as const) {
      push.samples.push({ labels: { table, outcome }, value: s.push[outcome] });
    }
    if (monthlyUsd) {
      for (const [item, value] of Object.entries(monthlyUsd)) {
        if (item !== "total") cost.samples.push({ labels: { table, item }, value });
      }
    }
  }
  return renderMetrics([
    up,
    seq,
    head,
    lag,
    caught,
    snapshots,
    files,
    skipped,
    bytes,
    requests,
    failures,
    gaps,
    storeRequests,
    storeBytes,
    doRequests,
    doActive,
    doRows,
    pushEnabled,
    push,
    cost,
    ...retentionFamilies(statuses),
    ...viewMetrics(statuses),
  ]);
}
