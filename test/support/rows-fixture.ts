/**
 * merutable tables with a history, made by tools not written here, for the
 * rows tests: a history is planned in memory (flushes of puts and deletes
 * into level 0, several versions of a key in one file or across files,
 * tombstones carrying the deleted row's values, compactions into level 1,
 * deletion vectors on files whose rows a newer file shadows), then written
 * at once: pyarrow writes the data files and encodes every internal key
 * (test/support/merutable_parquet.py), Java's RoaringBitmap the deletion
 * vectors (DeletionVectors.java), protoc the manifests; committed in
 * either of merutable's layouts. DuckDB gives the rows of every version with
 * merutable's projection for outside readers: the oracle.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { TableSchema } from "../../src/catalog/schema.ts";
import { frame, merutableCommit, protocEncode, textString } from "./interop.ts";

/** A value as the fixture writer takes it (Int64 as bigint, Int32/Float/Double as numbers). */
export type FixtureValue = null | boolean | number | bigint | string | Uint8Array;

/** A value tagged for the Python helper: the oracle's form too. */
export type Tagged =
  | null
  | { b: boolean }
  | { i: string }
  | { f: number | "nan" | "inf" | "-inf" }
  | { s: string }
  | { x: string };

const helper = join(import.meta.dirname, "merutable_parquet.py");
const javaDv = join(import.meta.dirname, "DeletionVectors.java");

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));

/** `v` tagged for the Python helper (and as the oracle prints it). */
export function tag(v: FixtureValue): Tagged {
  if (v === null) return null;
  if (typeof v === "boolean") return { b: v };
  if (typeof v === "bigint") return { i: String(v) };
  if (typeof v === "number") {
    if (Number.isNaN(v)) return { f: "nan" };
    if (!Number.isFinite(v)) return { f: v > 0 ? "inf" : "-inf" };
    return Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) < 2 ** 31 ? { i: String(v) } : { f: v };
  }
  if (typeof v === "string") return { s: v };
  return { x: hex(v) };
}

/** Tags a row by its schema (a Float column's integral value is a float, not an int). */
export function tagRow(schema: TableSchema, values: readonly FixtureValue[]): Tagged[] {
  return values.map((v, i) => {
    const t = schema.columns[i]?.col_type;
    if (typeof v === "number" && t === "Int32") return { i: String(v) };
    if (typeof v === "number" && (t === "Float" || t === "Double")) {
      if (Number.isNaN(v)) return { f: "nan" };
      if (!Number.isFinite(v)) return { f: v > 0 ? "inf" : "-inf" };
      return { f: v };
    }
    return tag(v);
  });
}

/** One row of a planned file. */
export interface PlannedRow {
  values: FixtureValue[];
  seq: number;
  op: 0 | 1;
}

interface PlannedFile {
  path: string;
  level: number;
  rows: PlannedRow[];
  rowGroupSize?: number;
  /** Rows per data page, with page indexes written (merutable's writer emits them); absent: pyarrow's defaults, no page index. */
  pageRows?: number;
}

/** What the Python helper reports of a data file it wrote. */
export interface HelperFile {
  path: string;
  size: number;
  rows: number;
  /** User keys, hex. */
  key_min: string;
  key_max: string;
  seq_min: number;
  seq_max: number;
  /** Internal keys, hex, in file order (`table-files` only). */
  positions?: string[];
}

/** A data file's facts, as manifest entries need them. */
export interface FileFacts {
  size: number;
  rows: number;
  /** User keys, hex. */
  keyMin: string;
  keyMax: string;
  seqMin: number;
  seqMax: number;
}

/** `f` as {@link FileFacts}. */
export function factsOf(f: HelperFile): FileFacts {
  return {
    size: f.size,
    rows: f.rows,
    keyMin: f.key_min,
    keyMax: f.key_max,
    seqMin: f.seq_min,
    seqMax: f.seq_max,
  };
}

interface WrittenFile extends FileFacts {
  /** ikey hex per row, in file order. */
  positions: string[];
}

interface LiveRef {
  path: string;
  /** The deletion vector in force: the Puffin file and the positions it marks. */
  dv?: { path: string; positions: number[] };
}

/** The key of a row's values: what the fixture's model groups by. */
function modelKey(schema: TableSchema, values: readonly FixtureValue[]): string {
  return JSON.stringify(tagRow(schema, values).filter((_, i) => schema.primary_key.includes(i)));
}

