/**
 * The browser inspector: reads a mirrored table with the library's read-only
 * reader (`openMirror` over `HttpStore`), either through the worker's object
 * route (`/objects/{table}/`) or from any public bucket URL (`?url=`). The
 * worker's status API adds source HEAD and lag when available. Bundled by
 * scripts/build-inspector.ts into inspector.js.
 *
 * The worker's reads are private: the page carries a read token taken from
 * its URL fragment (`#token=...`, which `npm start` prints; a fragment is
 * never sent to a server) into sessionStorage, and sends it as
 * `Authorization: Bearer` to the worker's own API and object route only,
 * never to a `?url=` bucket. Behind Cloudflare Access no token is needed.
 */
import {
  HttpStore,
  liveDataFiles,
  type Manifest,
  type MirrorReader,
  openMirror,
  retrying,
  verifyMirror,
} from "../../src/index.ts";

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

function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const dec = new TextDecoder();
/** A key bound as text when printable ASCII, else hex. */
function fmtKey(b: Uint8Array): string {
  if (b.length === 0) return "";
  if (b.every((x) => x >= 0x20 && x < 0x7f)) return dec.decode(b);
  return `0x${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

interface View {
  table: string | undefined;
  store: HttpStore;
  reader: MirrorReader;
  head: number;
  snapshots: Array<{ version: number; manifest: Manifest }>;
  selected: number | undefined;
}

let view: View | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

function open(table: string | undefined, url: string): void {
  // Retried: a browser on a flaky network sees Transient errors now and then.
  // The credential goes to the worker's own object route only.
  const store = new HttpStore(url, table ? { headers: authHeaders } : {});
  view = {
    table,
    store,
    reader: openMirror(retrying(store, { maxAttempts: 3 })),
    head: -1,
    snapshots: [],
    selected: undefined,
  };
  $("source").textContent = url;
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
  void refresh();
}

async function refresh(): Promise<void> {
  const v = view;
  if (!v) return;
  try {
    const head = await v.reader.head();
    if (head !== v.head) {
      const snaps: View["snapshots"] = [];
      // Reuse manifests already read: a snapshot never changes once written.
      const known = new Map(v.snapshots.map((s) => [s.version, s]));
      // From the HEAD just read: a second discovery could race a commit ahead of it.
      for await (const s of head === 0 ? [] : v.reader.snapshots(head)) {
        const k = known.get(s.version);
        snaps.push(k ?? s);
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
    }
    await renderStatus();
    $("error").textContent = "";
  } catch (e) {
    const denied = /PermissionDenied/.test((e as Error).message) && v.table;
    $("error").textContent = denied ? NEEDS_TOKEN : (e as Error).message;
  }
  if (view === v) timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function renderHead(): void {
  const v = view;
  if (!v) return;
  $("head").textContent = String(v.head);
  $("head").dataset.version = String(v.head);
  const m = v.snapshots[0]?.manifest;
  const files = m ? liveDataFiles(m) : [];
  $("files-count").textContent = String(files.length);
  $("bytes").textContent = fmtBytes(files.reduce((s, f) => s + Number(f.fileSize), 0));
}

/** Source HEAD, lag and counters from the worker's status API (absent for a plain bucket URL). */
async function renderStatus(): Promise<void> {
  const v = view;
  if (!v?.table) {
    for (const id of ["source-head", "lag", "uploaded"]) $(id).textContent = "n/a";
    return;
  }
  const r = await api(`/api/tables/${encodeURIComponent(v.table)}/status`);
  if (!r.ok) return;
  const st = (await r.json()) as {
    mirror?: {
      sourceHead: number | null;
      lagSeconds: number | null;
      counters: { files: number };
      lastError: { message: string } | null;
    };
  };
  const m = st.mirror;
  if (!m || view !== v) return;
  $("source-head").textContent = m.sourceHead === null ? "–" : String(m.sourceHead);
  $("lag").textContent = m.lagSeconds === null ? "–" : `${m.lagSeconds.toFixed(1)} s`;
  $("uploaded").textContent = String(m.counters.files);
  if (m.lastError) $("error").textContent = `last mirror error: ${m.lastError.message}`;
}

function renderTimeline(): void {
  const v = view;
  const box = $("timeline");
  box.replaceChildren();
  if (!v || v.snapshots.length === 0) {
    box.append(el("p", "no snapshots yet", "muted"));
    return;
  }
  const snaps = [...v.snapshots].reverse();
  const width = Math.max(600, box.clientWidth || 900);
  const height = 70;
  const pad = 30;
  const times = snaps.map((s) => Number(s.manifest.lastUpdatedMs));
  const t0 = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - t0);
  const x = (i: number) =>
    snaps.length === 1
      ? width / 2
      : pad +
        ((times[i]! - t0) / span) * (width - 2 * pad) * 0.5 +
        (i / (snaps.length - 1)) * (width - 2 * pad) * 0.5;
  const svg = svgEl("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "snapshot timeline",
  });
  svg.append(
    svgEl("line", { x1: pad, x2: width - pad, y1: 30, y2: 30, stroke: "#dfe3ea", "stroke-width": 2 }),
  );
  snaps.forEach((s, i) => {
    const dot = svgEl("circle", {
      cx: x(i),
      cy: 30,
      r: 7,
      class: `dot${s.version === v.selected ? " sel" : ""}`,
    });
    dot.append(
      svgEl(
        "title",
        {},
        `v${s.version} · ${new Date(times[i]!).toLocaleTimeString()} · ${liveDataFiles(s.manifest).length} files`,
      ),
    );
    dot.addEventListener("click", () => {
      v.selected = s.version;
      renderTimeline();
      renderSnapshot();
    });
    svg.append(dot);
    if (snaps.length <= 20 || i % Math.ceil(snaps.length / 20) === 0 || i === snaps.length - 1) {
      svg.append(svgEl("text", { x: x(i), y: 56, "text-anchor": "middle" }, `v${s.version}`));
    }
  });
  box.append(svg);
}

function renderSnapshot(): void {
  const v = view;
  const s = v?.snapshots.find((x) => x.version === v.selected);
  $("sel-version").textContent = s ? `v${s.version}` : "";
  $("verify-result").textContent = "";
  const body = $("files");
  body.replaceChildren();
  const levels = new Map<number, number>();
  for (const f of s ? liveDataFiles(s.manifest) : []) {
    levels.set(f.level, (levels.get(f.level) ?? 0) + Number(f.fileSize));
    const tr = el("tr");
    const path = el("td", f.path, "path");
    path.title = f.path;
    const range = fmtKey(f.keyMin) || fmtKey(f.keyMax) ? `${fmtKey(f.keyMin)} … ${fmtKey(f.keyMax)}` : "";
    tr.append(
      path,
      el("td", `L${f.level}`),
      el("td", fmtBytes(Number(f.fileSize))),
      el("td", String(f.numRows)),
      el("td", range),
    );
    body.append(tr);
  }
  renderLevels(levels);
}

function renderLevels(levels: Map<number, number>): void {
  const box = $("levels");
  box.replaceChildren();
  const rows = [...levels.entries()].sort((a, b) => a[0] - b[0]);
  if (rows.length === 0) return;
  const max = Math.max(...rows.map((r) => r[1]));
  const barH = 22;
  const width = 420;
  const svg = svgEl("svg", {
    width,
    height: rows.length * (barH + 6) + 4,
    role: "img",
    "aria-label": "size per level",
  });
  rows.forEach(([level, bytes], i) => {
    const y = i * (barH + 6);
    const w = Math.max(2, (bytes / max) * (width - 140));
    svg.append(
      svgEl("text", { x: 0, y: y + 15 }, `L${level}`),
      svgEl("rect", { x: 30, y, width: w, height: barH, rx: 3, class: "bar" }),
      svgEl("text", { x: 36 + w, y: y + 15 }, fmtBytes(bytes)),
    );
  });
  box.append(svg);
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
    out.textContent = (e as Error).message;
    out.className = "bad";
  }
}

async function main(): Promise<void> {
  const select = $<HTMLSelectElement>("table");
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
  for (const t of tables) select.append(new Option(t, t));
  select.addEventListener("change", () => open(select.value, objectsUrl(select.value)));
  $("open").addEventListener("click", () => {
    const url = $<HTMLInputElement>("url").value.trim();
    if (url) open(undefined, url);
  });
  $("verify").addEventListener("click", () => void verify());
  const url = q.get("url");
  const table = q.get("table") ?? tables[0];
  if (url) {
    $<HTMLInputElement>("url").value = url;
    open(undefined, url);
  } else if (table) {
    select.value = table;
    open(table, objectsUrl(table));
  }
}

void main();
