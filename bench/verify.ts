/**
 * Deep verification, and what recording checksums costs a mirror, side by
 * side in one run (each tool a process of its own under /usr/bin/time: wall
 * time, user + system CPU, peak RSS; rounds alternate their order):
 *
 * 1. deep verification of a mirror (a merutable table of Parquet files,
 *    `--gib` GiB, in 4 versions) in a directory: `tidemark verify --deep
 *    --all` against `sha256sum` over the same files; peak RSS above idle
 *    (idle: the same command on an empty table), and the live memory it
 *    holds (in a child with a GC before each sample);
 * 2. (--rgw) the same mirror in a Ceph RGW bucket: `tidemark verify --deep
 *    --all` against `rclone check --download` of the directory against the
 *    bucket;
 * 3. the CPU recording checksums adds to a mirror copy: `tidemark mirror
 *    --once` of the same table by this tree's CLI and by the CLI of
 *    `--baseline` (the commit before mirrors recorded checksums), directory
 *    to directory, and (--rgw) bucket to bucket (`--rgw-gib` GiB).
 *
 *   npx node bench/verify.ts [--rgw] [--gib 1] [--rgw-gib 0.25] [--rounds 3] [--baseline REF]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parquetWriteBuffer } from "hyparquet-writer";
import { Catalog } from "../src/catalog/catalog.ts";
import type { DataFileInput } from "../src/catalog/commit.ts";
import { checkTableSchema, schemaJson, type TableSchema } from "../src/catalog/schema.ts";
import { FileStore } from "../src/node/fs-store.ts";
import { encodeUserKey, internalKey } from "../src/rows/ikey.ts";
import { headline, round } from "./result.ts";

// ------------------------------------------------------------------ child: live memory
if (process.argv[2] === "--live-child") {
  const { verifyMirror } = await import("../src/mirror/reader.ts");
  const { nodeSha256 } = await import("../src/node/sha256.ts");
  const gc = (globalThis as { gc?: () => void }).gc as () => void;
  const live = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const idle = live();
  let peak = idle;
  const sampler = setInterval(() => {
    peak = Math.max(peak, live());
  }, 5);
  const r = await verifyMirror(new FileStore(process.argv[3] as string), {
    deep: true,
    all: true,
    sha256: nodeSha256,
  });
  clearInterval(sampler);
  console.log(JSON.stringify({ live: peak - idle, status: r.status }));
  process.exit(0);
}

const { values: args } = parseArgs({
  options: {
    rgw: { type: "boolean", default: false },
    gib: { type: "string", default: "1" },
    "rgw-gib": { type: "string", default: "0.25" },
    rounds: { type: "string", default: "3" },
    // The commit that made the mirror's and restore's copy one module, right before checksums.
    baseline: { type: "string", default: "011542c" },
  },
});
const MiB = 1024 * 1024;
const ROUNDS = Number(args.rounds);
const here = join(import.meta.dirname, "..");
const cli = join(here, "src", "cli", "bin.ts");
const work = mkdtempSync(join(tmpdir(), "tidemark-bench-verify-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const fmt = (n: number, d = 2) =>
  n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const load = () => loadavg()[0]?.toFixed(2) ?? "?";

const SCHEMA: TableSchema = {
  table_name: "bench",
  columns: [
    { name: "id", col_type: "Int64", nullable: false, field_id: 1 },
    { name: "payload", col_type: "ByteArray", nullable: false, field_id: 2 },
  ],
  primary_key: [0],
  schema_id: 0,
  last_column_id: 2,
};

/** A merutable data file of `rows` rows (1 KiB random payloads, 4 row groups), keys from `first`. */
function dataFile(first: number, rows: number): { bytes: Uint8Array; entry: Omit<DataFileInput, "path"> } {
  const PAY = 1024;
  const block = new Uint8Array(rows * PAY);
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  const keys = Array.from({ length: rows }, (_, i) => encodeUserKey([BigInt(first + i)], SCHEMA));
  const buffer = parquetWriteBuffer({
    columnData: [
      {
        name: "_merutable_ikey",
        type: "BYTE_ARRAY",
        nullable: false,
        data: keys.map((k, i) => internalKey(k, BigInt(first + i), 1)),
      },
      {
        name: "_merutable_seq",
        type: "INT64",
        nullable: false,
        data: keys.map((_, i) => BigInt(first + i)),
      },
      { name: "_merutable_op", type: "INT32", nullable: false, data: keys.map(() => 1) },
      { name: "id", type: "INT64", nullable: false, data: keys.map((_, i) => BigInt(first + i)) },
      {
        name: "payload",
        type: "BYTE_ARRAY",
        nullable: false,
        data: keys.map((_, i) => block.subarray(i * PAY, (i + 1) * PAY)),
      },
    ],
    codec: "UNCOMPRESSED",
    rowGroupSize: Math.ceil(rows / 4),
    kvMetadata: [{ key: "merutable.schema", value: schemaJson(checkTableSchema(SCHEMA)) }],
  });
  return {
    bytes: new Uint8Array(buffer),
    entry: {
      fileSize: buffer.byteLength,
      numRows: rows,
      level: 0,
      seqMin: BigInt(first),
      seqMax: BigInt(first + rows - 1),
      keyMin: keys[0] as Uint8Array,
      keyMax: keys[rows - 1] as Uint8Array,
    },
  };
}

