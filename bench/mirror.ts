/**
 * Mirror benchmark, side by side in one run:
 *
 * 1. write-class requests per mirrored snapshot, 10,000 live files and 10 new
 *    per snapshot: tidemark's `Mirror` versus a faithful re-implementation of
 *    merutable's `mirror_snapshot` (put-if-absent of every live file, the
 *    manifest put-if-absent, low_water overwritten), on `metered` memory stores;
 * 2. (--rgw) 500 × 1 MiB + 4 × 64 MiB between two buckets of a fresh Ceph RGW:
 *    `tidemark mirror --once` (the built CLI, as a process) versus `rclone
 *    copy`, same parallelism (8), wall time, CPU seconds and peak RSS from
 *    /usr/bin/time, three rounds in alternating order with the load average
 *    of each; then (2b) with server-side copy allowed on both sides;
 * 3. peak RSS above idle copying one 256 MiB file: (--rgw) the CLI and rclone
 *    between two RGW buckets, and in a child process on memory stores (a
 *    generated source, a discarding target: the mirror's own buffering).
 *
 * 4. (--workers) inside workerd, R2 → R2 under the worker's default per-alarm
 *    budget: alarms, files and bytes per alarm, catch-up time of a backlog
 *    (test/workers/mirror-throughput.test.ts prints the figures).
 *
 *   npx node bench/mirror.ts [--rgw] [--workers]
 */
import { spawnSync } from "node:child_process";
import { LOW_WATER_KEY, manifestKey } from "../src/catalog/layout.ts";
import {
  Catalog,
  decodeManifest,
  isTidemarkError,
  liveFiles,
  MemoryStore,
  Mirror,
  metered,
  mirrorSnapshot,
  type ObjectMeta,
  type ObjectStore,
  S3Store,
  TidemarkError,
  verifyMirror,
} from "../src/index.ts";
import { objectBody } from "../src/store/body.ts";
import { headline, round } from "./result.ts";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);

// ---------------------------------------------------------------- child: RSS
if (args[0] === "--rss-child") {
  const size = Number(args[3] || 256) * MiB;
  let source: ObjectStore;
  let target: ObjectStore;
  {
    const meta = new MemoryStore();
    await commitFiles(meta, [{ path: "data/big.bin", size }]);
    source = generatedSource(meta, "data/big.bin", size);
    target = discardingTarget(new MemoryStore(), "data/big.bin");
  }
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 300));
  const idleMem = process.memoryUsage();
  const idle = idleMem.rss;
  const idleHeap = idleMem.heapUsed + idleMem.arrayBuffers;
  let peak = idle;
  let heap = 0; // peak JS heap + ArrayBuffer bytes above idle
  // BENCH_FORCE_GC=1: collect before each sample, so the peak is live memory
  // (what the copy holds), not garbage V8 has not collected yet.
  const forceGc = process.env.BENCH_FORCE_GC === "1" ? (globalThis as { gc?: () => void }).gc : undefined;
  const sampler = setInterval(() => {
    forceGc?.();
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    heap = Math.max(heap, m.heapUsed + m.arrayBuffers - idleHeap);
  }, 5);
  const t0 = performance.now();
  const r = await mirrorSnapshot({ source, target, version: 1 });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ idle, peak, heap, seconds, bytes: r.bytes }));
  process.exit(0);
}

// ---------------------------------------------------------------- helpers

/** Commits `files` (sizes only; the bytes are written by the caller) as one snapshot. */
async function commitFiles(
  store: ObjectStore,
  files: Array<{ path: string; size: number }>,
): Promise<number> {
  const catalog = await Catalog.open(store);
  return catalog.commit({ add: files.map((f) => ({ path: f.path, fileSize: f.size, numRows: 1 })) });
}