/** A merutable table's history, planned in memory, then written by {@link RowsFixture.write}. */
export class RowsFixture {
  readonly schema: TableSchema;
  readonly stringColumns: string[];
  seq = 0;
  readonly files = new Map<string, PlannedFile>();
  /** Live files of each version (index 0 = version 1). */
  readonly versions: LiveRef[][] = [];
  /** The model's current rows by key (for choosing updates and deletes). */
  readonly current = new Map<string, FixtureValue[]>();
  #live: LiveRef[] = [];
  #n = 0;
  #written = new Map<string, WrittenFile>();
  /** Deletion vectors to make, and the files they apply to. */
  #dvPlans: Array<{ version: number; target: string; shadowers: string[]; puffin: string }> = [];

  constructor(schema: TableSchema, opts: { stringColumns?: string[] } = {}) {
    this.schema = schema;
    this.stringColumns = opts.stringColumns ?? [];
  }

  /** Live data files now. */
  get live(): readonly LiveRef[] {
    return this.#live;
  }

  #commit(live: LiveRef[]): number {
    this.#live = live;
    this.versions.push(live.map((r) => ({ ...r })));
    return this.versions.length;
  }

  /**
   * A flush: one level-0 file of `ops` (each a put of a row, or a delete
   * carrying the deleted row's values), sequence numbers in order; a key
   * may appear more than once. With `dvOver`, the given live files get a
   * deletion vector marking their rows this file shadows.
   */
  flush(
    ops: Array<{ put: FixtureValue[] } | { del: FixtureValue[] }>,
    opts: { rowGroupSize?: number; pageRows?: number; dvOver?: string[] } = {},
  ): number {
    const rows: PlannedRow[] = ops.map((o) => {
      const seq = ++this.seq;
      if ("put" in o) {
        this.current.set(modelKey(this.schema, o.put), o.put);
        return { values: o.put, seq, op: 1 };
      }
      this.current.delete(modelKey(this.schema, o.del));
      return { values: o.del, seq, op: 0 };
    });
    const path = `data/L0/f${++this.#n}.parquet`;
    this.files.set(path, {
      path,
      level: 0,
      rows,
      ...(opts.rowGroupSize ? { rowGroupSize: opts.rowGroupSize } : {}),
      ...(opts.pageRows ? { pageRows: opts.pageRows } : {}),
    });
    const version = this.versions.length + 1;
    const live = this.#live.map((r) => ({ ...r }));
    for (const target of opts.dvOver ?? []) {
      const stem = target.replace(/\.parquet$/, "");
      this.#dvPlans.push({ version, target, shadowers: [path], puffin: `${stem}.dv-${version}.puffin` });
    }
    return this.#commit([...live, { path }]);
  }

  /**
   * A compaction of `inputs` (default: every live file) into one file at
   * `level`: per key the newest row; tombstones kept unless `dropTombstones`
   * (only when compacting every live file, as merutable drops them only at
   * the bottom). Deletion vectors of the inputs apply (their rows are gone).
   */
  compact(
    opts: {
      inputs?: string[];
      level?: number;
      dropTombstones?: boolean;
      rowGroupSize?: number;
      pageRows?: number;
    } = {},
  ): number {
    const inputs = opts.inputs ?? this.#live.map((r) => r.path);
    const newest = new Map<string, PlannedRow>();
    for (const p of inputs) {
      for (const r of this.files.get(p)?.rows ?? []) {
        const k = modelKey(this.schema, r.values);
        const seen = newest.get(k);
        if (!seen || r.seq > seen.seq) newest.set(k, r);
      }
    }
    const rows = [...newest.values()].filter((r) => r.op === 1 || !opts.dropTombstones);
    const live = this.#live.filter((r) => !inputs.includes(r.path));
    if (rows.length > 0) {
      const path = `data/L${opts.level ?? 1}/c${++this.#n}.parquet`;
      this.files.set(path, {
        path,
        level: opts.level ?? 1,
        rows,
        ...(opts.rowGroupSize ? { rowGroupSize: opts.rowGroupSize } : {}),
        ...(opts.pageRows ? { pageRows: opts.pageRows } : {}),
      });
      live.push({ path });
    }
    return this.#commit(live);
  }

  /**
   * Writes the history into `dir`: data files (pyarrow), deletion vectors
   * (Java), then the manifests in order (protoc), in the posix layout
   * (`version-hint.text`, merutable's primary) or the object-store one.
   */
  write(python: string, dir: string, layout: "posix" | "object-store" = "posix"): void {
    const specs = [...this.files.values()].map((f) => ({
      path: f.path,
      dual: f.level === 0,
      row_group_size: f.rowGroupSize ?? 0,
      page_rows: f.pageRows ?? 0,
      rows: f.rows.map((r) => ({ seq: r.seq, op: r.op, values: tagRow(this.schema, r.values) })),
    }));
    const out = runJson(python, [helper, "table-files"], {
      root: dir,
      schema: this.schema,
      string_columns: this.stringColumns,
      files: specs,
    }) as HelperFile[];
    for (const w of out) this.#written.set(w.path, { ...factsOf(w), positions: w.positions ?? [] });
    this.#writeDeletionVectors(dir);
    for (let v = 1; v <= this.versions.length; v++) this.#writeManifest(dir, v, layout);
  }

  /** The rows a file's deletion vector marks: those whose user key a newer row of a shadowing file holds. */
  #shadowed(target: string, shadowers: string[]): number[] {
    const t = this.#written.get(target) as WrittenFile;
    const newer = new Map<string, number>();
    for (const s of shadowers) {
      const w = this.#written.get(s) as WrittenFile;
      for (const ikey of w.positions) {
        const uk = ikey.slice(0, -16);
        const seq = seqOf(ikey);
        newer.set(uk, Math.max(newer.get(uk) ?? -1, seq));
      }
    }
    const out: number[] = [];
    t.positions.forEach((ikey, pos) => {
      const n = newer.get(ikey.slice(0, -16));
      if (n !== undefined && n > seqOf(ikey)) out.push(pos);
    });
    return out;
  }

  #writeDeletionVectors(dir: string): void {
    if (this.#dvPlans.length === 0) return;
    const lines: string[] = [];
    for (const p of this.#dvPlans) {
      // A new deletion vector replaces the file's previous one (their union).
      const earlier = this.versions[p.version - 2]?.find((r) => r.path === p.target)?.dv?.positions ?? [];
      const positions = [...new Set([...earlier, ...this.#shadowed(p.target, p.shadowers)])].sort(
        (a, b) => a - b,
      );
      for (let v = p.version; v <= this.versions.length; v++) {
        const ref = this.versions[v - 1]?.find((r) => r.path === p.target);
        if (ref) ref.dv = { path: p.puffin, positions };
      }
      lines.push(`${p.puffin}\t${positions.join(",")}`);
    }
    const r = spawnSync("java", ["-cp", roaringJar(), javaDv, dir], {
      input: `${lines.join("\n")}\n`,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`DeletionVectors.java failed: ${r.stderr}`);
    for (const line of r.stdout.trim().split("\n")) {
      const [path, offset, length] = line.split("\t");
      this.#puffins.set(path as string, { offset: Number(offset), length: Number(length) });
    }
  }

  #puffins = new Map<string, { offset: number; length: number }>();

  #writeManifest(dir: string, v: number, layout: "posix" | "object-store"): void {
    const live = this.versions[v - 1] as LiveRef[];
    const entries = live.map((ref) => {
      const f = this.files.get(ref.path) as PlannedFile;
      const w = this.#written.get(ref.path) as WrittenFile;
      const dv = ref.dv ? this.#puffins.get(ref.dv.path) : undefined;
      return {
        path: ref.path,
        level: f.level,
        ...w,
        ...(ref.dv && dv ? { dv: { path: ref.dv.path, ...dv } } : {}),
      };
    });
    commitManifest(dir, v, layout, this.schema, entries);
  }

  /** Every key {@link RowsFixture.write} lays out in `layout`: data files, deletion vectors, manifests and pointers. */
  keys(layout: "posix" | "object-store"): string[] {
    const keys = new Set<string>([layout === "posix" ? "version-hint.text" : "metadata/low_water.txt"]);
    for (let v = 1; v <= this.versions.length; v++) {
      keys.add(layout === "posix" ? `metadata/v${v}.metadata.pb` : `metadata/v${v}.manifest.bin`);
    }
    for (const f of this.files.keys()) keys.add(f);
    for (const vs of this.versions) for (const r of vs) if (r.dv) keys.add(r.dv.path);
    return [...keys];
  }

  /** The live data files of version `v` (paths under the table root). */
  filesOf(v: number): string[] {
    return (this.versions[v - 1] ?? []).map((r) => r.path);
  }

  /**
   * DuckDB's rows at each version in `versions` (default all), with
   * merutable's projection for outside readers, in key order: rows of
   * tagged values.
   */
  oracle(python: string, dir: string, versions?: number[]): Map<number, Tagged[][]> {
    const vs = versions ?? this.versions.map((_, i) => i + 1);
    const out = runJson(python, [helper, "oracle"], {
      schema: this.schema,
      versions: vs.map((v) => this.filesOf(v).map((p) => join(dir, p))),
    }) as Tagged[][][];
    return new Map(vs.map((v, i) => [v, out[i] as Tagged[][]]));
  }
}

/** A live data file as a manifest entry names it. */
export interface ManifestEntryText extends FileFacts {
  path: string;
  level: number;
  dv?: { path: string; offset: number; length: number };
}

/**
 * Commits version `v` of the table in `dir` as merutable does: the manifest
 * in protobuf text format, encoded by protoc and framed, then
 * `version-hint.text` (posix) or `metadata/v{v}.manifest.bin` and low_water
 * (object-store layout).
 */
export function commitManifest(
  dir: string,
  v: number,
  layout: "posix" | "object-store",
  schema: TableSchema,
  live: ManifestEntryText[],
): void {
  let rowId = 0;
  const entries = live.map((w) => {
    const e =
      `data_files { path: ${textString(w.path)} file_size: ${w.size} num_rows: ${w.rows} level: ${w.level} ` +
      `seq_min: ${w.seqMin} seq_max: ${w.seqMax} key_min: ${textString(unhex(w.keyMin))} key_max: ${textString(unhex(w.keyMax))} ` +
      (w.dv ? `dv_path: ${textString(w.dv.path)} dv_offset: ${w.dv.offset} dv_length: ${w.dv.length} ` : "") +
      `status: 0 format: ${w.level === 0 ? 1 : 0} first_row_id: ${rowId} }`;
    rowId += w.rows;
    return e;
  });
  const text = [
    `snapshot_id: ${v}`,
    `sequence_number: ${v}`,
    ...entries,
    ...(v > 1 ? [`previous_snapshot_id: ${v - 1}`] : []),
    `table_uuid: ${textString("0b7f6c1e-2d3a-4c5b-9e8f-7a6b5c4d3e2f")}`,
    `last_updated_ms: ${1_767_000_000_000 + v * 1000}`,
    `properties { key: "merutable.format_version" value: "3" }`,
    `properties { key: "merutable.schema.json" value: ${textString(JSON.stringify(schema))} }`,
    `last_column_id: ${schema.columns.length}`,
    `next_row_id: ${rowId}`,
  ].join("\n");
  const bytes = frame(protocEncode(text));
  if (layout === "posix") merutableCommit(dir, v, bytes);
  else {
    mkdirSync(join(dir, "metadata"), { recursive: true });
    writeFileSync(join(dir, "metadata", `v${v}.manifest.bin`), bytes);
    writeFileSync(join(dir, "metadata", "low_water.txt"), "1");
  }
}

function seqOf(ikeyHex: string): number {
  const tag = BigInt(`0x${ikeyHex.slice(-16)}`);
  return Number((1n << 56n) - 1n - (tag >> 8n));
}

/** Runs the Python helper's `command` with `input` as JSON; its JSON output. */
export function runHelper(python: string, command: string, input: unknown): unknown {
  return runJson(python, [helper, command], input);
}

function runJson(cmd: string, args: string[], input: unknown): unknown {
  const r = spawnSync(cmd, args, {
    input: JSON.stringify(input),
    maxBuffer: 512 * 1024 * 1024,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout);
}

/** Java's RoaringBitmap jar: `TIDEMARK_ROARING_JAR`, else the one in the local Maven repository. */
export function roaringJar(): string {
  return (
    process.env.TIDEMARK_ROARING_JAR ??
    join(homedir(), ".m2/repository/org/roaringbitmap/RoaringBitmap/1.3.0/RoaringBitmap-1.3.0.jar")
  );
}

/**
 * Whether Java and RoaringBitmap are here (for the deletion-vector
 * fixtures): a failure under CI=true, else a loud skip.
 */
export function javaRoaring(): boolean {
  const why = !existsSync(roaringJar())
    ? `no RoaringBitmap jar at ${roaringJar()} (set TIDEMARK_ROARING_JAR)`
    : spawnSync("java", ["-version"]).status !== 0
      ? "no java"
      : undefined;
  if (why === undefined) return true;
  if (process.env.CI === "true") throw new Error(`CI=true and ${why}`);
  console.warn(`\n!!! SKIPPING deletion-vector fixtures: ${why} !!!\n`);
  return false;
}
