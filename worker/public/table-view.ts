/**
 * The table view: the selected snapshot's logical rows, read merutable's
 * way (per key the newest row, deleted keys absent), 100 at a time in key
 * order, the next page on request; a key search (JSON, as the CLI's
 * `--from-key`: `42`, `"Berlin"`, `["Berlin", "sku-007"]`; bare text for a
 * text key) that shows the rows from that key and says whether the key is
 * in the snapshot. The browser reads only the row groups a page needs,
 * through HTTP Range requests (rows-reader.ts); the status line says how
 * many requests, footers and row groups the page took.
 */
import type { TableSchema } from "../../src/catalog/schema.ts";
import { errorCodeOf } from "../../src/errors.ts";
import { encodeUserKey, equalBytes, type KeyValue } from "../../src/rows/ikey.ts";
import { parseKey } from "../../src/rows/key-input.ts";
import { headerRow, valueCell } from "./cells.ts";
import { $, el, fmtInt } from "./dom.ts";
import { pageReaders } from "./page-readers.ts";
import { costText, readPage, setStatus } from "./page-status.ts";
import { PAGE_ROWS, type PageCost } from "./rows-reader.ts";
import { schemaOf, type View, view } from "./state.ts";

/** What the user asked for: the first rows, or the rows from a key. */
interface Query {
  /** The key as typed. */
  text?: string;
  key?: KeyValue[];
}

let query: Query = {};
/** The table the query was typed for: another table starts from its first rows. */
let queryView: View | undefined;
/** What the table shows: which view, version and query, the page number and the last row's key. */
let shown: { view: View; version: number; query: Query; page: number; last?: Uint8Array } | undefined;
let generation = 0;

/** The key typed, parsed by the table's key columns: JSON, or bare text for a text key column. */
function keyOf(text: string, schema: TableSchema): KeyValue[] {
  try {
    return parseKey(text, schema, "key");
  } catch (e) {
    // Bare text (no quotes) is meant as text: try it as a JSON string.
    if (errorCodeOf(e) !== "InvalidArgument" || /^\s*[[{"]/.test(text)) throw e;
    try {
      return parseKey(JSON.stringify(text), schema, "key");
    } catch {
      throw e;
    }
  }
}

const status = (text: string, kind: "loading" | "ok" | "error", cost?: PageCost) =>
  setStatus("rows-status", text, kind, cost);

/** Shows the selected snapshot's rows, unless they are shown already (a HEAD that moved elsewhere, a resize). */
export function renderTable(): void {
  const v = view;
  const version = v?.selected;
  $("table-version").textContent = version === undefined ? "" : `v${version}`;
  if (queryView !== v) {
    query = {};
    queryView = v;
    $<HTMLInputElement>("key").value = "";
  }
  if (shown && shown.view === v && shown.version === version && shown.query === query) return;
  void load(false);
}

/** Reads and shows a page: the first of the query, or (`next`) the one after the page shown. */
async function load(next: boolean): Promise<void> {
  const v = view;
  const s = v?.snapshots.find((x) => x.version === v.selected);
  const gen = ++generation;
  const alive = () => gen === generation && view === v;
  const button = $<HTMLButtonElement>("next-rows");
  button.disabled = true;
  if (!v || !s) {
    shown = undefined;
    $("table-rows").replaceChildren(el("thead"), el("tbody"));
    status(v?.snapshots.length === 0 ? "no snapshots yet" : "", "ok");
    return;
  }
  const q = query;
  const after = next && shown?.view === v && shown.version === s.version ? shown.last : undefined;
  const page = after ? (shown?.page ?? 0) + 1 : 0;
  shown = { view: v, version: s.version, query: q, page };
  status(`Reading the rows of v${s.version}…`, "loading");
  const got = await readPage(
    () =>
      pageReaders(v).rows.rowsPage(
        { version: s.version, ...(after ? { after } : q.key ? { from: q.key } : {}) },
        alive,
      ),
    alive,
    "table-rows",
    "rows-status",
  );
  if (!got) return;
  const { schema, rows, cost } = got;
  const lastRow = rows.at(-1);
  if (lastRow) shown.last = lastRow.userKey;
  const types = schema.columns.map((c) => c.col_type);
  // A complete key searched for: is it in this snapshot (the first row from it is that key)?
  const full = q.key && page === 0 && q.key.length === schema.primary_key.length;
  const wanted = full && q.key ? encodeUserKey(q.key, schema) : undefined;
  const found = wanted !== undefined && rows[0] !== undefined && equalBytes(rows[0].userKey, wanted);
  const tbody = el("tbody");
  rows.forEach((r, i) => {
    const tr = el("tr");
    if (found && i === 0) tr.className = "found";
    for (const [c, value] of r.values.entries()) tr.append(valueCell(value, types[c]));
    tbody.append(tr);
  });
  $("table-rows").replaceChildren(headerRow(schema), tbody);
  $("table-rows").parentElement?.scrollTo(0, 0);
  const first = page * PAGE_ROWS + 1;
  const range = rows.length === 0 ? "No rows" : `Rows ${fmtInt(first)}–${fmtInt(first + rows.length - 1)}`;
  const from = q.text !== undefined ? ` from key ${q.text}` : "";
  const verdict =
    wanted === undefined
      ? ""
      : found
        ? ` Key ${q.text} is in v${s.version}.`
        : ` Key ${q.text} is not in v${s.version} (never written, or deleted).`;
  status(`${range} of v${s.version} in key order${from}: ${costText(cost)}.${verdict}`, "ok", cost);
  const line = $("rows-status");
  if (wanted !== undefined) line.dataset.found = String(found);
  else delete line.dataset.found;
  line.dataset.first = String(first);
  button.disabled = rows.length < PAGE_ROWS;
}

/** The table view's controls: the key search, the first rows, the next page. */
export function wireTable(): void {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $<HTMLInputElement>("key").value.trim();
    const v = view;
    const schema = schemaOf(v?.snapshots.find((x) => x.version === v.selected));
    if (text === "") query = {};
    else {
      if (!schema) {
        status("This snapshot carries no merutable.schema.json: its keys cannot be read.", "error");
        return;
      }
      try {
        query = { text, key: keyOf(text, schema) };
        queryView = v;
      } catch (err) {
        status((err as Error).message, "error");
        return;
      }
    }
    void load(false);
  });
  $("first-rows").addEventListener("click", () => {
    $<HTMLInputElement>("key").value = "";
    query = {};
    void load(false);
  });
  $("next-rows").addEventListener("click", () => void load(true));
}