/** A source whose one big file is generated on the fly (1 MiB chunks); the rest comes from `meta`. */
function generatedSource(meta: ObjectStore, path: string, size: number): ObjectStore {
  const info: ObjectMeta = { key: path, size, etag: "gen" };
  return {
    ...meta,
    name: "generated",
    get: async (key, opts) => {
      if (key !== path) return meta.get(key, opts);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          // One event-loop turn per chunk, as real I/O takes (and as lets timers and GC run).
          await new Promise((r) => setImmediate(r));
          if (sent >= size) return c.close();
          const n = Math.min(MiB, size - sent);
          // Filled: untouched zero pages would not count in RSS.
          const chunk = new Uint8Array(n).fill(sent & 0xff);
          sent += n;
          c.enqueue(chunk);
        },
      });
      return objectBody(info, stream);
    },
    head: async (key) => (key === path ? info : meta.head(key)),
    list: (p, o) => meta.list(p, o),
  };
}

/** A target that reads and drops the big file's body (so RSS shows only the mirror's buffering). */
function discardingTarget(inner: MemoryStore, path: string): ObjectStore {
  return {
    name: "discarding",
    get: (k, o) => inner.get(k, o),
    head: (k) => inner.head(k),
    put: async (k, body, o) => {
      if (k !== path || !(body instanceof ReadableStream)) return inner.put(k, body, o);
      const reader = body.getReader();
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
      return { etag: "dropped" };
    },
    delete: (k) => inner.delete(k),
    deleteMany: (ks) => inner.deleteMany(ks),
    list: (p, o) => inner.list(p, o),
  };
}

/** merutable's `mirror_snapshot`, request for request (mirror.rs at 41101e3). */
async function merutableMirrorSnapshot(
  source: ObjectStore,
  target: ObjectStore,
  version: number,
  parallelism = 4,
) {
  const manifestBytes = await (await source.get(manifestKey(version))).bytes();
  const files = liveFiles(decodeManifest(manifestBytes));
  // Step 1: put_if_absent every live file (read from the primary's disk: here a source GET).
  let next = 0;
  await Promise.all(
    Array.from({ length: parallelism }, async () => {
      while (next < files.length) {
        const path = files[next++] as string;
        const bytes = await (await source.get(path)).bytes();
        try {
          await target.put(path, bytes, { mode: "create" });
        } catch (e) {
          if (!isTidemarkError(e, "AlreadyExists")) throw e;
        }
      }
    }),
  );
  // Step 2: the manifest, put_if_absent; AlreadyExists is success.
  try {
    await target.put(manifestKey(version), manifestBytes, { mode: "create" });
  } catch (e) {
    if (!isTidemarkError(e, "AlreadyExists")) throw e;
  }
  // Step 3: low_water overwritten.
  await target.put(LOW_WATER_KEY, String(version));
}

const fmt = (n: number, d = 1) =>
  n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

