/**
 * What the inspector shows of a table's drill (a scheduled deep
 * verification of its mirror, run by the worker): the last result, the
 * version and the date, the files checked, and each damaged file named in
 * the stat's title; a drill in progress shows how far it has got.
 */
import { $, fmtInt } from "./dom.ts";

/** A damaged file as the worker's status names it. */
interface DrillProblemJson {
  key: string;
  kind: string;
  detail: string;
}

/** The `drill` part of the worker's status. */
export interface DrillJson {
  running: { version: number; next: number; total: number } | null;
  last: {
    result: "ok" | "damaged" | "unchecked" | "failed";
    version: number;
    finishedAtMs: number;
    files: number;
    damagedFiles: number;
    damaged: DrillProblemJson[];
    unrecorded: number;
    error: string | null;
  } | null;
  error: string | null;
}

const when = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");

/** The last drill ("–": none yet, or a bucket URL); damage in red, each damaged file in the title. */
export function renderDrill(d: DrillJson | undefined): void {
  const box = $("drill-result");
  const last = d?.last ?? null;
  box.dataset.result = last?.result ?? "";
  box.className = last === null ? "" : last.result === "ok" ? "ok" : last.result === "unchecked" ? "" : "bad";
  const running = d?.running
    ? ` (drilling v${d.running.version}: ${d.running.next}/${d.running.total || "?"})`
    : "";
  if (d?.error) {
    box.textContent = "–";
    box.title = d.error;
    return;
  }
  if (last === null) {
    box.textContent = d?.running ? `drilling v${d.running.version}` : "–";
    box.title = running;
    return;
  }
  const what =
    last.result === "ok"
      ? "ok"
      : last.result === "damaged"
        ? `damaged: ${fmtInt(last.damagedFiles)} file${last.damagedFiles === 1 ? "" : "s"}`
        : last.result === "unchecked"
          ? `${fmtInt(last.unrecorded)} unchecked`
          : "failed";
  box.textContent = `${what} · v${last.version}`;
  const lines = [`${when(last.finishedAtMs)} UTC: ${fmtInt(last.files)} files read and hashed${running}`];
  for (const p of last.damaged) lines.push(`${p.key}: ${p.kind}: ${p.detail}`);
  if (last.error) lines.push(last.error);
  box.title = lines.join("\n");
}
