/**
 * `tidemark diff <store> <a> <b>`: the table's row-level history between
 * versions `a` and `b`: every key inserted, updated (values differ) or
 * deleted, in key order, with its values before and after. Reads the files
 * that differ between the versions and, of the others, only the pages that
 * may hold those keys (src/rows/).
 *
 * @module
 */
import { openTable } from "../../catalog/table.ts";
import { TidemarkError } from "../../errors.ts";
import { parseNumberOption } from "../../options.ts";
import { cellText, keyJson, rowJson } from "../../rows/json.ts";
import { type RowChange, TableRows } from "../../rows/table-rows.ts";
import type { CliContext } from "../context.ts";
import { DIFF_FORMATS } from "../formats.ts";
import { EXIT, type OutputOptions, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";
import { keyRange, LineWriter, rowsProgress, TextTable } from "./rows.ts";

/** Output formats of `diff`. */
interface DiffOptions extends OutputOptions {
  limit?: number;
  fromKey?: string;
  toKey?: string;
  format: (typeof DIFF_FORMATS)[number];
}

export async function diffCommand(
  ctx: CliContext,
  spec: string,
  a: string,
  b: string,
  opts: DiffOptions,
): Promise<number> {
  if (!DIFF_FORMATS.includes(opts.format)) {
    throw new TidemarkError(
      "InvalidArgument",
      `--format must be one of ${DIFF_FORMATS.join(", ")}, got ${JSON.stringify(opts.format)}`,
    );
  }
  const from = parseNumberOption("<a>", a, 0, { min: 1 });
  const to = parseNumberOption("<b>", b, 0, { min: 1 });
  const { store } = await openStoreUrl(spec, ctx.env);
  const t = new TableRows(await openTable(store));
  const { schema } = await t.version(to);
  const bar = await progressBar(ctx.io, opts);
  const onProgress = rowsProgress(bar, "reading changed files");
  const result = await t.diff(from, to, {
    ...keyRange(schema, opts.fromKey, opts.toKey),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
  const json = (c: RowChange) => ({
    op: c.op,
    key: keyJson(schema, c.key),
    before: c.before && rowJson(schema, c.before),
    after: c.after && rowJson(schema, c.after),
  });
  try {
    if (opts.json) {
      const changes: unknown[] = [];
      for await (const c of result.changes) changes.push(json(c));
      bar.stop();
      printJson(ctx.io, { ok: true, from, to, columns: result.columns, changes });
      return EXIT.ok;
    }
    const out = new LineWriter(ctx.io);
    if (opts.format === "jsonl") {
      for await (const c of result.changes) await out.line(JSON.stringify(json(c)));
    } else {
      const types = schema.columns.map((c) => c.col_type);
      const table = new TextTable(out, ["op", ...result.columns]);
      for await (const c of result.changes) {
        const cells = schema.columns.map((_, i) => {
          const before = c.before && cellText(c.before[i] ?? null, types[i]);
          const after = c.after && cellText(c.after[i] ?? null, types[i]);
          return c.changed.includes(i) ? `${before} → ${after}` : ((after ?? before) as string);
        });
        await table.row([c.op, ...cells]);
      }
      await table.end();
    }
    bar.stop();
    await out.flush();
    return EXIT.ok;
  } finally {
    bar.stop();
  }
}