/** A table of about `gib` GiB in `dir` (16 MiB files, in 4 versions). */
async function writeTable(dir: string, gib: number): Promise<{ files: number; bytes: number }> {
  const store = new FileStore(dir, { durable: false });
  const catalog = await Catalog.open(store, { schema: SCHEMA });
  const ROWS = 16_000; // 16 MiB
  const count = Math.max(4, Math.round((gib * 1024) / 16));
  let bytes = 0;
  let n = 0;
  for (let v = 0; v < 4; v++) {
    const add: DataFileInput[] = [];
    for (let i = 0; i < count / 4; i++, n++) {
      const f = dataFile(n * ROWS + 1, ROWS);
      const path = `data/L0/${String(n).padStart(4, "0")}.parquet`;
      await store.put(path, f.bytes);
      bytes += f.bytes.length;
      add.push({ path, ...f.entry });
    }
    await catalog.commit({ add });
  }
  return { files: n, bytes };
}

interface Run {
  wall: number;
  cpu: number;
  rssMiB: number;
  code: number;
}

/** A command under /usr/bin/time: wall seconds, CPU seconds (user + system), peak RSS, exit code. */
function timed(cmd: string, argv: string[], env: Record<string, string> = {}, okCodes = [0]): Run {
  const r = spawnSync("/usr/bin/time", ["-f", "TIMING %e %U %S %M", cmd, ...argv], {
    env: { ...(process.env as Record<string, string>), ...env },
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const m = /TIMING (\S+) (\S+) (\S+) (\d+)\s*$/.exec(r.stderr);
  if (!m || !okCodes.includes(r.status ?? -1)) {
    throw new Error(
      `${cmd} ${argv.join(" ")} failed (${r.status}): ${r.stdout.slice(-1000)} ${r.stderr.slice(-2000)}`,
    );
  }
  return {
    wall: Number(m[1]),
    cpu: Number(m[2]) + Number(m[3]),
    rssMiB: Number(m[4]) / 1024,
    code: r.status ?? -1,
  };
}

const node = (script: string, argv: string[], env: Record<string, string> = {}, okCodes = [0]) =>
  timed(process.execPath, [script, ...argv], env, okCodes);
const cell = (x: Run) => `${fmt(x.wall)} s, ${fmt(x.cpu)} CPU-s, ${fmt(x.rssMiB, 0)} MiB`;

/** Every file of the mirror that deep verification reads: data files and manifests. */
function mirrorFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ["data/L0", "metadata"]) {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      if (sub === "metadata" && !name.endsWith(".manifest.bin")) continue;
      out.push(join(dir, sub, name));
    }
  }
  return out;
}

