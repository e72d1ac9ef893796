/**
 * A table's values as cells of the page's row tables (the table view and
 * the row-level history): shown as the CLI's text tables show them
 * (`cellText`: NULL, a Float's shortest decimal, bytes as text or hex), the
 * value as `tidemark rows --format jsonl` prints it kept in `data-value`
 * (for the tests), key columns marked in the header.
 */
import type { ColumnType, TableSchema } from "../../src/catalog/schema.ts";
import { cellText, jsonValue } from "../../src/rows/json.ts";
import type { Value } from "../../src/rows/values.ts";
import { el } from "./dom.ts";

/** Whether a column holds numbers (its cells right-aligned, NULL too). */
const numeric = (t: ColumnType | undefined) =>
  t === "Int32" || t === "Int64" || t === "Float" || t === "Double";

/** The text and class of `v` (NULL muted, numbers right-aligned), and its JSON in `data-value`, on `td`. */
export function fillCell(td: HTMLElement, v: Value, type: ColumnType | undefined): void {
  td.textContent = cellText(v, type);
  if (v === null) td.classList.add("null");
  if (numeric(type)) td.classList.add("num");
  td.dataset.value = JSON.stringify(jsonValue(v, type));
}

/** A cell of value `v` of a column of type `type`. */
export function valueCell(v: Value, type: ColumnType | undefined): HTMLTableCellElement {
  const td = el("td");
  fillCell(td, v, type);
  return td;
}

/** The header row of a row table: `lead` columns, then the schema's columns (key columns marked). */
export function headerRow(schema: TableSchema, lead: string[] = []): HTMLTableSectionElement {
  const tr = el("tr");
  for (const name of lead) tr.append(el("th", name));
  schema.columns.forEach((c, i) => {
    const numeric =
      c.col_type === "Int32" || c.col_type === "Int64" || c.col_type === "Float" || c.col_type === "Double";
    const th = el("th", c.name, numeric ? "mono num" : "mono");
    th.scope = "col";
    if (schema.primary_key.includes(i)) {
      th.classList.add("key");
      th.title = "primary key";
    }
    tr.append(th);
  });
  const thead = el("thead");
  thead.append(tr);
  return thead;
}
