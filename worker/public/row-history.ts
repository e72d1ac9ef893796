/**
 * What changed between two snapshots, row by row: every key inserted,
 * updated (the cells that changed marked, before and after) or deleted, in
 * key order, 100 at a time (the next page on request). Read in the browser
 * (rows-reader.ts): the files one snapshot has and the other not, and of
 * the others only the row groups holding those keys. The status line says
 * what the page took.
 */
import type { ColumnType } from "../../src/catalog/schema.ts";
import type { RowChange } from "../../src/rows/table-rows.ts";
import { fillCell, headerRow, valueCell } from "./cells.ts";
import { $, el, fmtInt } from "./dom.ts";
import { pageReaders } from "./page-readers.ts";
import { costText, readPage, setStatus } from "./page-status.ts";
import { PAGE_ROWS, type PageCost } from "./rows-reader.ts";
import { type Snapshot, type View, view } from "./state.ts";

let shown: { view: View; from: number; to: number; page: number; last?: Uint8Array } | undefined;
let generation = 0;

const status = (text: string, kind: "loading" | "ok" | "error", cost?: PageCost) =>
  setStatus("row-changes-status", text, kind, cost);

/** Clears the row-level history (no pair of snapshots). */
export function clearRowHistory(text = ""): void {
  generation++;
  shown = undefined;
  $("row-changes").replaceChildren(el("thead"), el("tbody"));
  $<HTMLButtonElement>("more-changes").disabled = true;
  status(text, "ok");
}

/** Shows the changes from `a` to `b`, unless they are shown already. */
export function renderRowHistory(a: Snapshot, b: Snapshot): void {
  const v = view;
  if (shown && shown.view === v && shown.from === a.version && shown.to === b.version) return;
  if (a.version === b.version) {
    clearRowHistory(`v${a.version}: the same snapshot, no row changed`);
    shown = v && { view: v, from: a.version, to: b.version, page: 0 };
    return;
  }
  void load(a.version, b.version, false);
}

/** One change as a table row: its op, then each column (an update's changed cells: before → after). */
function changeRow(c: RowChange, types: ColumnType[]): HTMLTableRowElement {
  const tr = el("tr", undefined, c.op);
  tr.dataset.op = c.op;
  tr.append(el("td", c.op === "insert" ? "inserted" : c.op === "update" ? "updated" : "deleted", "op"));
  const row = (c.after ?? c.before) as NonNullable<RowChange["after"]>;
  row.forEach((value, i) => {
    if (c.op !== "update" || !c.changed.includes(i)) {
      tr.append(valueCell(value, types[i]));
      return;
    }
    const td = el("td", undefined, "changed");
    td.title = "changed";
    const before = el("del");
    const after = el("ins");
    fillCell(before, c.before?.[i] ?? null, types[i]);
    fillCell(after, value, types[i]);
    td.append(before, " → ", after);
    if (after.classList.contains("num") || before.classList.contains("num")) td.classList.add("num");
    td.dataset.before = before.dataset.value;
    td.dataset.value = after.dataset.value;
    tr.append(td);
  });
  return tr;
}

async function load(from: number, to: number, next: boolean): Promise<void> {
  const v = view;
  if (!v) return;
  const gen = ++generation;
  const alive = () => gen === generation && view === v;
  const more = $<HTMLButtonElement>("more-changes");
  more.disabled = true;
  const after = next && shown?.view === v && shown.from === from && shown.to === to ? shown.last : undefined;
  const page = after ? (shown?.page ?? 0) + 1 : 0;
  shown = { view: v, from, to, page };
  status(`Reading what changed from v${from} to v${to}…`, "loading");
  const got = await readPage(
    () => pageReaders(v).changes.changesPage(from, to, after ? { after } : {}, alive),
    alive,
    "row-changes",
    "row-changes-status",
  );
  if (!got) return;
  const { changes, cost } = got;
  const lastChange = changes.at(-1);
  if (lastChange) shown.last = lastChange.userKey;
  const types = got.schema.columns.map((c) => c.col_type);
  const tbody = el("tbody");
  for (const c of changes) tbody.append(changeRow(c, types));
  $("row-changes").replaceChildren(headerRow(got.schema, ["change"]), tbody);
  $("row-changes").parentElement?.scrollTo(0, 0);
  const count = (op: RowChange["op"]) => changes.filter((c) => c.op === op).length;
  const first = page * PAGE_ROWS + 1;
  const which =
    changes.length === 0
      ? "no row changed"
      : `changes ${fmtInt(first)}–${fmtInt(first + changes.length - 1)}: ${fmtInt(count("insert"))} inserted, ` +
        `${fmtInt(count("update"))} updated, ${fmtInt(count("delete"))} deleted`;
  status(`v${from} → v${to}: ${which}. Read with ${costText(cost)}.`, "ok", cost);
  more.disabled = changes.length < PAGE_ROWS;
}

/** The row-level history's control: the next page of changes. */
export function wireRowHistory(): void {
  $("more-changes").addEventListener("click", () => {
    if (shown) void load(shown.from, shown.to, true);
  });
}
