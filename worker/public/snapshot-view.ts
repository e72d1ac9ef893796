/**
 * The snapshot view: the timeline of snapshots (a dot per snapshot,
 * clickable and keyboard-operable), selecting one (`select`, also the
 * snapshot picker), and the selected snapshot's file list (path, level,
 * size, rows, key range; a path button opens its preview) with its
 * size-per-level chart.
 */
import { liveDataFiles } from "../../src/manifest/live.ts";
import { chartSvg, renderLevels, svgEl, widthOf } from "./charts.ts";
import { $, el, fmtBytes, fmtInt } from "./dom.ts";
import { filePreview, renderTable } from "./lazy.ts";
import { readableBytes, readableUserKey } from "./meru.ts";
import { schemaOf, view } from "./state.ts";

export function select(version: number): void {
  const v = view;
  if (!v) return;
  v.selected = version;
  renderTimeline();
  renderSnapshot();
  renderTable();
}

export function renderTimeline(): void {
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

export function renderSnapshot(): void {
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
    button.addEventListener("click", () => void filePreview().then((m) => m.preview(f.path)));
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
