/**
 * The History view: two snapshot pickers (the newest two by default, a
 * choice kept while it exists) and what changed between them, from
 * diffManifests: files added and removed, and the differences of physical
 * rows and bytes by the same totals as the header and the CLI
 * (snapshotTotals); then row by row (row-history.ts).
 */
import type { DataFileRef } from "../../src/manifest/gen/manifest_pb.ts";
import { diffManifests, liveDataFiles, snapshotTotals } from "../../src/manifest/live.ts";
import { $, el, fmtBytes, fmtInt, signed } from "./dom.ts";
import { rowsViews } from "./lazy.ts";
import { view } from "./state.ts";

export function renderHistoryChoices(): void {
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

export function renderHistory(): void {
  const v = view;
  const find = (id: string) => v?.snapshots.find((s) => s.version === Number($<HTMLSelectElement>(id).value));
  const a = find("from");
  const b = find("to");
  const out = $("history-summary");
  if (!a || !b) {
    out.textContent = v?.snapshots.length ? "" : "no snapshots yet";
    $("added").replaceChildren();
    $("removed").replaceChildren();
    void rowsViews().then((m) => m.clearRowHistory());
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
        `physical rows ${signed(rows)} (${fmtInt(ta.rows)} → ${fmtInt(tb.rows)}), ` +
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
  void rowsViews().then((m) => m.renderRowHistory(a, b));
}
