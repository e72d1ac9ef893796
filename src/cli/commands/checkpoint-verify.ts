/**
 * `tidemark checkpoint verify <store> [--headers-only]`: every object of a
 * checkpoint root checked as LaminarDB's reader checks it (either layout),
 * and whether the newest sealed attempt can be restored. Exit 0 when intact,
 * 1 when damaged (each bad object named by key), 5 when it could not check
 * (4 when the store was unavailable, 2 for a usage error).
 *
 * @module
 */

import type { CheckpointProblem } from "../../checkpoint/state-v2/problems.ts";
import { type CheckpointReport, verifyCheckpoints } from "../../checkpoint/verify.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, printJson, progressBar, reportError } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface VerifyCliOptions extends OutputOptions {
  headersOnly?: boolean;
}

function line(kind: string, p: CheckpointProblem): string {
  return `${kind} ${p.key}: [${p.rule}] ${p.message}`;
}

/** The report as text: findings first, then the verdict. */
export function describeReport(label: string, r: CheckpointReport): string[] {
  const out = [...r.problems.map((p) => line("DAMAGED", p)), ...r.warnings.map((p) => line("warning", p))];
  if (out.length > 0) out.push("");
  out.push(
    `store      ${label}`,
    `layout     ${r.layout === "state-v2" ? "state-v2 (LaminarDB, current)" : "epoch=E/ (LaminarDB, before state-v2)"}`,
  );
  if (r.layout === "state-v2") {
    out.push(
      `checked    ${r.checked.objects} object(s), ${r.checked.hashed} payload(s) hashed (${formatBytes(r.checked.bytes)})`,
    );
  }
  out.push(
    `candidate  ${r.candidate ? `${r.layout === "state-v2" ? "attempt" : "epoch"} ${r.candidate.epoch}: ${r.candidate.restorable ? "restorable" : "NOT restorable"}` : "none (no sealed checkpoint)"}`,
  );
  if (r.candidate) out.push(`           ${r.candidate.why}`);
  out.push(
    `verdict    ${r.ok ? "intact" : `DAMAGED: ${r.problems.length} problem(s)`}${r.warnings.length ? `, ${r.warnings.length} warning(s)` : ""}`,
    "",
    r.note,
  );
  return out;
}

export async function checkpointVerifyCommand(
  ctx: CliContext,
  spec: string,
  opts: VerifyCliOptions,
): Promise<number> {
  const bar = await progressBar(ctx.io, opts);
  let r: CheckpointReport;
  let label: string;
  try {
    const opened = await openStoreUrl(spec, ctx.env);
    label = opened.label;
    let started = false;
    r = await verifyCheckpoints(opened.store, {
      hashes: !opts.headersOnly,
      onProgress: (done, total) => {
        if (!started) bar.start(total, "verifying checkpoint objects");
        started = true;
        bar.update(done, total);
      },
    });
  } catch (e) {
    bar.stop();
    // Nothing was judged: exit 5, not 1 (2 for a usage error, 4 for an unavailable store stay).
    const code = reportError(ctx.io, e, opts);
    return code === EXIT.failure ? EXIT.unchecked : code;
  }
  bar.stop();
  if (opts.json) printJson(ctx.io, { store: label, ...r });
  else ctx.io.stdout(`${describeReport(label, r).join("\n")}\n`);
  if (!r.ok)
    ctx.io.stderr(
      `tidemark: checkpoint verify: ${r.problems.length} damaged object(s), first: ${r.problems[0]?.key}\n`,
    );
  return r.ok ? EXIT.ok : EXIT.failure;
}
