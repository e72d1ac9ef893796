/**
 * The rows of a file preview as a table: one column per Parquet column
 * (merutable's internal `_merutable_*` columns marked, hidden until the page's
 * toggle shows them), each cell shown readably (the internal key decoded with
 * the schema, binary as text or hex, NULL marked) and its raw value kept in
 * `data-value` for the tests to compare.
 */
import { $, el } from "./dom.ts";
import { type MeruSchema, readableBytes, readableInternalKey } from "./meru.ts";
import { PREVIEW_ROWS, type Preview, rawValue } from "./parquet-preview.ts";

export const INTERNAL = "_merutable_";

/** A cell as shown: keys decoded, binary readable, NULL marked. */
export function showValue(
  name: string,
  value: unknown,
  schema: MeruSchema | undefined,
): [text: string, cls?: string] {
  if (value === null || value === undefined) return ["NULL", "null"];
  if (value instanceof Uint8Array) {
    if (name === `${INTERNAL}ikey`)
      return [readableInternalKey(value, schema) ?? readableBytes(value), "mono"];
    if (name === `${INTERNAL}value`) {
      const hex = readableBytes(value.length > 24 ? value.subarray(0, 24) : value);
      return [`${value.length} B: ${hex}${value.length > 24 ? "…" : ""}`, "mono"];
    }
    return [readableBytes(value)];
  }
  if (name === `${INTERNAL}op`) return [value === 1 ? "put" : value === 0 ? "delete" : String(value)];
  if (typeof value === "bigint" || typeof value === "number") return [String(value), "num"];
  return [String(value)];
}

export function renderRows(p: Preview, schema: MeruSchema | undefined): void {
  const table = $("rows");
  const head = el("tr");
  for (const c of p.columns) {
    const th = el("th", c.name, c.name.startsWith(INTERNAL) ? "internal mono" : "mono");
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  for (const row of p.rows.slice(0, PREVIEW_ROWS)) {
    const tr = el("tr");
    for (const c of p.columns) {
      const [text, cls] = c.flat
        ? showValue(c.name, row[c.name], schema)
        : ["(nested: not previewed)", "null"];
      const td = el("td", text, [c.name.startsWith(INTERNAL) ? "internal" : "", cls ?? ""].join(" ").trim());
      td.dataset.value = JSON.stringify(rawValue(row[c.name], p.types[c.name] ?? ""));
      tr.append(td);
    }
    tbody.append(tr);
  }
  table.replaceChildren(thead, tbody);
}
