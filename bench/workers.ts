/**
 * The Worker at scale (BENCHMARKS.md, "Worker at scale"): runs
 * bench/workers/scale.test.ts inside workerd (the `workers-bench` vitest
 * project, on only with TIDEMARK_BENCH=1) while sampling the resident memory
 * of the workerd processes it starts, and prints the tables.
 *
 *   npx node bench/workers.ts [--tables N]
 *
 * `--tables` sets the tables of each burst (default 100; `npm run bench --
 * --quick` passes 10).
 *
 * workerd runs every table's Durable Object and the Worker in one process
 * here; its RSS is an upper bound of what one isolate holds in production,
 * where Cloudflare places objects as it likes (128 MB per isolate).
 */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readManifestFile } from "../src/catalog/chain.ts";
import { Catalog, MemoryStore, parseNumberOption } from "../src/index.ts";
import { headline, round } from "./result.ts";

const root = join(import.meta.dirname, "..");
const MiB = 1024 * 1024;

/**
 * `--manifest-memory` (run with --expose-gc): the memory a `MirrorObject`
 * keeps between ticks is its table's last mirrored manifest, decoded
 * (`Mirror` caches it to diff the next snapshot against). workerd gives no
 * heap figure from inside (`process.memoryUsage()` is zeros), so it is
 * measured here, in Node's V8: heap and ArrayBuffers per decoded manifest of
 * 10,000 live files, 20 kept alive.
 */
async function manifestMemory(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  const store = new MemoryStore();
  const catalog = await Catalog.open(store);
  const add = Array.from({ length: 10_000 }, (_, i) => ({
    path: `data/l0/f-${String(i).padStart(6, "0")}.parquet`,
    fileSize: 1 << 20,
    numRows: 1000,
    keyMin: new Uint8Array(16),
    keyMax: new Uint8Array(16),
  }));
  await catalog.commit({ add });
  gc();
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = used();
  const kept = [];
  for (let i = 0; i < 20; i++) kept.push(await readManifestFile(store, 1));
  gc();
  const perManifest = (used() - before) / kept.length;
  console.log(JSON.stringify({ files: 10_000, encodedBytes: kept[0]?.bytes.length, perManifest }));
}
const { values } = parseArgs({
  options: { tables: { type: "string" }, "manifest-memory": { type: "boolean" } },
});
if (values["manifest-memory"]) {
  await manifestMemory();
  process.exit(0);
}
const tables = parseNumberOption("--tables", values.tables, 100, { min: 1 });

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
  env: { ...process.env, TIDEMARK_BENCH: "1", TIDEMARK_BENCH_TABLES: String(tables), NO_COLOR: "1" },
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

console.log(`\n### ${tables} tables side by side: a burst of 3 commits × 2 files to every table\n`);
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

console.log("\n### An idle table, per poll and per hour; one commit\n");
console.log(
  "| wake-up | poll every (s) | per poll: source read-class | target read-class | write-class | rows written | active (ms) | per idle hour: read-class | write-class | Durable Object requests | rows written |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
const idleLines = lines.filter((x) => x.kind === "idle");
for (const l of idleLines) {
  const p = l.perPoll as Record<string, number>;
  const perHour = 3_600_000 / (l.pollIntervalMs as number);
  const reads = (p.sourceRead ?? 0) + (p.targetRead ?? 0);
  const writes = (p.sourceWrite ?? 0) + (p.targetWrite ?? 0);
  console.log(
    `| ${l.mode === "push" ? "pushed" : "polled"} | ${s(l.pollIntervalMs as number)} | ${fmt(p.sourceRead ?? 0)} | ${fmt(p.targetRead ?? 0)} | ${fmt(writes)} | ${fmt(p.doRowsWritten ?? 0)} | ${fmt(p.doActiveMs ?? 0)} | **${fmt(reads * perHour, 0)}** | **${fmt(writes * perHour, 0)}** | ${fmt(perHour + 1, 0)} | ${fmt((p.doRowsWritten ?? 0) * perHour, 0)} |`,
  );
}
console.log(
  "\n| wake-up | one commit of one file: source read / write | target read / write | Durable Object requests | rows written | active (ms) | queue messages |",
);
console.log("|---|---|---|---:|---:|---:|---:|");
for (const l of idleLines) {
  const c = l.perCommit as Record<string, number>;
  console.log(
    `| ${l.mode === "push" ? "pushed" : "polled"} | ${fmt(c.sourceRead ?? 0)} / ${fmt(c.sourceWrite ?? 0)} | ${fmt(c.targetRead ?? 0)} / ${fmt(c.targetWrite ?? 0)} | ${fmt(c.doRequests ?? 0)} | ${fmt(c.doRowsWritten ?? 0)} | ${fmt(c.doActiveMs ?? 0)} | ${fmt(c.queueMessages ?? 0)} |`,
  );
}

// Memory at the phases the bench marked: the first sample after each mark.
const rssAt = (atMs: number) => live.find((x) => x.atMs >= atMs)?.rss ?? Number.NaN;
console.log(
  "\n### workerd's memory (RSS; the Worker, every Durable Object, local R2 and the queue in one process)\n",
);
console.log("| moment | tables alive | RSS (MiB) |");
console.log("|---|---:|---:|");
console.log(`| before the first test | 0 | ${fmt(idle / MiB)} |`);
let alive = 0;
for (const l of lines.filter((x) => x.kind === "phase")) {
  const name = String(l.name);
  if (name.endsWith("-setup-done") || name === "lag-done" || name === "idle-done")
    alive += l.tables as number;
  if (name === "all-evicted") alive = 0;
  console.log(`| ${name} | ${alive} | ${fmt(rssAt(l.atMs) / MiB)} |`);
}
const mm = spawnSync(process.execPath, ["--expose-gc", import.meta.filename, "--manifest-memory"], {
  encoding: "utf8",
});
const m = JSON.parse(mm.stdout.trim().split("\n").at(-1) ?? "{}") as {
  files: number;
  encodedBytes: number;
  perManifest: number;
};
console.log(
  `\nA decoded manifest of ${m.files.toLocaleString("en-US")} live files (${fmt(m.encodedBytes / 1000, 0)} KB encoded) holds ${fmt(m.perManifest / MiB, 2)} MiB of heap and ArrayBuffers (Node's V8, with a GC before each reading).`,
);
console.log(
  `\nworkerd RSS: ${fmt(idle / MiB)} MiB at start, peak ${fmt(peak / MiB)} MiB over the run (${live.length} samples every 250 ms).`,
);
// The headline figures for bench/run.ts (a figure the run did not report is NaN, null in JSON).
const num = (x: unknown) => (typeof x === "number" ? x : Number.NaN);
const one = (kind: string, mode: string) => lines.find((x) => x.kind === kind && x.mode === mode);
const idlePush = one("idle", "push");
const idlePerPoll = (idlePush?.perPoll ?? {}) as Record<string, number>;
headline({
  "lag p50 pushed (s)": round(num(one("lag", "push")?.p50) / 1000),
  "lag p50 polled (s)": round(num(one("lag", "poll")?.p50) / 1000),
  [`${tables} tables caught up after a burst, pushed (s)`]: round(
    num(one("burst", "push")?.catchUpMs) / 1000,
  ),
  "idle pushed table: read-class per hour": Math.round(
    (num(idlePerPoll.sourceRead) + num(idlePerPoll.targetRead)) * (3_600_000 / num(idlePush?.pollIntervalMs)),
  ),
  "workerd RSS peak (MiB)": round(peak / MiB, 1),
});
