/**
 * Mirror benchmark, side by side in one run:
 *
 * 1. write-class requests per mirrored snapshot, 10,000 live files and 10 new
 *    per snapshot: tidemark's `Mirror` versus a faithful re-implementation of
 *    merutable's `mirror_snapshot` (put-if-absent of every live file, the
 *    manifest put-if-absent, low_water overwritten), on `metered` memory stores;
 * 2. (--rgw) streamed copies between two buckets of a fresh Ceph RGW, 8 at
 *    once: 200 × 1 MiB + 2 × 64 MiB (328 MiB) and 500 × 1 MiB + 4 × 64 MiB
 *    (756 MiB). Four tools, each as its own process under /usr/bin/time (wall
 *    time, CPU seconds, peak RSS): the floor (bench/bare-pipe.ts: no tidemark
 *    code), `rclone copy`, `tidemark mirror --once` (the built CLI on Node)
 *    and the same from source under Deno; rounds rotate the order, every
 *    ratio against the floor and against rclone; (`--profile`) one more copy
 *    of the first size by tidemark and the floor under `--cpu-prof`,
 *    summarised (bench/profile.ts); then (2b) with server-side copy allowed;
 * 3. peak RSS above idle copying one 256 MiB file: (--rgw) the CLI (Node,
 *    over fetch, under Deno) and rclone between two RGW buckets, and in a
 *    child process on memory stores (a generated source, a discarding target:
 *    the mirror's own buffering);
 * 4. (--workers) inside workerd, R2 → R2 under the worker's default per-alarm
 *    budget: alarms, files and bytes per alarm, catch-up time of a backlog
 *    (test/workers/mirror-throughput.test.ts prints the figures);
 * 5. (--rgw) start-up: an empty Node process, `tidemark --help`, and
 *    `tidemark mirror --once` between two buckets in sync, interleaved.
 *
 *   npx node bench/mirror.ts [--rgw] [--workers] [--profile]
 *     [--parts 2,2b,3,5] [--copy 328|756] [--rounds N] [--start-rounds N]
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
import { profileTables } from "./profile.ts";
import { headline, round } from "./result.ts";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
/** The value after `flag` (`--rounds 5`), if given. */
const argValue = (flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
/** With `--parts 2,5`: only those parts of the RGW section run (2, 2b, 3, 5). */
const parts = argValue("--parts")?.split(",");
const part = (name: string) => parts === undefined || parts.includes(name);

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
  stdout: string;
}