// ---------------------------------------------------------------- 1: request counts
{
  const LIVE = 10_000;
  const NEW = 10;
  const SNAPSHOTS = 10;
  const source = new MemoryStore();
  const catalog = await Catalog.open(source);
  const body = new Uint8Array(64);
  const initial = Array.from({ length: LIVE }, (_, i) => ({ path: `data/base-${i}.parquet`, size: 64 }));
  for (const f of initial) await source.put(f.path, body);
  await catalog.commit({ add: initial.map((f) => ({ path: f.path, fileSize: f.size, numRows: 1 })) });

  const tTarget = metered(new MemoryStore());
  const tSource = metered(source);
  const mTarget = metered(new MemoryStore());
  const mSource = metered(source);
  const mirror = new Mirror({ source: tSource, target: tTarget });
  await mirror.tick();
  await merutableMirrorSnapshot(mSource, mTarget, 1);

  const sums = {
    t: { write: 0, read: 0, srcRead: 0, bytes: 0, ms: 0 },
    m: { write: 0, read: 0, srcRead: 0, bytes: 0, ms: 0 },
  };
  for (let s = 0; s < SNAPSHOTS; s++) {
    const add = Array.from({ length: NEW }, (_, i) => ({ path: `data/s${s}-${i}.parquet`, size: 64 }));
    for (const f of add) await source.put(f.path, body);
    const v = await catalog.commit({ add: add.map((f) => ({ path: f.path, fileSize: f.size, numRows: 1 })) });
    for (const [key, target, src, run] of [
      ["t", tTarget, tSource, () => mirror.tick()],
      ["m", mTarget, mSource, () => merutableMirrorSnapshot(mSource, mTarget, v)],
    ] as const) {
      target.reset();
      src.reset();
      const t0 = performance.now();
      await run();
      const acc = sums[key];
      acc.ms += performance.now() - t0;
      const c = target.counts();
      acc.write += c.writeClass;
      acc.read += c.readClass;
      acc.srcRead += src.counts().readClass;
      acc.bytes += c.bytesOut;
    }
  }
  if (mirror.mirrorSeq !== SNAPSHOTS + 1) throw new Error(`mirror at ${mirror.mirrorSeq}`);
  console.log(
    `## 1. Requests per mirrored snapshot (${fmt(LIVE, 0)} live files, ${NEW} new per snapshot, mean of ${SNAPSHOTS})\n`,
  );
  console.log("| | tidemark `Mirror` | merutable algorithm (re-implemented) |");
  console.log("|---|---:|---:|");
  const row = (label: string, f: (x: typeof sums.t) => string) =>
    console.log(`| ${label} | ${f(sums.t)} | ${f(sums.m)} |`);
  row("target write-class requests (PUT)", (x) => fmt(x.write / SNAPSHOTS));
  row("target read-class requests (GET, HEAD)", (x) => fmt(x.read / SNAPSHOTS));
  row("source read-class requests", (x) => fmt(x.srcRead / SNAPSHOTS));
  row("bytes sent to the target", (x) => fmt(x.bytes / SNAPSHOTS, 0));
  row("time per snapshot, memory stores (ms)", (x) => fmt(x.ms / SNAPSHOTS));
  console.log();
  headline({
    "write-class per snapshot: tidemark": sums.t.write / SNAPSHOTS,
    "write-class per snapshot: merutable": sums.m.write / SNAPSHOTS,
  });
}

// ---------------------------------------------------------------- 3: RSS
interface RssResult {
  idle: number;
  peak: number;
  heap: number;
  seconds: number;
  bytes: number;
}

