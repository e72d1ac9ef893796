/**
 * Tools not written here, for the interop tests: protoc (Debian's
 * protobuf-compiler) encodes and decodes manifests from their text form;
 * Apache Arrow's pyarrow writes Parquet as merutable does and DuckDB reads it
 * back (test/support/merutable_parquet.py). pyarrow and duckdb come from the
 * image's local Python package index into `.venv-interop` (`.ci/run`
 * installs them; locally: `python3 -m venv .venv-interop &&
 * .venv-interop/bin/pip install --retries 0 --timeout 2 pyarrow duckdb`).
 * Missing: a failure under CI=true, locally a loud skip.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const helper = join(import.meta.dirname, "merutable_parquet.py");

/** A Python that imports pyarrow and duckdb: `TIDEMARK_PYTHON`, `.venv-interop`, or `python3`. */
export function interopPython(): string | undefined {
  const candidates = [process.env.TIDEMARK_PYTHON, join(root, ".venv-interop/bin/python"), "python3"];
  for (const py of candidates) {
    if (py === undefined || (py.includes("/") && !existsSync(py))) continue;
    if (spawnSync(py, ["-c", "import pyarrow, duckdb"]).status === 0) return py;
  }
  const why =
    "pyarrow and duckdb are missing: python3 -m venv .venv-interop && .venv-interop/bin/pip install --retries 0 --timeout 2 pyarrow duckdb";
  if (process.env.CI === "true") throw new Error(`CI=true and ${why}`);
  console.warn(`\n!!! SKIPPING merutable interop: ${why} !!!\n`);
  return undefined;
}

function run(cmd: string, args: string[], input: string | Uint8Array): Uint8Array {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${String(r.stderr).slice(-2000)}`);
  return new Uint8Array(r.stdout);
}

/** One Parquet file to write: ids `first_id .. first_id + rows - 1`, all at sequence `seq`. */
export interface ParquetSpec {
  path: string;
  first_id: number;
  rows: number;
  seq: number;
}

/** What pyarrow wrote. */
export interface WrittenParquet {
  path: string;
  size: number;
  rows: number;
  key_min: string;
  key_max: string;
}

/** Writes Parquet files under `dir` with pyarrow (Snappy; merutable's columns). */
export function pyarrowWrite(py: string, dir: string, files: ParquetSpec[]): WrittenParquet[] {
  const out = run(py, [helper, "write"], JSON.stringify({ root: dir, files }));
  return JSON.parse(new TextDecoder().decode(out)) as WrittenParquet[];
}

/** What DuckDB reads from Parquet files. */
export interface DuckdbRead {
  rows: number;
  columns: string[];
  codecs: string[];
  ids: [number, number];
}

/** Reads Parquet files (absolute paths) with DuckDB. */
export function duckdbRead(py: string, files: string[]): DuckdbRead {
  const out = run(py, [helper, "read"], JSON.stringify({ files }));
  return JSON.parse(new TextDecoder().decode(out)) as DuckdbRead;
}

const protocArgs = ["-I", join(root, "src/manifest"), "manifest.proto"];

/** `protoc --encode` of a manifest in protobuf text format: the payload. */
export function protocEncode(text: string): Uint8Array {
  return run("protoc", ["--encode=merutable.catalog.v1.Manifest", ...protocArgs], text);
}

/** `protoc --decode` of a manifest file (the frame stripped): its text form. */
export function protocDecode(file: Uint8Array): string {
  return new TextDecoder().decode(
    run("protoc", ["--decode=merutable.catalog.v1.Manifest", ...protocArgs], file.subarray(9)),
  );
}

/** merutable's frame around a payload: `MRUB`, format version 1, the payload length (LE u32). */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out.set([0x4d, 0x52, 0x55, 0x42, 1]);
  new DataView(out.buffer).setUint32(5, payload.length, true);
  out.set(payload, 9);
  return out;
}

/** A string or bytes as a protobuf text-format string literal (octal escapes for anything not printable ASCII). */
export function textString(v: string | Uint8Array): string {
  const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
  let s = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString(8).padStart(3, "0")}`;
  }
  return `${s}"`;
}

function writeDurably(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  const fd = openSync(path, "r");
  fsyncSync(fd);
  closeSync(fd);
}

/**
 * Commits version `version` of the merutable table in directory `dir` the way
 * merutable's catalog does (`iceberg/catalog.rs`): the framed manifest to
 * `metadata/v{N}.metadata.pb` (fsynced), then `version-hint.text.tmp`
 * renamed onto `version-hint.text`.
 */
export function merutableCommit(dir: string, version: number, manifest: Uint8Array): void {
  writeDurably(join(dir, "metadata", `v${version}.metadata.pb`), manifest);
  const tmp = join(dir, "version-hint.text.tmp");
  writeDurably(tmp, String(version));
  renameSync(tmp, join(dir, "version-hint.text"));
}
