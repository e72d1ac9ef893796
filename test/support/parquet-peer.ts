/**
 * pyarrow and duckdb as independent Parquet readers (parquet-peer.py), from
 * a virtualenv of their own: `.venv-interop/` at the repository root, made
 * on first use from the machine's pip index (offline here, about 8 s), or the
 * Python named by TIDEMARK_INTEROP_PYTHON. `.ci/run` makes it up front.
 * Without it the tests that need it are skipped loudly, except under
 * CI=true, where they fail.
 */
import { spawnSync } from "node:child_process";
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "../..");
/** Where the interop virtualenv lives. */
export const INTEROP_VENV = join(root, ".venv-interop");
const script = join(import.meta.dirname, "parquet-peer.py");

const canImport = (python: string) =>
  existsSync(python) && spawnSync(python, ["-c", "import pyarrow, duckdb"]).status === 0;

/** The interop Python, made if missing; a reason when it cannot be had. */
function findPython(): { python: string } | { missing: string } {
  const given = process.env.TIDEMARK_INTEROP_PYTHON;
  if (given)
    return canImport(given) ? { python: given } : { missing: `${given} cannot import pyarrow, duckdb` };
  const python = join(INTEROP_VENV, "bin/python");
  if (canImport(python)) return { python };
  // Built aside and renamed into place, so two test files never share a half-made one.
  const tmp = `${INTEROP_VENV}.tmp-${process.pid}`;
  const venv = spawnSync("python3", ["-m", "venv", tmp], { encoding: "utf8" });
  const pip =
    venv.status === 0
      ? spawnSync(
          join(tmp, "bin/pip"),
          ["install", "--retries", "0", "--timeout", "2", "--quiet", "pyarrow", "duckdb"],
          { encoding: "utf8", timeout: 180_000 },
        )
      : venv;
  if (pip.status === 0) {
    try {
      renameSync(tmp, INTEROP_VENV);
    } catch {
      // Another test file made it first.
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  if (canImport(python)) return { python };
  return {
    missing: `python3 -m venv + pip install pyarrow duckdb failed: ${(pip.stderr ?? "").trim().slice(-300)}`,
  };
}

let found: { python: string } | { missing: string } | undefined;

/**
 * The interop Python, or `undefined` after a loud warning; under CI=true a
 * missing one throws (a failure, never a skip).
 */
export function interopPython(): string | undefined {
  found ??= findPython();
  if ("python" in found) return found.python;
  if (process.env.CI === "true") throw new Error(`CI=true and no pyarrow/duckdb: ${found.missing}`);
  console.warn(`\n!!! SKIPPING the pyarrow/duckdb cross-checks: ${found.missing} !!!\n`);
  return undefined;
}

/** A value in the peer's canonical form. */
export type PeerValue =
  | null
  | boolean
  | { i: string }
  | { f: number }
  | { b: string }
  | { s: string }
  | { l: PeerValue[] };

/** What pyarrow (metadata, rows) and duckdb (rows again) read from a file. */
export interface PeerRead {
  numRows: number;
  rowGroups: number;
  createdBy: string;
  columns: Array<{ name: string; physicalType: string; nullable: boolean; compression: string | null }>;
  /** The footer's key-value metadata. */
  kv: Record<string, string>;
  rows: PeerValue[][];
  /** duckdb read the same rows as pyarrow. */
  duckdbAgrees: boolean;
}

/** Reads `file` (a local path) with pyarrow and duckdb; the first `limit` rows. */
export function readParquetPeer(python: string, file: string, limit?: number): PeerRead {
  const r = spawnSync(python, [script, "read", file, ...(limit === undefined ? [] : [String(limit)])], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`parquet-peer.py ${file} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PeerRead;
}

/** Reads every file of `files` (local paths) with pyarrow and duckdb in one process: one start-up for all. */
export function readParquetPeers(python: string, files: string[]): PeerRead[] {
  if (files.length === 0) return [];
  const r = spawnSync(python, [script, "read-many", ...files], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`parquet-peer.py read-many failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PeerRead[];
}

/**
 * Writes `file` with pyarrow: `rows` rows in merutable's columns (an Int64
 * key `id`, seq 1000 + id, all puts) plus `name` (string, every 5th NULL),
 * `score` (double), `flag` (bool), and with `nested` a `tags` list of
 * strings; Snappy; row groups of `rowGroupSize`.
 */
export function writeParquetPeer(
  python: string,
  file: string,
  rows: number,
  rowGroupSize = rows,
  nested = false,
): void {
  const args = [script, "write", file, String(rows), String(rowGroupSize), ...(nested ? ["nested"] : [])];
  const r = spawnSync(python, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`parquet-peer.py write ${file} failed: ${r.stderr}`);
}