// ------------------------------------------------------------------ the table and its mirror
const gib = Number(args.gib);
const source = join(work, "source");
const mirror = join(work, "mirror");
const empty = join(work, "empty");
mkdirSync(empty);
const t0 = performance.now();
const table = await writeTable(source, gib);
console.log(
  `table: ${table.files} Parquet files, ${fmt(table.bytes / MiB, 0)} MiB, written in ${fmt((performance.now() - t0) / 1000, 1)} s; load ${load()}\n`,
);
node(cli, ["mirror", "--from", source, "--to", mirror, "--once"]);

// ------------------------------------------------------------------ 1: directory, against sha256sum
{
  const files = mirrorFiles(mirror);
  const rows: string[] = [];
  const sums = { tidemark: { wall: 0, cpu: 0, rss: 0 }, sha256sum: { wall: 0, cpu: 0, rss: 0 } };
  const idle = node(cli, ["verify", empty, "--deep"]);
  for (let r = 1; r <= ROUNDS; r++) {
    const la = load();
    const order = r % 2 === 1 ? ["sha256sum", "tidemark"] : ["tidemark", "sha256sum"];
    const got: Record<string, Run> = {};
    for (const tool of order) {
      got[tool] =
        tool === "sha256sum"
          ? timed("sha256sum", files)
          : node(cli, ["verify", mirror, "--deep", "--all", "--json"]);
    }
    const t = got.tidemark as Run;
    const s = got.sha256sum as Run;
    for (const [k, x] of [
      ["tidemark", t],
      ["sha256sum", s],
    ] as const) {
      sums[k].wall += x.wall;
      sums[k].cpu += x.cpu;
      sums[k].rss = Math.max(sums[k].rss, x.rssMiB);
    }
    rows.push(
      `| ${r} | ${la} | ${cell(s)} | ${cell(t)} | **${fmt(t.wall / s.wall)}×** | ${fmt(t.cpu / s.cpu)}× | **${fmt(t.rssMiB - idle.rssMiB, 0)}** |`,
    );
  }
  console.log(
    `## 1. Deep verification of a ${fmt(table.bytes / MiB, 0)} MiB mirror in a directory (${table.files} files, 4 versions), against sha256sum\n`,
  );
  console.log(
    `Each cell: wall time, CPU seconds (user + system), peak RSS. tidemark: \`tidemark verify DIR --deep --all --json\` (every file hashed with node:crypto, Parquet footers, keys, manifests); \`sha256sum\` over the same data files and manifests. Idle: the same tidemark command on an empty table, ${fmt(idle.rssMiB, 0)} MiB.\n`,
  );
  console.log(
    "| round | load avg (1 min) | `sha256sum` | `tidemark verify --deep` | wall ratio | CPU ratio | tidemark peak RSS above idle (MiB) |",
  );
  console.log("|---|---|---|---|---:|---:|---:|");
  for (const row of rows) console.log(row);
  const ratio = sums.tidemark.wall / sums.sha256sum.wall;
  console.log(
    `| all | | ${fmt(sums.sha256sum.wall)} s, ${fmt(sums.sha256sum.cpu)} CPU-s | ${fmt(sums.tidemark.wall)} s, ${fmt(sums.tidemark.cpu)} CPU-s | **${fmt(ratio)}×** | ${fmt(sums.tidemark.cpu / sums.sha256sum.cpu)}× | |\n`,
  );
  const child = spawnSync(process.execPath, ["--expose-gc", import.meta.filename, "--live-child", mirror], {
    encoding: "utf8",
  });
  const liveMiB = (JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as { live: number }).live / MiB;
  console.log(
    `Live memory of the same deep verification in-process (JS heap + ArrayBuffers above idle, a GC before each 5 ms sample): **${fmt(liveMiB, 1)} MiB**.\n`,
  );
  headline({
    "deep verify vs sha256sum: wall ratio": round(ratio),
    "deep verify: MiB/s": round(((table.bytes / MiB) * ROUNDS) / sums.tidemark.wall, 0),
    "deep verify: peak RSS above idle (MiB)": round(sums.tidemark.rss - idle.rssMiB, 0),
    "deep verify: live memory (MiB)": round(liveMiB, 1),
  });
}

