/**
 * The Worker at scale (BENCHMARKS.md, "Worker at scale"): runs
 * bench/workers/scale.test.ts inside workerd (the `workers-bench` vitest
 * project, on only with TIDEMARK_BENCH=1) while sampling the resident memory
 * of the workerd processes it starts, and prints the tables.
 *
 *   npx node bench/workers.ts
 *
 * workerd runs every table's Durable Object and the Worker in one process
 * here; its RSS is an upper bound of what one isolate holds in production,
 * where Cloudflare places objects as it likes (128 MB per isolate).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const MiB = 1024 * 1024;

/** Every process below `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(d), ppid);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) {
      if (pp === p) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

/** Resident memory of the workerd processes below `pid`, bytes. */
function workerdRss(pid: number): number {
  let sum = 0;
  for (const p of descendants(pid)) {
    try {
      if (!readFileSync(`/proc/${p}/comm`, "utf8").startsWith("workerd")) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m?.[1]) sum += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return sum;
}

const child = spawn("npx", ["vitest", "run", "--project", "workers-bench"], {
  cwd: root,
  env: { ...process.env, TIDEMARK_BENCH: "1", NO_COLOR: "1" },
  stdio: ["ignore", "pipe", "pipe"],
});
const samples: Array<{ atMs: number; rss: number }> = [];
const timer = setInterval(() => {
  if (child.pid !== undefined) samples.push({ atMs: Date.now(), rss: workerdRss(child.pid) });
}, 250);
let out = "";
child.stdout.on("data", (d: Buffer) => {
  out += d.toString();
});
child.stderr.on("data", (d: Buffer) => {
  out += d.toString();
});
const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
clearInterval(timer);

interface Line {
  kind: string;
  atMs: number;
  mode: string;
  [k: string]: unknown;
}
const lines: Line[] = out
  .split("\n")
  .map((l) => /\{"bench":"workers-scale".*\}/.exec(l)?.[0])
  .filter((l): l is string => l !== undefined)
  .map((l) => JSON.parse(l) as Line);
if (code !== 0 || lines.length === 0) {
  console.error(out.slice(-5000));
  throw new Error(`the workers bench failed (exit ${code})`);
}

const fmt = (n: number, d = 1) =>
  n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const s = (ms: number) => fmt(ms / 1000, 2);
const live = samples.filter((x) => x.rss > 0);
const idle = live.slice(0, 8).reduce((m, x) => Math.min(m, x.rss), Number.POSITIVE_INFINITY);
const peak = live.reduce((m, x) => Math.max(m, x.rss), 0);
const peakBetween = (from: number, to: number) =>
  live.filter((x) => x.atMs >= from && x.atMs <= to).reduce((m, x) => Math.max(m, x.rss), 0);

console.log("### Lag from commit to mirrored\n");
console.log("| wake-up | samples | p50 (s) | p90 (s) | p99 (s) | max (s) | poll interval (s) |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const l of lines.filter((x) => x.kind === "lag")) {
  console.log(
    `| ${l.mode === "push" ? "pushed (queue)" : "polled"} | ${l.samples} | ${s(l.p50 as number)} | ${s(l.p90 as number)} | ${s(l.p99 as number)} | ${s(l.max as number)} | ${s(l.pollIntervalMs as number)} |`,
  );
}

console.log("\n### 100 tables side by side: a burst of 3 commits × 2 files to every table\n");
console.log(
  "| wake-up | burst (s) | all caught up after the burst (s) | workerd RSS peak (MiB) | per table: source read / write | target read / write | Durable Object requests | rows written | queue messages |",
);
console.log("|---|---:|---:|---:|---|---|---:|---:|---:|");
for (const l of lines.filter((x) => x.kind === "burst")) {
  const p = l.perTable as Record<string, number>;
  const from = l.atMs - (l.fromBurstStartMs as number) - 1000;
  console.log(
    `| ${l.mode === "push" ? "pushed" : "polled"} | ${s(l.burstMs as number)} | ${s(l.catchUpMs as number)} | ${fmt(peakBetween(from, l.atMs) / MiB)} | ${fmt(p.sourceRead ?? 0)} / ${fmt(p.sourceWrite ?? 0)} | ${fmt(p.targetRead ?? 0)} / ${fmt(p.targetWrite ?? 0)} | ${fmt(p.doRequests ?? 0)} | ${fmt(p.doRowsWritten ?? 0)} | ${fmt(p.queueMessages ?? 0)} |`,
  );
}
for (const l of lines.filter((x) => x.kind === "setup")) {
  console.log(
    `\n(setup, ${l.mode}: ${l.tables} tables configured, first commit each, all mirrored in ${s(l.ms as number)} s)`,
  );
}

console.log("\n### An idle table, per poll and per hour\n");
console.log(
  "| wake-up | poll every (s) | per poll: source read-class | target read-class | write-class | rows written | active (ms) | per hour: read-class | write-class | Durable Object requests | rows written |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const l of lines.filter((x) => x.kind === "idle")) {
  const p = l.perPoll as Record<string, number>;
  const perHour = 3_600_000 / (l.pollIntervalMs as number);
  const reads = (p.sourceRead ?? 0) + (p.targetRead ?? 0);
  const writes = (p.sourceWrite ?? 0) + (p.targetWrite ?? 0);
  console.log(
    `| ${l.mode === "push" ? "pushed" : "polled"} | ${s(l.pollIntervalMs as number)} | ${fmt(p.sourceRead ?? 0)} | ${fmt(p.targetRead ?? 0)} | ${fmt(writes)} | ${fmt(p.doRowsWritten ?? 0)} | ${fmt(p.doActiveMs ?? 0)} | **${fmt(reads * perHour, 0)}** | **${fmt(writes * perHour, 0)}** | ${fmt(perHour + 1, 0)} | ${fmt((p.doRowsWritten ?? 0) * perHour, 0)} |`,
  );
}
console.log(
  `\nworkerd RSS: ${fmt(idle / MiB)} MiB at start, peak ${fmt(peak / MiB)} MiB over the run (${live.length} samples every 250 ms).`,
);
