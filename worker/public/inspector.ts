/**
 * The browser inspector: reads a mirrored table with the library's
 * read-only table reader over `HttpStore`, either through the worker's
 * object route (`/objects/{table}/`) or from any bucket URL the page can
 * reach (`?url=`). The table view shows the selected snapshot's logical
 * rows (merutable's read: per key the newest row, deletes applied), a page
 * at a time, with a key search; selecting a data file previews it
 * (parquet-preview.ts: schema, row groups, compression, its physical rows,
 * read with Range requests); History compares two snapshots, by files and
 * row by row; the worker's status API adds source HEAD, lag and the lag of
 * the last hour. Bundled by scripts/build-inspector.ts.
 *
 * The page's modules: state.ts (the token, the worker's API, the table
 * being viewed), snapshot-view.ts (timeline and file list), meru.ts
 * (merutable's schema and keys as text), charts.ts (SVG charts: lag,
 * levels), history-view.ts (two snapshots compared by files),
 * page-status.ts (status lines), dom.ts (DOM helpers): what the first paint
 * needs. Loaded after it (lazy.ts): rows-views.ts (table-view.ts, the
 * table's rows; row-history.ts, the rows two snapshots differ by;
 * rows-reader.ts, how rows and changes are read and what a page cost;
 * cells.ts, values as table cells) when the table view first shows rows,
 * and file-preview.ts (with preview-rows.ts and parquet-preview.ts) when a
 * data file is first previewed. This entry opens a table, follows its HEAD
 * and wires the page's controls.
 */
import { errorCodeOf } from "../../src/errors.ts";
import { snapshotTotals } from "../../src/manifest/live.ts";
import { verifyMirror } from "../../src/mirror/reader.ts";
import { HttpStore } from "../../src/store/http.ts";
import { retrying } from "../../src/store/retrying.ts";
import { renderLagChart } from "./charts.ts";
import { $, fmtBytes, fmtInt } from "./dom.ts";
import { renderDrill } from "./drill-view.ts";
import { renderHistory, renderHistoryChoices } from "./history-view.ts";
import { checkpointView, renderTable, renderViews } from "./lazy.ts";
import { clearPreview } from "./page-status.ts";
import {
  askedVersion,
  followExpired,
  readAsked,
  renderBoundary,
  renderRetention,
  retentionNotice,
} from "./retention-view.ts";
import { renderSnapshot, renderTimeline, select } from "./snapshot-view.ts";
import {
  api,
  authHeaders,
  explain,
  type MirrorStatusJson,
  NEEDS_TOKEN,
  PageTable,
  type Snapshot,
  setView,
  type View,
  view,
} from "./state.ts";

const REFRESH_MS = 2_000;
const MAX_SNAPSHOTS = 40;

let timer: ReturnType<typeof setTimeout> | undefined;

function open(table: string | undefined, url: string): void {
  let store: HttpStore;
  try {
    // The credential goes to the worker's own object route only.
    store = new HttpStore(url, table ? { headers: authHeaders } : {});
  } catch (e) {
    $("error").textContent = (e as Error).message;
    return;
  }
  // Retried: a browser on a flaky network sees Transient errors now and then.
  const reader = new PageTable(retrying(store, { maxAttempts: 3 }));
  const v: View = {
    table,
    store,
    reader,
    head: -1,
    snapshots: [],
    selected: undefined,
    file: undefined,
  };
  setView(v);
  $("source").textContent = store.id;
  const q = new URLSearchParams(location.search);
  if (table) {
    q.set("table", table);
    q.delete("url");
  } else {
    q.set("url", url);
    q.delete("table");
  }
  history.replaceState(null, "", `?${q}`);
  if (timer) clearTimeout(timer);
  retentionNotice(true);
  clearPreview("Select a data file to see its schema and first rows.");
  void refresh();
}

