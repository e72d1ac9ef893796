/**
 * The inspector's checkpoint view (loaded after the first paint, lazy.ts,
 * only when the worker has checkpoint roots): a root's attempts on either
 * side, as the worker's verifier reads them (`GET
 * /api/checkpoints/:root/attempts`: state, seal, objects and bytes, lineage,
 * restorable, findings), under a line of its mirror loop's status (`GET
 * /api/checkpoints/:root/status`: newest attempt on each side, the
 * restorable candidate, floors, lag, a stop or the last error).
 */
import { $, el, fmtBytes, fmtInt } from "./dom.ts";
import { api, explain } from "./state.ts";

interface AttemptJson {
  epoch: string;
  state: string;
  partials: number;
  descriptors: number;
  bytes: number;
  restorable: boolean | null;
  problems: number;
  seal: { cluster: boolean; vnodes: number; descriptors: number; assignmentVersion: string } | null;
  lineage: { chain: string[]; missing: string[] };
}

interface Finding {
  key: string;
  rule: string;
  message: string;
}

interface AttemptsJson {
  ok: boolean;
  store: string;
  floor: { beforeEpoch: string } | null;
  candidate: { epoch: string; restorable: boolean; why: string } | null;
  attempts: AttemptJson[];
  problems: Finding[];
  warnings: Finding[];
}

interface StatusJson {
  sourceNewest: string | null;
  targetNewestSealed: string | null;
  candidate: { epoch: string; restorable: boolean } | null;
  targetFloor: string | null;
  lagSeconds: number | null;
  caughtUp: boolean;
  pending: number;
  stopped: { code: string; message: string } | null;
  lastError: { message: string } | null;
}

/** The page's answer for a failed request: the worker's message when it sent one. */
async function failure(r: Response): Promise<string> {
  try {
    return ((await r.json()) as { message?: string }).message ?? `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

function statusLine(s: StatusJson): string {
  if (s.stopped) return `mirroring STOPPED (${s.stopped.code}): ${s.stopped.message}`;
  const parts = [
    `source newest ${s.sourceNewest ?? "–"}`,
    `target newest sealed ${s.targetNewestSealed ?? "–"}`,
    s.candidate
      ? `candidate ${s.candidate.epoch} ${s.candidate.restorable ? "restorable" : "NOT restorable"}`
      : "no candidate",
    `floor ${s.targetFloor ?? "none"}`,
    s.caughtUp ? "caught up" : `${fmtInt(s.pending)} pending, lag ${s.lagSeconds?.toFixed(1) ?? "–"} s`,
  ];
  if (s.lastError) parts.push(`last error: ${s.lastError.message}`);
  return parts.join(" · ");
}

function sealText(a: AttemptJson): string {
  if (!a.seal) return a.state === "sealed" ? "unreadable" : "–";
  return `${a.seal.cluster ? "cluster" : "local"}, ${a.seal.vnodes} vnode(s), assignment ${a.seal.assignmentVersion}`;
}

function renderAttempts(r: AttemptsJson): void {
  const body = $("checkpoint-attempts");
  body.replaceChildren();
  // Newest first: the one LaminarDB would restore is at the top.
  for (const a of [...r.attempts].reverse()) {
    const tr = el("tr", undefined, a.epoch === r.candidate?.epoch ? "sel" : undefined);
    tr.dataset.epoch = a.epoch;
    const lineage =
      a.lineage.chain.join(" ← ") +
      (a.lineage.missing.length ? ` (missing ${a.lineage.missing.join(", ")})` : "");
    tr.append(
      el("td", a.epoch, "mono"),
      el("td", a.state),
      el("td", sealText(a)),
      el("td", fmtInt(a.partials), "num"),
      el("td", fmtInt(a.descriptors), "num"),
      el("td", fmtBytes(a.bytes), "num"),
      el("td", lineage, "mono"),
      el(
        "td",
        a.restorable === null ? "–" : a.restorable ? "yes" : "NO",
        a.restorable === false ? "bad" : a.restorable ? "ok" : undefined,
      ),
      el("td", fmtInt(a.problems), a.problems > 0 ? "num bad" : "num"),
    );
    body.append(tr);
  }
  const list = $("checkpoint-findings");
  list.replaceChildren(
    ...r.problems.map((p) => el("li", `DAMAGED ${p.key}: [${p.rule}] ${p.message}`, "bad")),
    ...r.warnings.map((p) => el("li", `warning ${p.key}: [${p.rule}] ${p.message}`)),
  );
}

async function show(root: string): Promise<void> {
  const side = $<HTMLSelectElement>("checkpoint-side").value;
  const out = $("checkpoint-status");
  $("checkpoint-name").textContent = root;
  out.className = "line muted";
  out.textContent = "reading…";
  try {
    const at = `/api/checkpoints/${encodeURIComponent(root)}`;
    const [s, a] = await Promise.all([api(`${at}/status`), api(`${at}/attempts?side=${side}`)]);
    if (!s.ok) throw new Error(await failure(s));
    if (!a.ok) throw new Error(await failure(a));
    const status = (await s.json()) as StatusJson;
    const attempts = (await a.json()) as AttemptsJson;
    if ($<HTMLSelectElement>("checkpoint-root").value !== root) return; // another root was picked meanwhile
    renderAttempts(attempts);
    out.textContent = `${attempts.store}: ${attempts.ok ? "intact" : `DAMAGED (${attempts.problems.length} problem(s))`} · ${statusLine(status)}`;
    out.className = `line ${status.stopped || !attempts.ok ? "bad" : "ok"}`;
  } catch (e) {
    out.textContent = explain(e);
    out.className = "line bad";
  }
}

/** Shows the checkpoint section for `roots` (the worker's, as the credential may read them). */
export function openCheckpoints(roots: string[]): void {
  if (roots.length === 0) return;
  const pick = $<HTMLSelectElement>("checkpoint-root");
  for (const r of roots) pick.append(new Option(r, r));
  const again = () => void show(pick.value);
  pick.addEventListener("change", again);
  $("checkpoint-side").addEventListener("change", again);
  $("checkpoint-refresh").addEventListener("click", again);
  $("checkpoints").hidden = false;
  again();
}