function rssRun(
  mode: "memory",
  env: Record<string, string>,
  nodeFlags: string[],
  sizeMiB: number,
): RssResult {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", ...nodeFlags, import.meta.filename, "--rss-child", mode, "", String(sizeMiB)],
    { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`rss child (${mode}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as RssResult;
}

/**
 * One row: the same copy twice in fresh children, as Node runs it and with a
 * GC before each sample (live memory); `nodeFlags` for the labelled GC-flag row.
 */
function rssRow(
  label: string,
  mode: "memory",
  sizeMiB: number,
  env: () => Record<string, string>,
  nodeFlags: string[] = [],
): { natural: RssResult; live: RssResult } {
  const natural = rssRun(mode, env(), nodeFlags, sizeMiB);
  const live = rssRun(mode, { ...env(), BENCH_FORCE_GC: "1" }, nodeFlags, sizeMiB);
  const above = (x: RssResult) => fmt((x.peak - x.idle) / MiB);
  console.log(
    `| ${label} | ${fmt(sizeMiB, 0)} MiB | ${fmt(natural.idle / MiB)} | **${above(natural)}** | **${above(live)}** | ${fmt(live.heap / MiB)} | ${fmt(natural.seconds, 2)} |`,
  );
  return { natural, live };
}

const rssHeader = () => {
  console.log("## 3. Peak RSS while mirroring one big file (child processes, RSS sampled every 5 ms)\n");
  console.log(
    "| stores | file | idle RSS (MiB) | peak RSS above idle, as Node runs (MiB) | peak RSS above idle, GC before each sample (MiB) | live JS heap + ArrayBuffers above idle (MiB) | seconds |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
};

const memoryRows = () => {
  const r = rssRow("memory (generated source, discarding target)", "memory", 256, () => ({}));
  headline({
    "memory copy of 256 MiB: peak RSS above idle (MiB)": round((r.natural.peak - r.natural.idle) / MiB, 1),
  });
  // 4× the bytes: the live peak does not grow with the file.
  rssRow("memory (generated source, discarding target)", "memory", 1024, () => ({}));
};

// ---------------------------------------------------------------- 4: inside workerd (--workers)
if (args.includes("--workers")) {
  const here4 = new URL(".", import.meta.url).pathname;
  const r = spawnSync(
    "npx",
    ["vitest", "run", "--project", "workers", "test/workers/mirror-throughput.test.ts"],
    { cwd: `${here4}..`, encoding: "utf8", maxBuffer: 1 << 24 },
  );
  const lines = `${r.stdout}\n${r.stderr}`
    .split("\n")
    .map((l) => /\{"bench":"workers-backlog".*\}/.exec(l)?.[0])
    .filter((l): l is string => l !== undefined)
    .map(
      (l) =>
        JSON.parse(l) as {
          label: string;
          files: number;
          bytes: number;
          budget: { requests: number; bytes: number; parallelism: number };
          ticks: number;
          filesPerTick: number;
          bytesPerTick: number;
          ms: number;
          medianTickMs: number;
          maxTickMs: number;
        },
    );
  if (r.status !== 0 || lines.length === 0) throw new Error(`workers bench failed: ${r.stdout.slice(-3000)}`);
  const b = lines[0]?.budget;
  console.log(
    `## 4. R2 → R2 inside workerd, default per-alarm budget (${b?.requests} requests, ${fmt((b?.bytes ?? 0) / MiB, 0)} MiB, ${b?.parallelism} at once), one tick per alarm\n`,
  );
  console.log(
    "| backlog | alarms (ticks) | files per alarm | MiB per alarm | median alarm (ms) | slowest alarm (ms) | catch-up (s) |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const x of lines) {
    console.log(
      `| ${x.label} | ${x.ticks} | ${fmt(x.filesPerTick)} | ${fmt(x.bytesPerTick / MiB, 2)} | ${x.medianTickMs} | ${x.maxTickMs} | ${fmt(x.ms / 1000, 2)} |`,
    );
  }
  console.log();
  headline({ "workerd: files per alarm": round(lines[0]?.filesPerTick ?? Number.NaN, 1) });
}

if (!args.includes("--rgw")) {
  rssHeader();
  memoryRows();
  process.exit(0);
}

// ---------------------------------------------------------------- 2 + 3 on RGW
// Each tool runs as its own process under /usr/bin/time (wall, user + system
// CPU, peak RSS of the process), tidemark as the built CLI (`npm run build`
// first: dist/, as users run it), on a fresh Ceph RGW per part.
const { startRgw, createBucket } = await import("../test/services/rgw.ts");
const { loadavg } = await import("node:os");
const here = new URL(".", import.meta.url).pathname;
const bin = `${here}../dist/cli/bin.js`;
{
  const b = spawnSync(process.execPath, [`${here}../scripts/build.ts`], { encoding: "utf8" });
  if (b.status !== 0) throw new Error(`npm run build failed: ${b.stderr}`);
}

interface Run {
  wall: number;
  cpu: number;
  rssMiB: number;
}