async function refresh(): Promise<void> {
  const v = view;
  if (!v) return;
  try {
    const head = await v.reader.head();
    if (head !== v.head) {
      const snaps: Snapshot[] = [];
      // Reuse manifests already read: a snapshot never changes once written.
      const known = new Map(v.snapshots.map((s) => [s.version, s]));
      // From the HEAD just read: a second discovery could race a commit ahead of it.
      for await (const s of head === 0 ? [] : v.reader.snapshots(head)) {
        snaps.push(known.get(s.version) ?? s);
        if (snaps.length >= MAX_SNAPSHOTS) break;
      }
      // The oldest version retained; a version the address asks for (?version=N), read as any reader reads it.
      const oldest = await v.reader.retentionBoundary();
      const asked = askedVersion();
      const pinned =
        asked === undefined || snaps.some((s) => s.version === asked)
          ? undefined
          : (known.get(asked) ?? (await readAsked(v, asked)));
      if (pinned) snaps.push(pinned);
      if (view !== v) return;
      renderBoundary(oldest);
      followExpired(v.selected, snaps, oldest);
      if (v.head === -1 && asked !== undefined && snaps.some((s) => s.version === asked)) v.selected = asked;
      // Follow HEAD unless the user picked an older snapshot that is still there.
      const following = v.selected === undefined || v.selected === v.head;
      v.head = head;
      v.snapshots = snaps;
      v.reader.known = new Map(snaps.map((s) => [s.version, s]));
      if (following || !snaps.some((s) => s.version === v.selected)) v.selected = snaps[0]?.version;
      renderHead();
      renderTimeline();
      renderSnapshot();
      renderTable();
      renderHistoryChoices();
    }
    $("error").textContent = retentionNotice();
    await renderStatus();
  } catch (e) {
    $("error").textContent = v.table && errorCodeOf(e) === "PermissionDenied" ? NEEDS_TOKEN : explain(e);
  }
  if (view === v) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function renderHead(): void {
  const v = view;
  if (!v) return;
  $("head").textContent = String(v.head);
  $("head").dataset.version = String(v.head);
  // The totals every summary reports (the CLI's inspect and the API's too).
  const t = v.snapshots[0] ? snapshotTotals(v.snapshots[0].manifest) : { files: 0, rows: 0, bytes: 0 };
  $("files-count").textContent = fmtInt(t.files);
  $("rows-count").textContent = fmtInt(t.rows);
  $("bytes").textContent = fmtBytes(t.bytes);
}

/** Source HEAD, lag, counters and the lag chart from the worker's status API (absent for a plain bucket URL). */
async function renderStatus(): Promise<void> {
  const v = view;
  if (!v?.table) {
    for (const id of ["source-head", "lag", "uploaded"]) $(id).textContent = "n/a";
    renderLagChart(undefined);
    renderRetention(undefined);
    renderViews(undefined);
    renderDrill(undefined);
    return;
  }
  const r = await api(`/api/tables/${encodeURIComponent(v.table)}/status`);
  if (!r.ok) {
    if (r.status === 401 || r.status === 403) $("error").textContent = NEEDS_TOKEN;
    return;
  }
  const m = ((await r.json()) as { mirror?: MirrorStatusJson }).mirror;
  if (!m || view !== v) return;
  $("source-head").textContent = m.sourceHead === null ? "–" : String(m.sourceHead);
  $("lag").textContent = m.lagSeconds === null ? "–" : `${m.lagSeconds.toFixed(1)} s`;
  $("uploaded").textContent = fmtInt(m.counters.files);
  if (m.lastError) $("error").textContent = `last mirror error: ${m.lastError.message}`;
  renderLagChart(m.lagHistory);
  renderRetention(m.retention);
  renderViews(m.iceberg);
  renderDrill(m.drill);
}

async function verify(): Promise<void> {
  const v = view;
  if (!v?.selected) return;
  const out = $("verify-result");
  out.textContent = "verifying…";
  out.className = "muted";
  try {
    const r = await verifyMirror(v.store, v.selected);
    out.textContent = r.ok
      ? `v${r.version}: ok, every file present with the right size`
      : `v${r.version}: ${r.missing.length} missing, ${r.wrongSize.length} wrong size`;
    out.className = r.ok ? "ok" : "bad";
  } catch (e) {
    out.textContent = explain(e);
    out.className = "bad";
  }
}

async function main(): Promise<void> {
  const pick = $<HTMLSelectElement>("table");
  const q = new URLSearchParams(location.search);
  const objectsUrl = (t: string) => new URL(`/objects/${encodeURIComponent(t)}/`, location.href).href;
  // The controls work before the table list arrives: a URL submitted while
  // it loads must not reach the browser's own form submission (a reload),
  // nor be replaced by the first table when the list comes.
  let chosen = false;
  pick.addEventListener("change", () => {
    chosen = true;
    open(pick.value, objectsUrl(pick.value));
  });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $<HTMLInputElement>("url").value.trim();
    if (url) {
      chosen = true;
      open(undefined, url);
    }
  });
  $("verify").addEventListener("click", () => void verify());
  // The key search's handler comes with the table view's code (lazy.ts): until then it must not submit the page.
  $("key-form").addEventListener("submit", (e) => e.preventDefault());
  // Charts are drawn at their box's width: redraw them when it changes.
  let resized: ReturnType<typeof setTimeout> | undefined;
  addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      renderTimeline();
      renderSnapshot();
    }, 150);
  });
  $("snapshot").addEventListener("change", (e) => select(Number((e.target as HTMLSelectElement).value)));
  $<HTMLInputElement>("internal").addEventListener("change", (e) =>
    $("rows").classList.toggle("show-internal", (e.target as HTMLInputElement).checked),
  );
  for (const id of ["from", "to"]) {
    $(id).addEventListener("change", () => {
      $(id).dataset.chosen = "1";
      renderHistory();
    });
  }
  const url = q.get("url");
  if (url) {
    chosen = true;
    $<HTMLInputElement>("url").value = url;
    open(undefined, url);
  }
  let tables: string[] = [];
  try {
    const r = await api("/api/tables");
    if (r.ok) tables = ((await r.json()) as { tables: string[] }).tables;
    else if (r.status === 401) $("error").textContent = NEEDS_TOKEN;
  } catch {
    // Served from somewhere without the worker API: a bucket URL only.
  }
  for (const t of tables) pick.append(new Option(t, t));
  void openCheckpointRoots();
  const table = q.get("table") ?? tables[0];
  if (!chosen && table) {
    pick.value = table;
    open(table, objectsUrl(table));
  }
}

/** The worker's checkpoint roots, if any: their view loads after the first paint (lazy.ts). */
async function openCheckpointRoots(): Promise<void> {
  try {
    const r = await api("/api/checkpoints");
    const roots = r.ok ? ((await r.json()) as { roots: string[] }).roots : [];
    if (roots.length > 0) (await checkpointView()).openCheckpoints(roots);
  } catch {
    // No worker API (a bucket URL only), or no roots.
  }
}

void main();
