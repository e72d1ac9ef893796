/**
 * The browser inspector: reads a mirrored table with the library's read-only
 * reader (`openMirror` over `HttpStore`), either through the worker's object
 * route (`/objects/{table}/`) or from any bucket URL the page can reach
 * (`?url=`). Selecting a data file previews it (parquet-preview.ts: schema,
 * row groups, compression, first rows, read with Range requests); History
 * compares two snapshots; the worker's status API adds source HEAD, lag and
 * the lag of the last hour. Bundled by scripts/build-inspector.ts.
 *
 * The worker's reads are private: the page carries a read token taken from
 * its URL fragment (`#token=...`, which `npm start` prints; a fragment is
 * never sent to a server) into sessionStorage, and sends it as
 * `Authorization: Bearer` to the worker's own API and object route only,
 * never to a `?url=` bucket; data files of the worker's tables are read
 * through short-lived signed URLs (`/api/tables/:table/sign`), which need no
 * header. Behind Cloudflare Access no token is needed.
 */
import {
  type DataFileRef,
  diffManifests,
  errorCodeOf,
  HttpStore,
  liveDataFiles,
  type Manifest,
  type MirrorReader,
  openMirror,
  retrying,
  snapshotTotals,
  TidemarkError,
  verifyMirror,
} from "../../src/index.ts";
import {
  isNotParquet,
  type MeruSchema,
  meruType,
  PREVIEW_ROWS,
  type Preview,
  parseMeruSchema,
  previewParquet,
  rawValue,
  readableBytes,
  readableInternalKey,
  readableUserKey,
} from "./parquet-preview.ts";

const REFRESH_MS = 2_000;
const TOKEN_KEY = "tidemark.readToken";

/** The read token: from `#token=` (then dropped from the address bar), else this tab's sessionStorage. */
function readToken(): string | undefined {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m?.[1]) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", `${location.pathname}${location.search}`);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

const token = readToken();
/** Headers of requests to the worker itself (its API, its object route, its sign route). */
const authHeaders: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
/** A GET of the worker's API with the page's credential. */
const api = (path: string) => fetch(path, { headers: authHeaders });
const NEEDS_TOKEN =
  "this page needs a read token: open the URL npm start printed, or add #token=<READ_TOKEN> to the address";
const MAX_SNAPSHOTS = 40;
const HOUR_MS = 3_600_000;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  cls?: string,
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag: string, attrs: Record<string, string | number>, text?: string): SVGElement => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};
/** A chart as wide as its box (drawn in pixels, so text keeps its size); redrawn on every update. */
const chartSvg = (width: number, height: number, label: string) =>
  svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label });
const widthOf = (box: HTMLElement) => Math.max(240, box.clientWidth || 420);

function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
const fmtInt = (n: number | bigint) => n.toLocaleString("en-US");
const signed = (n: number, f: (n: number) => string = fmtInt) =>
  n > 0 ? `+${f(n)}` : n < 0 ? `−${f(-n)}` : "±0";

interface Snapshot {
  version: number;
  manifest: Manifest;
}

interface View {
  table: string | undefined;
  store: HttpStore;
  reader: MirrorReader;
  head: number;
  snapshots: Snapshot[];
  selected: number | undefined;
  /** The data file being previewed. */
  file: string | undefined;
}

let view: View | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

/** Signed URLs of the worker's data files, by table and key, until shortly before they expire. */
const signedUrls = new Map<string, { url: string; expiresAt: number }>();

/**
 * The URL a data file is read from: for a table of this worker, a
 * short-lived signed URL (GET/HEAD/Range without a header, so the Parquet
 * reader needs no credential); for a bucket URL typed in, the object's URL.
 */
async function fileUrl(v: View, key: string): Promise<string> {
  if (!v.table) return v.store.url(key);
  const id = `${v.table}\n${key}`;
  const known = signedUrls.get(id);
  if (known && known.expiresAt - Date.now() > 30_000) return known.url;
  const r = await api(`/api/tables/${encodeURIComponent(v.table)}/sign?key=${encodeURIComponent(key)}`);
  // No signing key configured (501): the object route with the page's credential cannot be
  // used by a plain fetch, so say what is missing.
  if (!r.ok) {
    throw new TidemarkError(
      r.status === 401 || r.status === 403 ? "PermissionDenied" : "NotSupported",
      `cannot sign a URL for ${key}: HTTP ${r.status}`,
      { key },
    );
  }
  const { url, expiresAt } = (await r.json()) as { url: string; expiresAt: string };
  signedUrls.set(id, { url: new URL(url, location.href).href, expiresAt: Date.parse(expiresAt) });
  return new URL(url, location.href).href;
}