/** Runs a command under /usr/bin/time; its wall time, CPU seconds (user + system) and peak RSS. */
function timedRun(cmd: string, argv: string[], env: Record<string, string>): Run {
  const r = spawnSync("/usr/bin/time", ["-f", "TIMING %e %U %S %M", cmd, ...argv], {
    env,
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  const m = /TIMING (\S+) (\S+) (\S+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${cmd} ${argv.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rssMiB: Number(m[4]) / 1024 };
}

const load = () => loadavg()[0]?.toFixed(2) ?? "?";

type Rgw = Awaited<ReturnType<typeof startRgw>>;

/** The environment of both tools against `rgw` (rclone remotes SRC and DST; AWS_* for tidemark). */
function toolEnv(rgw: Rgw, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_REGION: rgw.region,
    ...extra,
  };
  for (const name of ["SRC", "DST"]) {
    Object.assign(env, {
      [`RCLONE_CONFIG_${name}_TYPE`]: "s3",
      [`RCLONE_CONFIG_${name}_PROVIDER`]: "Ceph",
      [`RCLONE_CONFIG_${name}_ENDPOINT`]: rgw.endpoint,
      [`RCLONE_CONFIG_${name}_ACCESS_KEY_ID`]: rgw.accessKeyId,
      [`RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY`]: rgw.secretAccessKey,
      [`RCLONE_CONFIG_${name}_FORCE_PATH_STYLE`]: "true",
      [`RCLONE_CONFIG_${name}_REGION`]: rgw.region,
    });
  }
  delete env.AWS_CA_BUNDLE; // breaks rclone here (LoadCustomCABundleError)
  return env;
}

const s3url = (rgw: Rgw, bucket: string) =>
  `s3://${bucket}?endpoint=${encodeURIComponent(rgw.endpoint)}&path-style=true`;

/** `tidemark mirror --once` from one bucket to another, as a process of its own. */
function tidemarkRun(
  rgw: Rgw,
  src: string,
  dst: string,
  par: number,
  extra: Record<string, string> = {},
): Run {
  return timedRun(
    process.execPath,
    [bin, "mirror", "--from", s3url(rgw, src), "--to", s3url(rgw, dst), "--once", "--parallel", String(par)],
    toolEnv(rgw, extra),
  );
}

/** `rclone copy` of the source's data/ (with `--disable copy`: no server-side copy). */
function rcloneRun(rgw: Rgw, src: string, dst: string, par: number, serverSide: boolean): Run {
  const argv = [
    "copy",
    `SRC:${src}/data`,
    `DST:${dst}/data`,
    "--transfers",
    String(par),
    "--checkers",
    String(par),
  ];
  if (!serverSide) argv.push("--disable", "copy");
  return timedRun("rclone", argv, toolEnv(rgw));
}

/** Writes `files` (deterministic bytes, streamed) to `bucket` and commits them as snapshot 1. */
async function seed(store: S3Store, files: Array<{ path: string; size: number }>, par: number) {
  let next = 0;
  const chunk = new Uint8Array(MiB);
  await Promise.all(
    Array.from({ length: par }, async () => {
      while (next < files.length) {
        const i = next++;
        const f = files[i] as { path: string; size: number };
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= f.size) return c.close();
            const b = chunk.slice(0, Math.min(MiB, f.size - sent));
            b[0] = i & 0xff;
            b[1] = sent >>> 20;
            sent += b.length;
            c.enqueue(b);
          },
        });
        await store.put(f.path, stream, { size: f.size });
      }
    }),
  );
  await commitFiles(store, files);
}

/** A full memstore drops writes silently: every copy is checked. */
async function checkCopy(dst: S3Store, files: Array<{ path: string; size: number }>, tidemark: boolean) {
  if (tidemark) {
    const v = await verifyMirror(dst);
    if (!v.ok) throw new TidemarkError("Corrupt", `mirror incomplete: ${JSON.stringify(v)}`);
    return;
  }
  for (const f of files) {
    if ((await dst.head(f.path)).size !== f.size) throw new Error(`rclone copy: ${f.path} wrong size`);
  }
}

const PAR = 8;
const files = [
  ...Array.from({ length: 500 }, (_, i) => ({
    path: `data/small-${String(i).padStart(3, "0")}.parquet`,
    size: MiB,
  })),
  ...Array.from({ length: 4 }, (_, i) => ({ path: `data/large-${i}.parquet`, size: 64 * MiB })),
];
const total = files.reduce((a, f) => a + f.size, 0);
const s3 = (rgw: Rgw, bucket: string) =>
  new S3Store({
    endpoint: rgw.endpoint,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
    bucket,
    forcePathStyle: true,
  });
