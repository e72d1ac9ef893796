/**
 * `npm run bench`: every benchmark in bench/, one after another, each as a
 * child process printing what it prints when run alone, then one summary:
 * per benchmark its status (ok, failed, skipped with the reason), wall time
 * and the headline figures it reported (bench/result.ts).
 *
 *   npm run bench [-- --quick] [-- --only mirror,posix] [-- --json]
 *
 * --quick  each benchmark's small settings (listed in BENCHES), so the whole
 *          run takes a few minutes; without it, the commands BENCHMARKS.md
 *          gives (mirror against Ceph RGW and rclone, and inside workerd).
 * --only   a comma-separated list of benchmark names.
 * --json   the summary as JSON on stdout (the benchmarks' output goes to stderr).
 *
 * A benchmark whose tools are not installed is skipped, naming them; with
 * CI=true that is a failure. Services are the benchmarks' own business
 * (mirror.ts --rgw starts a fresh Ceph RGW per part), not this runner's.
 * Exit status: 0 all ran (or were skipped), 1 one failed, 2 a usage error.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { missingCommands, missingRgwBinaries } from "../test/services/rgw.ts";
import { interopPython } from "../test/support/interop.ts";
import { type Figures, RESULT_ENV } from "./result.ts";

interface Bench {
  /** bench/<name>.ts */
  name: string;
  /** Arguments of the full run: the command of its BENCHMARKS.md section. */
  full: string[];
  /** Arguments of `--quick`. */
  quick: string[];
  /** What a run with `args` needs that is not installed (package names); none if nothing. */
  missing?: (args: string[]) => string[];
}

const BENCHES: Bench[] = [
  // A few seconds (it npm-installs @aws-sdk/client-s3 into a temp directory to compare).
  { name: "bundle", full: [], quick: [] },
  // The 100,000-entry manifest takes ~20 s and 1.6 GB; 10,000 entries a few seconds.
  { name: "catalog", full: [], quick: ["--entries", "10000"] },
  // Request counts on memory stores: under a second.
  { name: "checkpoint", full: [], quick: [] },
  {
    name: "mirror",
    full: ["--rgw", "--workers"],
    // Parts 1 and 3 on memory stores (~25 s); --rgw copies 756 MiB several times.
    quick: [],
    missing: (args) =>
      args.includes("--rgw")
        ? [...missingRgwBinaries(), ...missingCommands({ rclone: "rclone", "/usr/bin/time": "time" })]
        : [],
  },
  // Memory stores, 200 versions by default: under a second, so --quick keeps the default.
  { name: "posix", full: [], quick: [] },
  // A 1,000-version table with steady compaction, two mirrors (memory stores): about 4 s; 300 in --quick.
  { name: "retention", full: [], quick: ["--versions", "300"] },
  // An Iceberg view of a 1,000-version table, from scratch and per version (memory stores; ~1 minute); 200 versions in --quick.
  { name: "iceberg", full: [], quick: ["--versions", "200"] },
  // A 1,000,000-row table written by pyarrow, read against DuckDB (~2 minutes); 100,000 rows, 1 round, ~10 s.
  {
    name: "rows",
    full: [],
    quick: ["--rows", "100000", "--rounds", "1"],
    missing: () => (interopPython() === undefined ? ["pyarrow", "duckdb"] : []),
  },
  // Inside workerd; bursts of 100 tables by default.
  { name: "workers", full: [], quick: ["--tables", "10"] },
  // Deep verification of a 1 GiB mirror against sha256sum (and rclone on RGW), the CPU checksums add
  // to a mirror copy (this tree's CLI against the one before checksums): ~15 minutes; 128 MiB, 1 round.
  {
    name: "verify",
    full: ["--rgw"],
    quick: ["--gib", "0.125", "--rounds", "1"],
    missing: (args) => [
      ...missingCommands({ sha256sum: "coreutils", "/usr/bin/time": "time", git: "git" }),
      ...(args.includes("--rgw") ? [...missingRgwBinaries(), ...missingCommands({ rclone: "rclone" })] : []),
    ],
  },
];

const USAGE = `usage: npm run bench [-- --quick] [-- --only NAME[,NAME...]] [-- --json]
benchmarks: ${BENCHES.map((b) => b.name).join(", ")}`;

/** A usage error: the message and the usage, exit 2. */
function usage(message: string): never {
  console.error(`bench/run.ts: ${message}\n${USAGE}`);
  process.exit(2);
}