// ------------------------------------------------------------------ 3a: mirror CPU, directory to directory
/** The CLI of `ref` (src/ and package.json from git), sharing this tree's node_modules. */
function baselineCli(ref: string): string {
  const dir = join(work, "baseline");
  mkdirSync(dir);
  const archive = spawnSync("git", ["-C", here, "archive", "--format=tar", ref, "src", "package.json"], {
    maxBuffer: 1 << 28,
  });
  if (archive.status !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr}`);
  const tar = join(work, "baseline.tar");
  writeFileSync(tar, archive.stdout);
  const x = spawnSync("tar", ["-xf", tar, "-C", dir]);
  if (x.status !== 0) throw new Error(`tar failed: ${x.stderr}`);
  symlinkSync(join(here, "node_modules"), join(dir, "node_modules"));
  return join(dir, "src", "cli", "bin.ts");
}
const baseline = baselineCli(args.baseline as string);

/** Alternating rounds of `run(cli, round)` for this tree's CLI and the baseline's; prints the table. */
function mirrorCpu(title: string, run: (script: string, name: string) => Run, bytes: number): number {
  const rows: string[] = [];
  const sums = { now: 0, base: 0, nowWall: 0, baseWall: 0 };
  for (let r = 1; r <= ROUNDS; r++) {
    const la = load();
    const order = r % 2 === 1 ? ["base", "now"] : ["now", "base"];
    const got: Record<string, Run> = {};
    for (const which of order) got[which] = run(which === "now" ? cli : baseline, `${which}-${r}`);
    const n = got.now as Run;
    const b = got.base as Run;
    sums.now += n.cpu;
    sums.base += b.cpu;
    sums.nowWall += n.wall;
    sums.baseWall += b.wall;
    rows.push(
      `| ${r} | ${la} | ${cell(b)} | ${cell(n)} | **${fmt((n.cpu / b.cpu - 1) * 100, 1)}%** | ${fmt((n.wall / b.wall - 1) * 100, 1)}% |`,
    );
  }
  console.log(`## ${title} (${fmt(bytes / MiB, 0)} MiB)\n`);
  console.log(
    `\`tidemark mirror --once\` by this tree's CLI (records checksums: node:crypto SHA-256 as the bytes stream, the per-version record) and by the CLI of \`${args.baseline}\` (before checksums), alternating.\n`,
  );
  console.log("| round | load avg (1 min) | before checksums | with checksums | CPU added | wall added |");
  console.log("|---|---|---|---|---:|---:|");
  for (const row of rows) console.log(row);
  const added = (sums.now / sums.base - 1) * 100;
  console.log(
    `| all | | ${fmt(sums.base)} CPU-s | ${fmt(sums.now)} CPU-s | **${fmt(added, 1)}%** | ${fmt((sums.nowWall / sums.baseWall - 1) * 100, 1)}% |\n`,
  );
  return added;
}

{
  const added = mirrorCpu(
    "3a. CPU recording checksums adds to a mirror copy, directory to directory",
    (script, name) => {
      const to = join(work, `copy-${name}`);
      const r = node(script, ["mirror", "--from", source, "--to", to, "--once"]);
      rmSync(to, { recursive: true, force: true });
      return r;
    },
    table.bytes,
  );
  headline({ "mirror CPU added by checksums, directories (%)": round(added, 1) });
}

if (!args.rgw) process.exit(0);