const bucket = (rgw: Rgw, name: string) => {
  createBucket(rgw, name);
  return s3(rgw, name);
};
const cell = (x: Run) => `${fmt(x.wall, 2)} s, ${fmt(x.cpu, 2)} CPU-s, ${fmt(x.rssMiB, 0)} MiB`;

// 2a: streamed copies, rclone --disable copy vs tidemark (node transport; fetch once for the record).
{
  const rgw = await startRgw({ memstoreBytes: 12 * 1024 ** 3 });
  try {
    await seed(bucket(rgw, "bench-src"), files, PAR);
    const ROUNDS = 3;
    const rows: string[] = [];
    const sums = { rclone: { wall: 0, cpu: 0 }, tidemark: { wall: 0, cpu: 0 } };
    for (let round = 1; round <= ROUNDS; round++) {
      const la = load();
      // The order alternates: no tool always gets the warmer (or fuller) cluster.
      const tools = round === 1 ? ["rclone", "tidemark", "tidemark-fetch"] : ["rclone", "tidemark"];
      const order = round % 2 === 1 ? tools : [...tools].reverse();
      const got: Record<string, Run> = {};
      for (const tool of order) {
        const name = `bench-${tool}-${round}`;
        const dst = bucket(rgw, name);
        got[tool] =
          tool === "rclone"
            ? rcloneRun(rgw, "bench-src", name, PAR, false)
            : tidemarkRun(
                rgw,
                "bench-src",
                name,
                PAR,
                tool === "tidemark-fetch" ? { TIDEMARK_S3_TRANSPORT: "fetch" } : {},
              );
        await checkCopy(dst, files, tool !== "rclone");
      }
      const r = got.rclone as Run;
      const t = got.tidemark as Run;
      sums.rclone.wall += r.wall;
      sums.rclone.cpu += r.cpu;
      sums.tidemark.wall += t.wall;
      sums.tidemark.cpu += t.cpu;
      const f = got["tidemark-fetch"];
      rows.push(
        `| ${round} | ${la} | ${cell(r)} | ${cell(t)} | **${fmt(t.wall / r.wall, 2)}×** | **${fmt(t.cpu / r.cpu, 2)}×** | ${f ? `${cell(f)} (${fmt(f.wall / r.wall, 2)}×, ${fmt(f.cpu / r.cpu, 2)}× CPU)` : "–"} |`,
      );
    }
    console.log(
      `## 2. ${files.length} files (500 × 1 MiB + 4 × 64 MiB = ${fmt(total / MiB, 0)} MiB) between two RGW buckets, ${PAR} at once, streamed\n`,
    );
    console.log(
      "Each cell: wall time, CPU seconds (user + system), peak RSS of the process. tidemark: `tidemark mirror --once --parallel 8` (Node, `nodeHttpTransport`); rclone: `rclone copy --transfers 8 --checkers 8 --disable copy`.\n",
    );
    console.log(
      "| round | load avg (1 min) | `rclone copy` | tidemark | wall ratio | CPU ratio | tidemark over `fetch` (`TIDEMARK_S3_TRANSPORT=fetch`) |",
    );
    console.log("|---:|---:|---|---|---:|---:|---|");
    for (const row of rows) console.log(row);
    headline({
      "RGW copy vs rclone: wall (×)": round(sums.tidemark.wall / sums.rclone.wall),
      "RGW copy vs rclone: CPU (×)": round(sums.tidemark.cpu / sums.rclone.cpu),
    });
    console.log(
      `| all | | ${fmt(sums.rclone.wall, 2)} s, ${fmt(sums.rclone.cpu, 2)} CPU-s | ${fmt(sums.tidemark.wall, 2)} s, ${fmt(sums.tidemark.cpu, 2)} CPU-s | **${fmt(sums.tidemark.wall / sums.rclone.wall, 2)}×** | **${fmt(sums.tidemark.cpu / sums.rclone.cpu, 2)}×** | |\n`,
    );
  } finally {
    await rgw.stop();
  }
}

