/**
 * Mirror benchmark, side by side in one run:
 *
 * 1. write-class requests per mirrored snapshot, 10,000 live files and 10 new
 *    per snapshot: tidemark's `Mirror` versus a faithful re-implementation of
 *    merutable's `mirror_snapshot` (put-if-absent of every live file, the
 *    manifest put-if-absent, low_water overwritten), on `metered` memory stores;
 * 2. (--rgw) wall time to mirror 500 × 1 MiB + 4 × 64 MiB between two buckets
 *    of a fresh Ceph RGW: tidemark versus `rclone copy`, same parallelism (8),
 *    three rounds in alternating order; tidemark as configured by default (one
 *    listing of the target) and with one HEAD per file (`listThreshold: Infinity`);
 * 3. peak RSS above idle while mirroring one 256 MiB file, in a child process:
 *    memory mode (a generated source, a discarding target: the mirror's own
 *    buffering), and with --rgw between two RGW buckets, as Node runs by
 *    default and (labelled) with `--max-semi-space-size=1`.
 *
 *   npx node bench/mirror.ts [--rgw]
 */
import { spawnSync } from "node:child_process";
import {
  Catalog,
  decodeManifest,
  isTidemarkError,
  LOW_WATER_KEY,
  liveFiles,
  MemoryStore,
  Mirror,
  manifestKey,
  metered,
  mirrorSnapshot,
  type ObjectMeta,
  type ObjectStore,
  objectBody,
  S3Store,
  TidemarkError,
  verifyMirror,
} from "../src/index.ts";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);