/** Runs a command under /usr/bin/time; its wall time, CPU seconds (user + system) and peak RSS. */
function timedRun(cmd: string, argv: string[], env: Record<string, string>): Run {
  const r = spawnSync("/usr/bin/time", ["-f", "TIMING %e %U %S %M", cmd, ...argv], {
    env,
    encoding: "utf8",
    maxBuffer: 1 << 24,
    timeout: 600_000, // a stalled run fails the benchmark, never hangs it
  });
  const m = /TIMING (\S+) (\S+) (\S+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${cmd} ${argv.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return {
    wall: Number(m[1]),
    cpu: Number(m[2]) + Number(m[3]),
    rssMiB: Number(m[4]) / 1024,
    stdout: r.stdout,
  };
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
  nodeFlags: string[] = [],
): Run {
  return timedRun(
    process.execPath,
    [...nodeFlags, bin, ...mirrorArgs(rgw, src, dst, par)],
    toolEnv(rgw, extra),
  );
}

/** The arguments of `tidemark mirror --once` between two buckets (JSON out: its request counts). */
function mirrorArgs(rgw: Rgw, src: string, dst: string, par: number): string[] {
  return [
    "mirror",
    "--from",
    s3url(rgw, src),
    "--to",
    s3url(rgw, dst),
    "--once",
    "--parallel",
    String(par),
    "--json",
  ];
}

/** The requests a `tidemark mirror --json` run reports (its metered stores: calls by billing class). */
function requestsOf(run: Run): string {
  const r = (JSON.parse(run.stdout) as { requests?: { read: number; write: number } }).requests;
  return r ? `${r.read + r.write} (${r.read} read-class, ${r.write} write/list-class)` : "?";
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

/**
 * The floor: bench/bare-pipe.ts compiled to plain JavaScript (esbuild strips
 * the types; TypeScript start-up would cost the floor ~0.04 CPU-s and 16 MiB
 * that the built CLI does not pay), `aws4` resolved from this checkout.
 */
const floorJs = await (async () => {
  const { transformSync } = await import("esbuild");
  const { mkdtempSync, readFileSync, writeFileSync } = await import("node:fs");
  const { createRequire } = await import("node:module");
  const { tmpdir } = await import("node:os");
  const { pathToFileURL } = await import("node:url");
  const aws4 = pathToFileURL(createRequire(import.meta.url).resolve("aws4")).href;
  const { code } = transformSync(readFileSync(`${here}bare-pipe.ts`, "utf8"), {
    loader: "ts",
    format: "esm",
    target: "node20",
  });
  const file = `${mkdtempSync(`${tmpdir()}/tidemark-floor-`)}/bare-pipe.mjs`;
  writeFileSync(file, code.replace(/from "aws4"/, `from ${JSON.stringify(aws4)}`));
  return file;
})();

/** The floor (bench/bare-pipe.ts) copying `src`'s data/ into `dst`. */
function floorRun(
  rgw: Rgw,
  src: string,
  dst: string,
  par: number,
  nodeFlags: string[] = [],
  extra: Record<string, string> = {},
): Run {
  return timedRun(
    process.execPath,
    [...nodeFlags, floorJs],
    toolEnv(rgw, {
      ...extra,
      FLOOR_ENDPOINT: rgw.endpoint,
      FLOOR_REGION: rgw.region,
      FLOOR_SRC: src,
      FLOOR_DST: dst,
      FLOOR_PREFIX: "data/",
      FLOOR_PARALLEL: String(par),
    }),
  );
}

const denoBin = `${here}../node_modules/.bin/deno`;

/** `tidemark mirror --once` under Deno, from source, as users run it there (`denoFlags` before the script). */
function denoRun(rgw: Rgw, src: string, dst: string, par: number, denoFlags: string[] = []): Run {
  return timedRun(
    denoBin,
    ["run", "-A", ...denoFlags, `${here}../src/cli/bin.ts`, ...mirrorArgs(rgw, src, dst, par)],
    toolEnv(rgw, { DENO_NO_UPDATE_CHECK: "1" }),
  );
}

/** Deletes every object of a checked copy: a memstore holds what it stores in RAM. */
async function emptyBucket(store: S3Store): Promise<void> {
  const keys: string[] = [];
  for await (const m of store.list("")) keys.push(m.key);
  const r = await store.deleteMany(keys);
  if (r.errors.length > 0) throw new Error(`emptying a bucket: ${JSON.stringify(r.errors[0])}`);
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
/** The copies of part 2 (`--copy 328` or `--copy 756` for one): 1 MiB files and 64 MiB ones. */
const ALL_COPIES = [
  { small: 200, large: 2 }, // 328 MiB: the copy of the floor issue
  { small: 500, large: 4 }, // 756 MiB
];
const copyArg = argValue("--copy");
const COPIES = ALL_COPIES.filter((c) => copyArg === undefined || String(c.small + 64 * c.large) === copyArg);
if (COPIES.length === 0) throw new Error(`--copy ${copyArg}: one of 328, 756`);
/** Rounds of part 2 (`--rounds N`, default 3). */
const ROUNDS = Number(argValue("--rounds") ?? 3);
const copyFiles = (c: { small: number; large: number }) => [
  ...Array.from({ length: c.small }, (_, i) => ({
    path: `data/small-${String(i).padStart(3, "0")}.parquet`,
    size: MiB,
  })),
  ...Array.from({ length: c.large }, (_, i) => ({ path: `data/large-${i}.parquet`, size: 64 * MiB })),
];
const files = copyFiles(ALL_COPIES[1] as { small: number; large: number });
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

// 2: streamed copies, side by side: the floor (a bare pipe), rclone, tidemark on Node, tidemark under Deno.
type Tool = "floor" | "rclone" | "tidemark" | "deno";
const TOOLS: Tool[] = ["floor", "rclone", "tidemark", "deno"];

/** One streamed copy of `src`'s data files into a fresh bucket `dst` by `tool`, as its own process. */
function copyRun(tool: Tool, rgw: Rgw, src: string, dst: string): Run {
  switch (tool) {
    case "floor":
      return floorRun(rgw, src, dst, PAR);
    case "rclone":
      return rcloneRun(rgw, src, dst, PAR, false);
    case "tidemark":
      return tidemarkRun(rgw, src, dst, PAR);
    case "deno":
      return denoRun(rgw, src, dst, PAR);
  }
}

/** min–max of `xs` with `d` decimals. */
const range = (xs: number[], d = 2) =>
  xs.length === 0 ? "–" : `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;

for (const copy of part("2") ? COPIES : []) {
  const files = copyFiles(copy);
  const total = files.reduce((a, f) => a + f.size, 0);
  // The source and about two copies at a time (each is deleted once checked;
  // RGW frees a big object's tail after its garbage-collection delay).
  const rgw = await startRgw({ memstoreBytes: Math.max(4 * 1024 ** 3, 8 * total) });
  try {
    await seed(bucket(rgw, "bench-src"), files, PAR);
    // Warm-up (page cache, Deno's transpile cache), not measured.
    for (const tool of TOOLS) {
      const name = `warm-${tool}`;
      const dst = bucket(rgw, name);
      copyRun(tool, rgw, "bench-src", name);
      await emptyBucket(dst);
    }
    const runs: Record<Tool, Run[]> = { floor: [], rclone: [], tidemark: [], deno: [] };
    const rows: string[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const la = load();
      // Each round starts with the next tool: no tool always gets the warmer (or fuller) cluster.
      const order = TOOLS.map((_, i) => TOOLS[(i + r - 1) % TOOLS.length] as Tool);
      const got = {} as Record<Tool, Run>;
      for (const tool of order) {
        const name = `copy-${tool}-${r}`;
        const dst = bucket(rgw, name);
        got[tool] = copyRun(tool, rgw, "bench-src", name);
        await checkCopy(dst, files, tool === "tidemark" || tool === "deno");
        await emptyBucket(dst);
        runs[tool].push(got[tool]);
      }
      const [f, c, t, d] = [got.floor, got.rclone, got.tidemark, got.deno];
      rows.push(
        `| ${r} | ${la} | ${order.map((x) => x.slice(0, 1)).join("")} | ${cell(f)} | ${cell(c)} | ${cell(t)} | ${cell(d)} | **${fmt(t.wall / f.wall, 2)}× / ${fmt(t.cpu / f.cpu, 2)}×** | ${fmt(t.wall / c.wall, 2)}× / ${fmt(t.cpu / c.cpu, 2)}× | ${fmt(f.wall / c.wall, 2)}× / ${fmt(f.cpu / c.cpu, 2)}× | **${fmt(d.rssMiB / t.rssMiB, 2)}×** / ${fmt(d.cpu / t.cpu, 2)}× |`,
      );
    }
    const ratios = (a: Tool, b: Tool, k: "wall" | "cpu" | "rssMiB") =>
      runs[a].map((x, i) => x[k] / (runs[b][i] as Run)[k]);
    const sum = (t: Tool, k: "wall" | "cpu") => runs[t].reduce((a, x) => a + x[k], 0);
    console.log(
      `## 2. ${files.length} files (${copy.small} × 1 MiB + ${copy.large} × 64 MiB = ${fmt(total / MiB, 0)} MiB) between two RGW buckets, ${PAR} at once, streamed\n`,
    );
    console.log(
      `Each cell: wall time, CPU seconds (user + system), peak RSS of the process. Floor: bench/bare-pipe.ts (no tidemark code: a listing, then GET piped into a create-only PUT over \`node:http\`, aws4 signatures, keep-alive); rclone: \`rclone copy --transfers ${PAR} --checkers ${PAR} --disable copy\`; tidemark: \`tidemark mirror --once --parallel ${PAR}\` (Node: dist/cli/bin.js; Deno: \`deno run -A src/cli/bin.ts\`). Order: the tools' initials in the order they ran.\n`,
    );
    console.log(
      "| round | load avg (1 min) | order | floor | rclone | tidemark (Node) | tidemark (Deno) | tidemark ÷ floor: wall / CPU | tidemark ÷ rclone: wall / CPU | floor ÷ rclone: wall / CPU | Deno ÷ Node: RSS / CPU |",
    );
    console.log("|---:|---:|---|---|---|---|---|---:|---:|---:|---:|");
    for (const row of rows) console.log(row);
    const allRatio = (a: Tool, b: Tool, k: "wall" | "cpu") => fmt(sum(a, k) / sum(b, k), 2);
    console.log(
      `| all | | | ${fmt(sum("floor", "wall"), 2)} s, ${fmt(sum("floor", "cpu"), 2)} CPU-s | ${fmt(sum("rclone", "wall"), 2)} s, ${fmt(sum("rclone", "cpu"), 2)} CPU-s | ${fmt(sum("tidemark", "wall"), 2)} s, ${fmt(sum("tidemark", "cpu"), 2)} CPU-s | ${fmt(sum("deno", "wall"), 2)} s, ${fmt(sum("deno", "cpu"), 2)} CPU-s | **${allRatio("tidemark", "floor", "wall")}× / ${allRatio("tidemark", "floor", "cpu")}×** | ${allRatio("tidemark", "rclone", "wall")}× / ${allRatio("tidemark", "rclone", "cpu")}× | ${allRatio("floor", "rclone", "wall")}× / ${allRatio("floor", "rclone", "cpu")}× | ${allRatio("deno", "tidemark", "cpu")}× CPU |`,
    );
    console.log(
      `\nRequests: tidemark ${requestsOf(runs.tidemark.at(-1) as Run)} (metered calls, the first copy to an empty bucket; ${files.length} GETs and ${files.length} PUTs of them are the files); the floor ${2 * files.length + 1} (one listing page, ${files.length} GETs, ${files.length} PUTs).`,
    );
    console.log(
      `\nRanges over the rounds: tidemark ÷ floor wall ${range(ratios("tidemark", "floor", "wall"))}× (goal ≤ 1.1×), CPU ${range(ratios("tidemark", "floor", "cpu"))}× (goal ≤ 1.25×); tidemark ÷ rclone wall ${range(ratios("tidemark", "rclone", "wall"))}×, CPU ${range(ratios("tidemark", "rclone", "cpu"))}×; Deno ÷ Node peak RSS ${range(ratios("deno", "tidemark", "rssMiB"))}× (goal ≤ 1.25×), CPU ${range(ratios("deno", "tidemark", "cpu"))}×.\n`,
    );
    if (args.includes("--profile") && copy === COPIES[0]) {
      // One more copy by each, under `--cpu-prof`: where tidemark's time goes, beside the floor's.
      const dir = (await import("node:fs")).mkdtempSync(
        `${(await import("node:os")).tmpdir()}/tidemark-prof-`,
      );
      const profiles: Record<string, string> = {};
      for (const tool of ["tidemark", "floor"] as const) {
        const name = `profile-${tool}`;
        const dst = bucket(rgw, name);
        const flags = ["--cpu-prof", `--cpu-prof-dir=${dir}/${tool}`];
        const run =
          tool === "tidemark"
            ? tidemarkRun(rgw, "bench-src", name, PAR, {}, flags)
            : floorRun(rgw, "bench-src", name, PAR, flags);
        await checkCopy(dst, files, tool === "tidemark");
        await emptyBucket(dst);
        const [file] = (await import("node:fs")).readdirSync(`${dir}/${tool}`);
        profiles[`${tool} (${fmt(run.cpu, 2)} CPU-s)`] = `${dir}/${tool}/${file}`;
      }
      console.log(
        `### Where the time goes: \`--cpu-prof\` of one more copy by each (${files.length} files; profiles in ${dir})\n`,
      );
      console.log(`${profileTables(profiles, files.length)}\n`);
    }
    if (args.includes("--profile") && copy === COPIES[0]) {
      // The floor again with 2.3 MB more live heap (as tidemark's modules make it), and
      // tidemark: V8's full collections (mark-compacts) counted from --trace-gc.
      const rows2: string[] = [];
      const KEEP = "32768"; // small objects: about 2.3 MB of live heap
      const variants = ["floor", "floor + 2.3 MB live heap", "tidemark"] as const;
      for (let r = 1; r <= ROUNDS; r++) {
        const cells: string[] = [];
        for (const v of variants.map(
          (_, i) => variants[(i + r - 1) % variants.length] as (typeof variants)[number],
        )) {
          const name = `gc-${r}-${v.length}`;
          const dst = bucket(rgw, name);
          const run =
            v === "tidemark"
              ? tidemarkRun(rgw, "bench-src", name, PAR, {}, ["--trace-gc"])
              : floorRun(
                  rgw,
                  "bench-src",
                  name,
                  PAR,
                  ["--trace-gc"],
                  v === "floor" ? {} : { FLOOR_RETAIN_OBJECTS: KEEP },
                );
          await checkCopy(dst, files, v === "tidemark");
          await emptyBucket(dst);
          const live = [...run.stdout.matchAll(/Mark-Compact[^>]*-> ([\d.]+) \(/g)].map((m) => Number(m[1]));
          cells[variants.indexOf(v)] =
            `${live.length} mark-compacts, live after them ${range(live, 1)} MB; ${fmt(run.cpu, 2)} CPU-s`;
        }
        rows2.push(`| ${r} | ${cells.join(" | ")} |`);
      }
      console.log(
        "### Garbage collection by live heap: V8 starts more full collections once the old generation holds more than about 8 MB (`--trace-gc`)\n",
      );
      console.log(`| round | ${variants.join(" | ")} |`);
      console.log(`|---:|${variants.map(() => "---").join("|")}|`);
      for (const row of rows2) console.log(row);
      console.log();
    }
    const tag = `${fmt(total / MiB, 0)} MiB copy`;
    headline({
      [`${tag}: tidemark ÷ floor wall (×)`]: round(sum("tidemark", "wall") / sum("floor", "wall")),
      [`${tag}: tidemark ÷ floor CPU (×)`]: round(sum("tidemark", "cpu") / sum("floor", "cpu")),
      [`${tag}: tidemark ÷ rclone wall (×)`]: round(sum("tidemark", "wall") / sum("rclone", "wall")),
      [`${tag}: tidemark ÷ rclone CPU (×)`]: round(sum("tidemark", "cpu") / sum("rclone", "cpu")),
      [`${tag}: Deno ÷ Node peak RSS (×)`]: round(
        Math.max(...runs.deno.map((x) => x.rssMiB)) / Math.max(...runs.tidemark.map((x) => x.rssMiB)),
      ),
    });
  } finally {
    await rgw.stop();
  }
}

// 2b: server-side copy allowed on both sides: plain `rclone copy` vs tidemark as configured.
if (part("2b")) {
  const rgw = await startRgw({ memstoreBytes: 6 * 1024 ** 3 });
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
        await emptyBucket(dst);
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
if (part("3")) {
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
      ["tidemark under Deno", (d: string) => denoRun(rgw, "rss-src", d, PAR)],
      [
        "tidemark under Deno, `--v8-flags=--max-semi-space-size=1`",
        (d: string) => denoRun(rgw, "rss-src", d, PAR, ["--v8-flags=--max-semi-space-size=1"]),
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

// 5: start-up: an empty Node process, `tidemark --help`, and `tidemark mirror --once` with nothing to copy.
if (part("5")) {
  const rgw = await startRgw({ memstoreBytes: 1024 ** 3 });
  try {
    await seed(bucket(rgw, "start-src"), [{ path: "data/one.parquet", size: MiB }], 1);
    bucket(rgw, "start-dst");
    tidemarkRun(rgw, "start-src", "start-dst", PAR); // the two buckets are in sync from now on
    const env = toolEnv(rgw);
    const kinds: Array<[string, () => Run]> = [
      ["empty Node process (`node -e 0`)", () => timedRun(process.execPath, ["-e", "0"], env)],
      ["`tidemark --help`", () => timedRun(process.execPath, [bin, "--help"], env)],
      [
        "`tidemark mirror --once`, nothing to copy (start, both sides' HEAD, exit)",
        () => tidemarkRun(rgw, "start-src", "start-dst", PAR),
      ],
    ];
    const N = Number(argValue("--start-rounds") ?? 10);
    const got = new Map<string, Run[]>(kinds.map(([k]) => [k, []]));
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < kinds.length; j++) {
        const [label, run] = kinds[(i + j) % kinds.length] as [string, () => Run];
        got.get(label)?.push(run());
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const empty = got.get(kinds[0]?.[0] as string) as Run[];
    const [emptyCpu, emptyRss] = [median(empty.map((x) => x.cpu)), median(empty.map((x) => x.rssMiB))];
    console.log(
      `## 5. Start-up (${N} runs each, interleaved; the built CLI, dist/; /usr/bin/time counts CPU in 0.01 s steps)\n`,
    );
    console.log(
      "| process | CPU-s, median (range) | peak RSS MiB, median (range) | **above the empty process: CPU-s, MiB** (goal ≤ 0.1, ≤ 25) | wall s, median |",
    );
    console.log("|---|---:|---:|---:|---:|");
    for (const [label] of kinds) {
      const runs = got.get(label) as Run[];
      const cpu = runs.map((x) => x.cpu);
      const rss = runs.map((x) => x.rssMiB);
      console.log(
        `| ${label} | ${fmt(median(cpu), 2)} (${range(cpu)}) | ${fmt(median(rss), 1)} (${range(rss, 1)}) | **${fmt(median(cpu) - emptyCpu, 2)}, ${fmt(median(rss) - emptyRss, 1)}** | ${fmt(median(runs.map((x) => x.wall)), 2)} |`,
      );
      if (label !== kinds[0]?.[0]) {
        headline({
          [`start-up above empty Node, CPU-s: ${label.split(",")[0]}`]: round(median(cpu) - emptyCpu),
          [`start-up above empty Node, MiB: ${label.split(",")[0]}`]: round(median(rss) - emptyRss, 1),
        });
      }
    }
    console.log();
  } finally {
    await rgw.stop();
  }
}
