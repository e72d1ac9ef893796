/**
 * What the table view and the row-level history share: their status lines
 * (text, `data-kind` loading/ok/error, and a page's cost in `data-*` for
 * the tests), the cost of a page in words, and a page's read that, when it
 * fails while still wanted, empties its table and says why.
 */
import { $, el, fmtBytes, fmtInt } from "./dom.ts";
import type { PageCost } from "./rows-reader.ts";
import { explain } from "./state.ts";

const plural = (n: number, one: string, many = `${one}s`) => `${fmtInt(n)} ${n === 1 ? one : many}`;

/** A page's cost as a status line says it. */
export function costText(c: PageCost): string {
  if (c.requests === 0) return "no HTTP request (what it needed was read already)";
  const footers =
    c.footers === 0 ? "no footer" : `${plural(c.footers, "footer")} (${plural(c.footerRequests, "request")})`;
  return (
    `${plural(c.requests, "HTTP range request")} ` +
    `(${fmtBytes(c.bytesRead)}; ${footers}, ${plural(c.rowGroups, "row group")} read from)`
  );
}

/** Sets the status line `id`: its text, its kind and (a page read) its cost. */
export function setStatus(id: string, text: string, kind: "loading" | "ok" | "error", cost?: PageCost): void {
  const s = $(id);
  s.textContent = text;
  s.className = kind === "error" ? "line bad" : "line";
  s.dataset.kind = kind;
  for (const k of ["requests", "footers", "rowGroups", "bytes"]) delete s.dataset[k];
  if (cost) {
    s.dataset.requests = String(cost.requests);
    s.dataset.footers = String(cost.footers);
    s.dataset.rowGroups = String(cost.rowGroups);
    s.dataset.bytes = String(cost.bytesRead);
  }
}

/**
 * Runs a page's `read`; `undefined` when it failed (then, if still
 * `alive()`, table `tableId` is emptied and status `statusId` says why) or
 * when it is no longer wanted.
 */
export async function readPage<T>(
  read: () => Promise<T>,
  alive: () => boolean,
  tableId: string,
  statusId: string,
): Promise<T | undefined> {
  try {
    const got = await read();
    return alive() ? got : undefined;
  } catch (e) {
    if (alive()) {
      $(tableId).replaceChildren(el("thead"), el("tbody"));
      setStatus(statusId, explain(e), "error");
    }
    return undefined;
  }
}

/**
 * The summary's facts, in the order of the page's `#preview-summary` (rows, row groups, compression,
 * size, level, sequence, written by); "–" until a preview fills them, so loading one moves nothing.
 */
export function renderFacts(values: string[] = []): void {
  $("preview-summary")
    .querySelectorAll("dd")
    .forEach((dd, i) => {
      dd.textContent = values[i] ?? "–";
    });
}

export function clearPreview(message: string, kind?: string): void {
  const status = $("preview-status");
  status.textContent = message;
  status.className = kind && kind !== "loading" ? "line bad" : "line";
  if (kind) status.dataset.kind = kind;
  else delete status.dataset.kind;
  delete status.dataset.requests;
  renderFacts();
  for (const id of ["meru-schema", "pq-schema"]) $(id).replaceChildren();
  $("rows").replaceChildren(el("thead"), el("tbody"));
}