// ---------------------------------------------------------------- child: RSS
if (args[0] === "--rss-child") {
  const mode = args[1];
  const size = Number(args[3] || 256) * MiB;
  let source: ObjectStore;
  let target: ObjectStore;
  if (mode === "rgw") {
    const c = JSON.parse(process.env.BENCH_S3 ?? "{}") as {
      endpoint: string;
      accessKeyId: string;
      secretAccessKey: string;
      region: string;
      src: string;
      dst: string;
    };
    source = new S3Store({ ...c, bucket: c.src, forcePathStyle: true });
    target = new S3Store({ ...c, bucket: c.dst, forcePathStyle: true });
  } else {
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
  mode: "memory" | "rgw",
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
  mode: "memory" | "rgw",
  sizeMiB: number,
  env: () => Record<string, string>,
  nodeFlags: string[] = [],
) {
  const natural = rssRun(mode, env(), nodeFlags, sizeMiB);
  const live = rssRun(mode, { ...env(), BENCH_FORCE_GC: "1" }, nodeFlags, sizeMiB);
  const above = (x: RssResult) => fmt((x.peak - x.idle) / MiB);
  console.log(
    `| ${label} | ${fmt(sizeMiB, 0)} MiB | ${fmt(natural.idle / MiB)} | **${above(natural)}** | **${above(live)}** | ${fmt(live.heap / MiB)} | ${fmt(natural.seconds, 2)} |`,
  );
}

const rssHeader = () => {
  console.log("## 3. Peak RSS while mirroring one big file (child processes, RSS sampled every 5 ms)\n");
  console.log(
    "| stores | file | idle RSS (MiB) | peak RSS above idle, as Node runs (MiB) | peak RSS above idle, GC before each sample (MiB) | live JS heap + ArrayBuffers above idle (MiB) | seconds |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
};

const memoryRows = () => {
  rssRow("memory (generated source, discarding target)", "memory", 256, () => ({}));
  // 4× the bytes: the live peak does not grow with the file.
  rssRow("memory (generated source, discarding target)", "memory", 1024, () => ({}));
};

if (!args.includes("--rgw")) {
  rssHeader();
  memoryRows();
  process.exit(0);
}

// ---------------------------------------------------------------- 2 + 3 on RGW
const { startRgw, createBucket } = await import("../test/services/rgw.ts");
const rgw = await startRgw({ memstoreBytes: 12 * 1024 ** 3 });
try {
  const conn = {
    endpoint: rgw.endpoint,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
  };
  const s3 = (bucket: string, fetchOpt = {}) =>
    new S3Store({ ...conn, bucket, forcePathStyle: true, ...fetchOpt });
  const bucket = (name: string) => {
    createBucket(rgw, name);
    return s3(name);
  };
  const PAR = 8;
  const files = [
    ...Array.from({ length: 500 }, (_, i) => ({
      path: `data/small-${String(i).padStart(3, "0")}.parquet`,
      size: MiB,
    })),
    ...Array.from({ length: 4 }, (_, i) => ({ path: `data/large-${i}.parquet`, size: 64 * MiB })),
  ];
  const total = files.reduce((a, f) => a + f.size, 0);
  const src = bucket("bench-src");
  {
    let next = 0;
    const chunk = new Uint8Array(MiB);
    await Promise.all(
      Array.from({ length: PAR }, async () => {
        while (next < files.length) {
          const f = files[next++] as { path: string; size: number };
          let sent = 0;
          const stream = new ReadableStream<Uint8Array>({
            pull(c) {
              if (sent >= f.size) return c.close();
              const b = chunk.slice();
              b[0] = next & 0xff;
              b[1] = sent >>> 20;
              sent += b.length;
              c.enqueue(b);
            },
          });
          await src.put(f.path, stream, { size: f.size });
        }
      }),
    );
    await commitFiles(src, files);
  }

  const rcloneEnv: Record<string, string> = {};
  for (const name of ["SRC", "DST"]) {
    Object.assign(rcloneEnv, {
      [`RCLONE_CONFIG_${name}_TYPE`]: "s3",
      [`RCLONE_CONFIG_${name}_PROVIDER`]: "Ceph",
      [`RCLONE_CONFIG_${name}_ENDPOINT`]: rgw.endpoint,
      [`RCLONE_CONFIG_${name}_ACCESS_KEY_ID`]: rgw.accessKeyId,
      [`RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY`]: rgw.secretAccessKey,
      [`RCLONE_CONFIG_${name}_FORCE_PATH_STYLE`]: "true",
      [`RCLONE_CONFIG_${name}_REGION`]: rgw.region,
    });
  }
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...rcloneEnv };
  delete env.AWS_CA_BUNDLE; // breaks rclone here (TOOLCHAIN.md)

  const results: Array<{ round: number; tool: string; seconds: number }> = [];
  const ROUNDS = 3;
  for (let round = 1; round <= ROUNDS; round++) {
    // The order alternates: no tool always gets the warmer (or fuller) cluster.
    const tools = ["rclone", "tidemark", "tidemark-head"];
    const order = round % 2 === 1 ? tools : [...tools].reverse();
    for (const tool of order) {
      const name = `bench-${tool}-${round}`;
      const dst = bucket(name);
      const t0 = performance.now();
      if (tool === "rclone") {
        const r = spawnSync(
          "rclone",
          [
            "copy",
            "SRC:bench-src/data",
            `DST:${name}/data`,
            "--transfers",
            String(PAR),
            "--checkers",
            String(PAR),
          ],
          { env, encoding: "utf8" },
        );
        if (r.status !== 0) throw new Error(`rclone copy failed: ${r.stderr}`);
      } else {
        const m = new Mirror({
          source: s3("bench-src"),
          target: s3(name),
          parallelism: PAR,
          // "tidemark-head": the per-file HEAD path, for comparison with the listing.
          ...(tool === "tidemark-head" ? { listThreshold: Number.POSITIVE_INFINITY } : {}),
        });
        await m.tick();
        const st = m.status();
        if (st.mirrorSeq !== 1 || st.lastError)
          throw new Error(`mirror failed: ${JSON.stringify(st.lastError)}`);
      }
      const seconds = (performance.now() - t0) / 1000;
      // A full memstore drops writes silently: check that everything landed.
      if (tool !== "rclone") {
        const v = await verifyMirror(dst);
        if (!v.ok) throw new TidemarkError("Corrupt", `mirror incomplete: ${JSON.stringify(v)}`);
      } else {
        for (const f of files) {
          if ((await dst.head(f.path)).size !== f.size) throw new Error(`rclone copy: ${f.path} wrong size`);
        }
      }
      results.push({ round, tool, seconds });
    }
  }
  console.log(
    `## 2. Wall time, ${files.length} files (500 × 1 MiB + 4 × 64 MiB = ${fmt(total / MiB, 0)} MiB) between two RGW buckets, parallelism ${PAR}\n`,
  );
  console.log(
    "| round | `rclone copy` (s) | tidemark `Mirror` (s) | ratio | tidemark, one HEAD per file (s) | ratio |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|");
  for (let round = 1; round <= ROUNDS; round++) {
    const get = (tool: string) =>
      results.find((x) => x.round === round && x.tool === tool)?.seconds ?? Number.NaN;
    const r = get("rclone");
    const t = get("tidemark");
    const n = get("tidemark-head");
    console.log(
      `| ${round} | ${fmt(r, 2)} | ${fmt(t, 2)} | **${fmt(t / r, 2)}×** | ${fmt(n, 2)} | **${fmt(n / r, 2)}×** |`,
    );
  }
  console.log();

  // 3 on RGW: a 256 MiB file in a fresh pair of buckets.
  const big = bucket("bench-rss-src");
  {
    let sent = 0;
    const size = 256 * MiB;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= size) return c.close();
        const b = new Uint8Array(MiB);
        b[0] = sent >>> 20;
        sent += MiB;
        c.enqueue(b);
      },
    });
    await big.put("data/big.bin", stream, { size });
    await commitFiles(big, [{ path: "data/big.bin", size }]);
  }
  rssHeader();
  memoryRows();
  let dst = 0;
  const rgwEnv = () => {
    const name = `bench-rss-dst-${++dst}`;
    bucket(name);
    return { BENCH_S3: JSON.stringify({ ...conn, src: "bench-rss-src", dst: name }) };
  };
  rssRow("RGW → RGW", "rgw", 256, rgwEnv);
  rssRow("RGW → RGW", "rgw", 256, rgwEnv);
  // Not the default: a smaller young generation, so the socket buffers (young
  // ArrayBuffers) are freed by frequent scavenges. Shown for the record only.
  rssRow("RGW → RGW, node `--max-semi-space-size=1` (GC flag)", "rgw", 256, rgwEnv, [
    "--max-semi-space-size=1",
  ]);
} finally {
  await rgw.stop();
}
