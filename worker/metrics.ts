/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4), one
 * label `table` per series. https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import type { MirrorObjectStatus } from "./mirror-object.ts";

interface Family {
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
  ]);
}