// 2b: server-side copy allowed on both sides: plain `rclone copy` vs tidemark as configured.
{
  const rgw = await startRgw({ memstoreBytes: 8 * 1024 ** 3 });
  try {
    await seed(bucket(rgw, "bench-src"), files, PAR);
    const rows: string[] = [];
    for (let round = 1; round <= 2; round++) {
      const la = load();
      const order = round % 2 === 1 ? ["rclone", "tidemark"] : ["tidemark", "rclone"];
      const got: Record<string, Run> = {};
      for (const tool of order) {
        const name = `bench-ssc-${tool}-${round}`;
        const dst = bucket(rgw, name);
        got[tool] =
          tool === "rclone"
            ? rcloneRun(rgw, "bench-src", name, PAR, true)
            : tidemarkRun(rgw, "bench-src", name, PAR);
        await checkCopy(dst, files, tool !== "rclone");
      }
      const r = got.rclone as Run;
      const t = got.tidemark as Run;
      rows.push(
        `| ${round} | ${la} | ${cell(r)} | ${cell(t)} | **${fmt(t.wall / r.wall, 2)}×** | **${fmt(t.cpu / r.cpu, 2)}×** |`,
      );
    }
    console.log(
      "### 2b. The same copy with server-side copy allowed (plain `rclone copy`, its default between buckets of one endpoint)\n",
    );
    console.log(
      "tidemark probes the endpoint once and copies server-side only where a copy can be create-only; Ceph RGW 16 ignores `If-None-Match` on CopyObject, so tidemark streams here, while rclone copies without a condition.\n",
    );
    console.log(
      "| round | load avg (1 min) | `rclone copy` (server-side) | tidemark | wall ratio | CPU ratio |",
    );
    console.log("|---:|---:|---|---|---:|---:|");
    for (const row of rows) console.log(row);
    console.log();
  } finally {
    await rgw.stop();
  }
}

// 3: peak RSS for one 256 MiB file (processes), and the mirror's own buffering (memory stores).
{
  const rgw = await startRgw({ memstoreBytes: 6 * 1024 ** 3 });
  try {
    const big = [{ path: "data/big.bin", size: 256 * MiB }];
    await seed(bucket(rgw, "rss-src"), big, 1);
    console.log(
      "## 3. Peak RSS copying one 256 MiB file between two RGW buckets (whole process, /usr/bin/time)\n",
    );
    console.log(
      "Idle: the same command again once the copy is there (it loads everything, reads the source, finds nothing to copy).\n",
    );
    console.log(
      "| tool | run | load avg | peak RSS (MiB) | idle RSS (MiB) | **above idle (MiB)** | wall (s) | CPU-s |",
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    let n = 0;
    for (const [label, run] of [
      ["tidemark (`nodeHttpTransport`)", (d: string) => tidemarkRun(rgw, "rss-src", d, PAR)],
      ["tidemark (`nodeHttpTransport`)", (d: string) => tidemarkRun(rgw, "rss-src", d, PAR)],
      [
        "tidemark over `fetch`",
        (d: string) => tidemarkRun(rgw, "rss-src", d, PAR, { TIDEMARK_S3_TRANSPORT: "fetch" }),
      ],
      ["`rclone copy --disable copy`", (d: string) => rcloneRun(rgw, "rss-src", d, PAR, false)],
    ] as const) {
      const name = `rss-dst-${++n}`;
      const dst = bucket(rgw, name);
      const la = load();
      const copy = run(name);
      await checkCopy(dst, big, !label.startsWith("`rclone"));
      const idle = run(name);
      console.log(
        `| ${label} | ${n} | ${la} | ${fmt(copy.rssMiB)} | ${fmt(idle.rssMiB)} | **${fmt(copy.rssMiB - idle.rssMiB)}** | ${fmt(copy.wall, 2)} | ${fmt(copy.cpu, 2)} |`,
      );
    }
    console.log();
  } finally {
    await rgw.stop();
  }
  rssHeader();
  memoryRows();
}