/** merutable's schema of snapshot `s` (the manifest property), if it has one. */
const schemaOf = (s: Snapshot | undefined): MeruSchema | undefined =>
  parseMeruSchema(s?.manifest.properties["merutable.schema.json"]);

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
  view = {
    table,
    store,
    reader: openMirror(retrying(store, { maxAttempts: 3 })),
    head: -1,
    snapshots: [],
    selected: undefined,
    file: undefined,
  };
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
      if (view !== v) return;
      // Follow HEAD unless the user picked an older snapshot that is still there.
      const following = v.selected === undefined || v.selected === v.head;
      v.head = head;
      v.snapshots = snaps;
      if (following || !snaps.some((s) => s.version === v.selected)) v.selected = snaps[0]?.version;
      renderHead();
      renderTimeline();
      renderSnapshot();
      renderHistoryChoices();
    }
    $("error").textContent = "";
    await renderStatus();
  } catch (e) {
    $("error").textContent = v.table && errorCodeOf(e) === "PermissionDenied" ? NEEDS_TOKEN : explain(e);
  }
  if (view === v) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

/** An error as a person should read it. */
function explain(e: unknown): string {
  const m = (e as Error).message;
  switch (errorCodeOf(e)) {
    case "PermissionDenied":
      return `Not authorised (HTTP 401/403): this mirror needs a read credential. ${m}`;
    case "NotFound":
      return `Not found (HTTP 404): ${m}`;
    case "Transient":
      return `The mirror cannot be reached right now (network error, HTTP 429 or 5xx); retrying. ${m}`;
    default:
      return m;
  }
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

interface MirrorStatusJson {
  sourceHead: number | null;
  lagSeconds: number | null;
  counters: { files: number };
  lastError: { message: string } | null;
  lagHistory?: Array<{ atMs: number; lagSeconds: number | null }>;
}

/** Source HEAD, lag, counters and the lag chart from the worker's status API (absent for a plain bucket URL). */
async function renderStatus(): Promise<void> {
  const v = view;
  if (!v?.table) {
    for (const id of ["source-head", "lag", "uploaded"]) $(id).textContent = "n/a";
    renderLagChart(undefined);
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
}

function renderLagChart(samples: MirrorStatusJson["lagHistory"]): void {
  const box = $("lag-chart");
  if (!samples) {
    box.replaceChildren(el("p", "n/a: no mirror status for a bucket URL", "muted"));
    return;
  }
  const w = widthOf(box);
  const h = 90;
  const now = Date.now();
  const known = samples.filter((s) => s.lagSeconds !== null);
  const max = Math.max(1, ...known.map((s) => s.lagSeconds ?? 0));
  const x = (t: number) => 30 + ((t - (now - HOUR_MS)) / HOUR_MS) * (w - 40);
  const y = (lag: number) => 70 - (lag / max) * 60;
  const worst = known.length ? Math.max(...known.map((s) => s.lagSeconds ?? 0)) : undefined;
  const svg = chartSvg(
    w,
    h,
    worst === undefined
      ? "no lag measured in the last hour"
      : `lag over the last hour, at most ${worst.toFixed(1)} s`,
  );
  svg.append(
    svgEl("line", { x1: 30, x2: w - 10, y1: 70, y2: 70, stroke: "#dfe3ea" }),
    svgEl("text", { x: 0, y: 14 }, `${max.toFixed(max < 10 ? 1 : 0)} s`),
    svgEl("text", { x: 0, y: 74 }, "0 s"),
    svgEl("text", { x: 30, y: 86 }, "60 min ago"),
    svgEl("text", { x: w - 10, y: 86, "text-anchor": "end" }, "now"),
  );
  // One polyline per run of measured samples: an unmeasured bucket is a gap.
  let run: string[] = [];
  const flush = () => {
    if (run.length > 1) svg.append(svgEl("polyline", { points: run.join(" "), class: "lag" }));
    run = [];
  };
  for (const s of samples) {
    if (s.lagSeconds === null || s.atMs < now - HOUR_MS) {
      flush();
      continue;
    }
    const p = `${x(s.atMs).toFixed(1)},${y(s.lagSeconds).toFixed(1)}`;
    run.push(p);
    const dot = svgEl("circle", { cx: x(s.atMs), cy: y(s.lagSeconds), r: 2.5, class: "lagdot" });
    dot.append(svgEl("title", {}, `${new Date(s.atMs).toLocaleTimeString()}: ${s.lagSeconds.toFixed(1)} s`));
    svg.append(dot);
  }
  flush();
  box.replaceChildren(svg);
}

function select(version: number): void {
  const v = view;
  if (!v) return;
  v.selected = version;
  renderTimeline();
  renderSnapshot();
}

function renderTimeline(): void {
  const v = view;
  const box = $("timeline");
  if (!v || v.snapshots.length === 0) {
    box.replaceChildren(el("p", "no snapshots yet", "muted"));
    return;
  }
  const snaps = [...v.snapshots].reverse();
  const width = widthOf(box);
  const pad = 24;
  const times = snaps.map((s) => Number(s.manifest.lastUpdatedMs));
  const t0 = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - t0);
  const x = (i: number) =>
    snaps.length === 1
      ? width / 2
      : pad +
        ((times[i]! - t0) / span) * (width - 2 * pad) * 0.5 +
        (i / (snaps.length - 1)) * (width - 2 * pad) * 0.5;
  const svg = chartSvg(width, 70, "snapshot timeline");
  svg.append(
    svgEl("line", { x1: pad, x2: width - pad, y1: 30, y2: 30, stroke: "#dfe3ea", "stroke-width": 2 }),
  );
  const labelEvery = Math.ceil(snaps.length / Math.max(2, Math.floor(width / 48)));
  snaps.forEach((s, i) => {
    const label = `v${s.version} · ${new Date(times[i]!).toLocaleTimeString()} · ${liveDataFiles(s.manifest).length} files`;
    const dot = svgEl("circle", {
      cx: x(i),
      cy: 30,
      r: 7,
      class: `dot${s.version === v.selected ? " sel" : ""}`,
      tabindex: 0,
      role: "button",
      "aria-label": label,
      "aria-pressed": String(s.version === v.selected),
    });
    dot.append(svgEl("title", {}, label));
    dot.addEventListener("click", () => select(s.version));
    dot.addEventListener("keydown", (e) => {
      const k = (e as KeyboardEvent).key;
      if (k === "Enter" || k === " ") {
        e.preventDefault();
        select(s.version);
        $("timeline").querySelector<SVGElement>(`[aria-pressed="true"]`)?.focus();
      }
    });
    svg.append(dot);
    if (i % labelEvery === 0 || i === snaps.length - 1) {
      svg.append(svgEl("text", { x: x(i), y: 56, "text-anchor": "middle" }, `v${s.version}`));
    }
  });
  box.replaceChildren(svg);
}

function renderSnapshot(): void {
  const v = view;
  const s = v?.snapshots.find((x) => x.version === v.selected);
  $("sel-version").textContent = s ? `v${s.version}` : "";
  $("verify-result").textContent = "";
  const pick = $<HTMLSelectElement>("snapshot");
  pick.replaceChildren(...(v?.snapshots ?? []).map((x) => new Option(`v${x.version}`, String(x.version))));
  if (s) pick.value = String(s.version);
  const schema = schemaOf(s);
  const body = $("files");
  body.replaceChildren();
  const levels = new Map<number, number>();
  for (const f of s ? liveDataFiles(s.manifest) : []) {
    levels.set(f.level, (levels.get(f.level) ?? 0) + Number(f.fileSize));
    const tr = el("tr");
    if (f.path === v?.file) tr.className = "sel";
    const cell = el("td", undefined, "path");
    const button = el("button", f.path);
    button.type = "button";
    button.title = `preview ${f.path}`;
    button.dataset.path = f.path;
    button.addEventListener("click", () => void preview(f.path));
    cell.append(button);
    const key = (b: Uint8Array) => readableUserKey(b, schema) ?? readableBytes(b);
    const range = f.keyMin.length || f.keyMax.length ? `${key(f.keyMin)} … ${key(f.keyMax)}` : "";
    tr.append(
      cell,
      el("td", `L${f.level}`),
      el("td", fmtBytes(Number(f.fileSize)), "num"),
      el("td", fmtInt(f.numRows), "num"),
      el("td", range, "mono"),
    );
    body.append(tr);
  }
  renderLevels(levels);
}

function renderLevels(levels: Map<number, number>): void {
  const box = $("levels");
  const rows = [...levels.entries()].sort((a, b) => a[0] - b[0]);
  if (rows.length === 0) {
    box.replaceChildren();
    return;
  }
  const max = Math.max(...rows.map((r) => r[1]));
  const barH = 18;
  const width = widthOf(box);
  const svg = chartSvg(width, rows.length * (barH + 6), "size per level");
  rows.forEach(([level, bytes], i) => {
    const y = i * (barH + 6);
    const w = Math.max(2, (bytes / max) * (width - 140));
    svg.append(
      svgEl("text", { x: 0, y: y + 13 }, `L${level}`),
      svgEl("rect", { x: 30, y, width: w, height: barH, rx: 3, class: "bar" }),
      svgEl("text", { x: 36 + w, y: y + 13 }, fmtBytes(bytes)),
    );
  });
  box.replaceChildren(svg);
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

// --- file preview ------------------------------------------------------------

/**
 * The summary's facts, in the order of the page's `#preview-summary` (rows, row groups, compression,
 * size, level, sequence, written by); "–" until a preview fills them, so loading one moves nothing.
 */
function renderFacts(values: string[] = []): void {
  $("preview-summary")
    .querySelectorAll("dd")
    .forEach((dd, i) => {
      dd.textContent = values[i] ?? "–";
    });
}

function clearPreview(message: string, kind?: string): void {
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

/** A file's preview error as the page names it: unauthorised, not found, not Parquet, corrupt, unreachable. */
function previewError(e: unknown, path: string): [kind: string, message: string] {
  const code = errorCodeOf(e);
  if (code === "PermissionDenied") return ["unauthorised", `Not authorised to read ${path} (HTTP 401/403).`];
  if (code === "NotFound") {
    return [
      "not-found",
      `${path} is not on the mirror (HTTP 404): expired at the source, or not mirrored yet.`,
    ];
  }
  if (isNotParquet(e)) return ["not-parquet", `${path} is not a Parquet file (no PAR1 magic).`];
  if (code === "Corrupt") return ["corrupt", `Corrupt file: ${(e as Error).message}`];
  if (code === "Transient")
    return ["unreachable", `Cannot reach the mirror (network error, 429 or 5xx): try again.`];
  return ["error", (e as Error).message];
}

async function preview(path: string): Promise<void> {
  const v = view;
  const s = v?.snapshots.find((x) => x.version === v.selected);
  const entry = s && liveDataFiles(s.manifest).find((f) => f.path === path);
  if (!v || !s || !entry) return;
  v.file = path;
  for (const tr of $("files").querySelectorAll("tr")) {
    tr.classList.toggle("sel", tr.querySelector("button")?.dataset.path === path);
  }
  $("preview-path").textContent = path;
  clearPreview(`Reading ${path}…`, "loading");
  let p: Preview;
  try {
    p = await previewParquet({ key: path, size: Number(entry.fileSize), url: () => fileUrl(v, path) });
  } catch (e) {
    if (view !== v || v.file !== path) return;
    const [kind, message] = previewError(e, path);
    clearPreview(message, kind);
    return;
  }
  if (view !== v || v.file !== path) return;
  const status = $("preview-status");
  status.textContent = `First ${fmtInt(p.rows.length)} of ${fmtInt(p.numRows)} rows, read with ${p.requests} HTTP range request${p.requests === 1 ? "" : "s"}.`;
  status.className = "line ok";
  status.dataset.kind = "ok";
  status.dataset.requests = String(p.requests);
  const schema = schemaOf(s) ?? parseMeruSchema(p.kv["merutable.schema"]);
  renderFacts([
    `${fmtInt(p.numRows)}${p.numRows === Number(entry.numRows) ? "" : ` (manifest: ${fmtInt(entry.numRows)})`}`,
    fmtInt(p.rowGroups),
    p.compression.join(", "),
    fmtBytes(Number(entry.fileSize)),
    `L${entry.level}${entry.format === 1 ? " (dual)" : entry.format === 0 ? " (columnar)" : ""}`,
    `${entry.seqMin} … ${entry.seqMax}`,
    p.createdBy || "–",
  ]);
  $("meru-schema").replaceChildren(
    ...(schema
      ? schema.columns.map((c, i) => {
          const tr = el("tr");
          const key = schema.primary_key.indexOf(i);
          tr.append(
            el("td", c.name, "mono"),
            el("td", meruType(c.col_type)),
            el("td", c.nullable ? "yes" : "no"),
            el("td", key < 0 ? "" : `PK ${key + 1}`),
            el("td", c.field_id == null ? "" : String(c.field_id), "num"),
          );
          return tr;
        })
      : [el("tr")]),
  );
  if (!schema) $("meru-schema").firstElementChild?.append(el("td", "no merutable.schema.json", "muted"));
  $("pq-schema").replaceChildren(
    ...p.columns.map((c) => {
      const tr = el("tr");
      tr.append(
        el("td", c.name, "mono"),
        el("td", c.type),
        el("td", c.repetition),
        el("td", c.codec),
        el("td", c.encodings),
      );
      return tr;
    }),
  );
  renderRows(p, schema);
}

const INTERNAL = "_merutable_";

/** A cell as shown: keys decoded, binary readable, NULL marked. */
function showValue(
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

function renderRows(p: Preview, schema: MeruSchema | undefined): void {
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

// --- history -------------------------------------------------------------------

function renderHistoryChoices(): void {
  const v = view;
  const from = $<HTMLSelectElement>("from");
  const to = $<HTMLSelectElement>("to");
  const versions = (v?.snapshots ?? []).map((s) => s.version);
  const keep = (sel: HTMLSelectElement, dflt: number | undefined) => {
    const was = Number(sel.value);
    sel.replaceChildren(...versions.map((x) => new Option(`v${x}`, String(x))));
    const value = sel.dataset.chosen === "1" && versions.includes(was) ? was : dflt;
    if (value !== undefined) sel.value = String(value);
  };
  keep(to, versions[0]);
  keep(from, versions[1] ?? versions[0]);
  renderHistory();
}

function renderHistory(): void {
  const v = view;
  const find = (id: string) => v?.snapshots.find((s) => s.version === Number($<HTMLSelectElement>(id).value));
  const a = find("from");
  const b = find("to");
  const out = $("history-summary");
  if (!a || !b) {
    out.textContent = v?.snapshots.length ? "" : "no snapshots yet";
    $("added").replaceChildren();
    $("removed").replaceChildren();
    return;
  }
  const d = diffManifests(a.manifest, b.manifest);
  const before = liveDataFiles(a.manifest);
  const after = liveDataFiles(b.manifest);
  // The same totals as the header and the CLI (snapshotTotals), as differences.
  const [ta, tb] = [snapshotTotals(a.manifest), snapshotTotals(b.manifest)];
  const rows = tb.rows - ta.rows;
  const bytes = tb.bytes - ta.bytes;
  out.textContent =
    a.version === b.version
      ? `v${a.version}: the same snapshot`
      : `v${a.version} → v${b.version}: ${d.added.length} files added, ${d.removed.length} removed; ` +
        `rows ${signed(rows)} (${fmtInt(ta.rows)} → ${fmtInt(tb.rows)}), ` +
        `bytes ${signed(bytes, fmtBytes)}`;
  out.dataset.rows = String(rows);
  const list = (id: string, paths: string[], files: DataFileRef[]) => {
    const byPath = new Map(files.map((f) => [f.path, f]));
    $(id).replaceChildren(
      ...paths.map((p) => {
        const f = byPath.get(p);
        const tr = el("tr");
        tr.append(
          el("td", p, "path"),
          el("td", f ? `L${f.level}` : ""),
          el("td", f ? `${fmtInt(f.numRows)} rows` : "", "num"),
          el("td", f ? fmtBytes(Number(f.fileSize)) : "", "num"),
        );
        return tr;
      }),
    );
  };
  list("added", d.added, after);
  list("removed", d.removed, before);
}

async function main(): Promise<void> {
  const pick = $<HTMLSelectElement>("table");
  const q = new URLSearchParams(location.search);
  const objectsUrl = (t: string) => new URL(`/objects/${encodeURIComponent(t)}/`, location.href).href;
  let tables: string[] = [];
  try {
    const r = await api("/api/tables");
    if (r.ok) tables = ((await r.json()) as { tables: string[] }).tables;
    else if (r.status === 401) $("error").textContent = NEEDS_TOKEN;
  } catch {
    // Served from somewhere without the worker API: a bucket URL only.
  }
  for (const t of tables) pick.append(new Option(t, t));
  pick.addEventListener("change", () => open(pick.value, objectsUrl(pick.value)));
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $<HTMLInputElement>("url").value.trim();
    if (url) open(undefined, url);
  });
  $("verify").addEventListener("click", () => void verify());
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
  const table = q.get("table") ?? tables[0];
  if (url) {
    $<HTMLInputElement>("url").value = url;
    open(undefined, url);
  } else if (table) {
    pick.value = table;
    open(table, objectsUrl(table));
  }
}

void main();
