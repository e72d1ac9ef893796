/**
 * `tidemark rows <store>`: the table's logical rows at a version (default
 * HEAD), in primary-key order, streamed: as a text table, JSON lines or CSV.
 * Read merutable's way (src/rows/): deletion vectors applied, per key the
 * newest row, deleted keys absent. Reads only (ranged `get`s), so it works
 * on every store, HTTP included.
 *
 * @module
 */
import type { ColumnType, TableSchema } from "../../catalog/schema.ts";
import { openTable } from "../../catalog/table.ts";
import { TidemarkError } from "../../errors.ts";
import type { KeyValue } from "../../rows/ikey.ts";
import { cellText, float32Text, rowJson } from "../../rows/json.ts";
import { parseKey } from "../../rows/key-input.ts";
import { type KeyRange, type RowsProgress, TableRows } from "../../rows/table-rows.ts";
import type { Value } from "../../rows/values.ts";
import { base64 } from "../../store/wire.ts";
import type { CliContext } from "../context.ts";
import { ROW_FORMATS } from "../formats.ts";
import { EXIT, type Io, type OutputOptions, type Progress, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

/** Output formats of `rows` (and of `diff`, which has no csv). */
interface RowsOptions extends OutputOptions {
  version?: number;
  limit?: number;
  fromKey?: string;
  toKey?: string;
  format: (typeof ROW_FORMATS)[number];
}

/** Lines are written in chunks of about this many characters (one write per row is slow). */
const CHUNK = 64 * 1024;
/** Rows a text table measures its column widths on before printing. */
const MEASURE_ROWS = 100;

/** Buffered stdout that waits for a slow reader (the pipe's backpressure). */
export class LineWriter {
  readonly #io: Io;
  #buf = "";

  constructor(io: Io) {
    this.#io = io;
  }

  async line(s: string): Promise<void> {
    this.#buf += `${s}\n`;
    if (this.#buf.length >= CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#buf === "") return;
    this.#io.stdout(this.#buf);
    this.#buf = "";
    await this.#io.stdoutDrained?.();
  }
}

/** A value as a CSV field (RFC 4180): NULL empty, bytes base64. */
function csvField(v: Value, type: ColumnType | undefined): string {
  if (v === null) return "";
  const s =
    v instanceof Uint8Array
      ? base64(v)
      : typeof v === "number" && type === "Float" && Number.isFinite(v)
        ? float32Text(v)
        : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Text table rows with widths measured on the first rows. */
export class TextTable {
  readonly #out: LineWriter;
  readonly #header: string[];
  #pending: string[][] = [];
  #widths: number[] | undefined;

  constructor(out: LineWriter, header: string[]) {
    this.#out = out;
    this.#header = header;
  }

  async row(cells: string[]): Promise<void> {
    if (this.#widths) return this.#out.line(this.#format(cells));
    this.#pending.push(cells);
    if (this.#pending.length >= MEASURE_ROWS) await this.#start();
  }

  #format(cells: string[]): string {
    return cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(this.#widths?.[i] ?? 0)))
      .join("  ")
      .trimEnd();
  }

  async #start(): Promise<void> {
    const all = [this.#header, ...this.#pending];
    this.#widths = this.#header.map((_, i) => Math.min(40, Math.max(...all.map((r) => (r[i] ?? "").length))));
    for (const r of all) await this.#out.line(this.#format(r));
    this.#pending = [];
  }

  async end(): Promise<void> {
    if (!this.#widths) await this.#start();
  }
}

/** Parses `--from-key` / `--to-key` against the version's schema. */
export function keyRange(
  schema: TableSchema,
  fromKey: string | undefined,
  toKey: string | undefined,
): KeyRange {
  const range: KeyRange = {};
  if (fromKey !== undefined) range.from = parseKey(fromKey, schema, "--from-key") as KeyValue[];
  if (toKey !== undefined) range.to = parseKey(toKey, schema, "--to-key") as KeyValue[];
  return range;
}

/** A progress callback drawing `bar` (rows of the files read so far out of theirs). */
export function rowsProgress(bar: Progress, label: string): ((p: RowsProgress) => void) | undefined {
  if (!bar.active) return undefined;
  let started = false;
  return (p) => {
    if (!started) {
      bar.start(p.rowsTotal, label);
      started = true;
    }
    bar.update(p.rowsRead, p.rowsTotal);
  };
}

export async function rowsCommand(ctx: CliContext, spec: string, opts: RowsOptions): Promise<number> {
  if (!ROW_FORMATS.includes(opts.format)) {
    throw new TidemarkError(
      "InvalidArgument",
      `--format must be one of ${ROW_FORMATS.join(", ")}, got ${JSON.stringify(opts.format)}`,
    );
  }
  const { store } = await openStoreUrl(spec, ctx.env);
  const t = new TableRows(await openTable(store));
  const view = await t.version(opts.version);
  const { schema } = view;
  const bar = await progressBar(ctx.io, opts);
  const onProgress = rowsProgress(bar, "reading rows");
  const result = await t.rows({
    version: view.version,
    ...keyRange(schema, opts.fromKey, opts.toKey),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
  const types = schema.columns.map((c) => c.col_type);
  try {
    if (opts.json) {
      const rows: unknown[] = [];
      for await (const r of result.rows) rows.push(rowJson(schema, r.values));
      bar.stop();
      printJson(ctx.io, { ok: true, version: result.version, columns: result.columns, rows });
      return EXIT.ok;
    }
    const out = new LineWriter(ctx.io);
    if (opts.format === "jsonl") {
      for await (const r of result.rows) await out.line(JSON.stringify(rowJson(schema, r.values)));
    } else if (opts.format === "csv") {
      await out.line(result.columns.map((c) => csvField(c, undefined)).join(","));
      for await (const r of result.rows)
        await out.line(r.values.map((v, i) => csvField(v, types[i])).join(","));
    } else {
      const table = new TextTable(out, result.columns);
      for await (const r of result.rows) await table.row(r.values.map((v, i) => cellText(v, types[i])));
      await table.end();
    }
    bar.stop();
    await out.flush();
    return EXIT.ok;
  } finally {
    bar.stop();
  }
}
