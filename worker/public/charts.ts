/**
 * The inspector's SVG charts: the helpers every chart is drawn with (`svgEl`,
 * `chartSvg`, `widthOf`: drawn in pixels at their box's width, so text keeps
 * its size), the lag chart of the last hour (from the worker's status API)
 * and the size-per-level bar chart of the selected snapshot. The snapshot
 * timeline, drawn with the same helpers, lives with the snapshot view it
 * selects in (snapshot-view.ts).
 */
import { $, el, fmtBytes } from "./dom.ts";
import type { MirrorStatusJson } from "./state.ts";

const HOUR_MS = 3_600_000;

const SVG = "http://www.w3.org/2000/svg";
export const svgEl = (tag: string, attrs: Record<string, string | number>, text?: string): SVGElement => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};
/** A chart as wide as its box (drawn in pixels, so text keeps its size); redrawn on every update. */
export const chartSvg = (width: number, height: number, label: string) =>
  svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label });
export const widthOf = (box: HTMLElement) => Math.max(240, box.clientWidth || 420);

export function renderLagChart(samples: MirrorStatusJson["lagHistory"]): void {
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

export function renderLevels(levels: Map<number, number>): void {
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