let values: { quick?: boolean; only?: string; json?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  usage((e as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const here = import.meta.dirname;
// Every script in bench/ is a benchmark this runner knows, so none is left out silently.
// Not benchmarks: the runner, the figures helper, the profiler, and the child processes benchmarks spawn.
const helpers = new Set(["run.ts", "result.ts", "profile.ts", "bare-pipe.ts", "rows-read.ts"]);
for (const f of readdirSync(here)) {
  if (f.endsWith(".ts") && !helpers.has(f) && !BENCHES.some((b) => `${b.name}.ts` === f)) {
    usage(`bench/${f} is not in the list of bench/run.ts (BENCHES): add it there`);
  }
}

let selected = BENCHES;
if (values.only !== undefined) {
  const names = values.only
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  if (names.length === 0) usage("--only needs at least one benchmark name");
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    usage(`unknown benchmark${unknown.length > 1 ? "s" : ""} in --only: ${unknown.join(", ")}`);
  }
  selected = BENCHES.filter((b) => names.includes(b.name));
}

const quick = values.quick === true;
const json = values.json === true;
const ci = process.env.CI === "true";

interface Outcome {
  name: string;
  command: string;
  status: "ok" | "failed" | "skipped";
  reason?: string;
  seconds: number;
  figures: Figures;
}

/** Runs one benchmark as a child (stdout to ours, or to stderr under --json); its exit code. */
function runChild(script: string, args: string[], resultFile: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: join(here, ".."),
      stdio: ["ignore", json ? 2 : "inherit", "inherit"],
      env: { ...process.env, [RESULT_ENV]: resultFile },
    });
    child.on("error", (e) => resolve(e.message));
    child.on("exit", (code, signal) =>
      resolve(code === 0 ? undefined : signal ? `killed by ${signal}` : `exit ${code}`),
    );
  });
}

const tmp = mkdtempSync(join(tmpdir(), "tidemark-bench-"));
const outcomes: Outcome[] = [];
try {
  for (const b of selected) {
    const args = quick ? b.quick : b.full;
    const command = ["node", `bench/${b.name}.ts`, ...args].join(" ");
    const absent = b.missing?.(args) ?? [];
    if (absent.length > 0) {
      const reason = `not installed: ${absent.join(", ")}${quick ? "" : " (--quick needs none of them)"}`;
      console.error(`\n=== ${b.name}: ${ci ? "FAILED" : "skipped"} (${reason}) ===`);
      outcomes.push({
        name: b.name,
        command,
        status: ci ? "failed" : "skipped",
        reason,
        seconds: 0,
        figures: {},
      });
      continue;
    }
    console.error(`\n=== ${b.name}: ${command} ===`);
    const resultFile = join(tmp, `${b.name}.json`);
    const t0 = performance.now();
    const error = await runChild(join(here, `${b.name}.ts`), args, resultFile);
    const seconds = (performance.now() - t0) / 1000;
    const figures = existsSync(resultFile)
      ? (JSON.parse(readFileSync(resultFile, "utf8")) as Figures)
      : ({} as Figures);
    const reason =
      error ?? (Object.keys(figures).length === 0 ? "it reported no figures (bench/result.ts)" : undefined);
    outcomes.push({
      name: b.name,
      command,
      status: reason === undefined ? "ok" : "failed",
      ...(reason === undefined ? {} : { reason }),
      seconds,
      figures,
    });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const failed = outcomes.some((o) => o.status === "failed");
if (json) {
  console.log(
    JSON.stringify(
      {
        quick,
        ok: !failed,
        benchmarks: outcomes.map((o) => ({ ...o, seconds: Number(o.seconds.toFixed(1)) })),
      },
      null,
      2,
    ),
  );
} else {
  const rows = [
    ["benchmark", "status", "wall (s)", "headline figures"],
    ...outcomes.map((o) => [
      o.name,
      o.status === "ok" ? "ok" : `${o.status === "failed" ? "FAILED" : "skipped"}: ${o.reason}`,
      o.status === "skipped" ? "-" : o.seconds.toFixed(1),
      Object.entries(o.figures)
        .map(([k, v]) => `${k} = ${v}`)
        .join("; "),
    ]),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  console.log(`\n## Summary${quick ? " (--quick)" : ""}\n`);
  for (const r of rows) {
    console.log(
      r
        .map((cell, i) =>
          i === 2 ? cell.padStart(widths[i] ?? 0) : i < 3 ? cell.padEnd(widths[i] ?? 0) : cell,
        )
        .join("  ")
        .trimEnd(),
    );
  }
}
process.exit(failed ? 1 : 0);
