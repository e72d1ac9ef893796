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
  const groups = `${plural(c.rowGroups, "row group")} decoded`;
  if (c.requests === 0) return `no HTTP request (${groups} from bytes already read)`;
  return (
    `${plural(c.requests, "HTTP range request")} ` +
    `(${fmtBytes(c.bytesRead)}; ${plural(c.footers, "footer")} read, ${groups})`
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