// ------------------------------------------------------------------ on Ceph RGW: 2 and 3b
const { startRgw, createBucket } = await import("../test/services/rgw.ts");
const rgw = await startRgw({ memstoreBytes: 12 * 1024 ** 3 });
try {
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_REGION: rgw.region,
    RCLONE_CONFIG_RGW_TYPE: "s3",
    RCLONE_CONFIG_RGW_PROVIDER: "Ceph",
    RCLONE_CONFIG_RGW_ENDPOINT: rgw.endpoint,
    RCLONE_CONFIG_RGW_ACCESS_KEY_ID: rgw.accessKeyId,
    RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    RCLONE_CONFIG_RGW_FORCE_PATH_STYLE: "true",
    RCLONE_CONFIG_RGW_REGION: rgw.region,
  };
  const unset = { AWS_CA_BUNDLE: "" }; // breaks rclone here (LoadCustomCABundleError)
  const url = (bucket: string) =>
    `s3://${bucket}?endpoint=${encodeURIComponent(rgw.endpoint)}&path-style=true`;
  createBucket(rgw, "bench-mirror");
  node(cli, ["mirror", "--from", source, "--to", url("bench-mirror"), "--once"], env);

  // 2: deep verification of the bucket against rclone check --download
  const rows: string[] = [];
  const sums = { tidemark: 0, rclone: 0 };
  for (let r = 1; r <= ROUNDS; r++) {
    const la = load();
    const order = r % 2 === 1 ? ["rclone", "tidemark"] : ["tidemark", "rclone"];
    const got: Record<string, Run> = {};
    for (const tool of order) {
      got[tool] =
        tool === "rclone"
          ? timed(
              "env",
              [
                "-u",
                "AWS_CA_BUNDLE",
                "rclone",
                "check",
                "--download",
                "--checkers",
                "4",
                "--exclude",
                ".tidemark-*/**",
                mirror,
                "RGW:bench-mirror",
              ],
              { ...env, ...unset },
            )
          : node(cli, ["verify", url("bench-mirror"), "--deep", "--all", "--json"], env);
    }
    const t = got.tidemark as Run;
    const c = got.rclone as Run;
    sums.tidemark += t.wall;
    sums.rclone += c.wall;
    rows.push(
      `| ${r} | ${la} | ${cell(c)} | ${cell(t)} | **${fmt(t.wall / c.wall)}×** | ${fmt(t.cpu / c.cpu)}× |`,
    );
  }
  console.log(
    `## 2. Deep verification of the same mirror in a Ceph RGW bucket, against rclone check --download\n`,
  );
  console.log(
    "tidemark: `tidemark verify s3://bench-mirror --deep --all --json`; rclone: `rclone check --download --checkers 4 DIR RGW:bench-mirror` (the directory mirror against the bucket, both read whole and compared byte by byte).\n",
  );
  console.log(
    "| round | load avg (1 min) | `rclone check --download` | `tidemark verify --deep` | wall ratio | CPU ratio |",
  );
  console.log("|---|---|---|---|---:|---:|");
  for (const row of rows) console.log(row);
  console.log(
    `| all | | ${fmt(sums.rclone)} s | ${fmt(sums.tidemark)} s | **${fmt(sums.tidemark / sums.rclone)}×** | |\n`,
  );
  headline({
    "deep verify vs rclone check --download on RGW: wall ratio": round(sums.tidemark / sums.rclone),
  });

  // 3b: mirror CPU, bucket to bucket (a smaller table: RGW's memstore keeps every copy in memory)
  const small = join(work, "small");
  const smallTable = await writeTable(small, Number(args["rgw-gib"]));
  createBucket(rgw, "bench-source");
  node(cli, ["mirror", "--from", small, "--to", url("bench-source"), "--once"], env);
  const added = mirrorCpu(
    "3b. CPU recording checksums adds to a mirror copy, RGW bucket to RGW bucket",
    (script, name) => {
      const bucket = `bench-${name}`;
      createBucket(rgw, bucket);
      return node(script, ["mirror", "--from", url("bench-source"), "--to", url(bucket), "--once"], env);
    },
    smallTable.bytes,
  );
  headline({ "mirror CPU added by checksums, RGW (%)": round(added, 1) });
} finally {
  await rgw.stop();
}
