/**
 * `tidemark doctor <store>`: probes a live store with `doctor` (create-only,
 * concurrent creators, compare-and-swap, read- and list-after-write, list
 * order, pagination, startAfter, delimiter, deletes, ranges, streaming,
 * metadata, clock, auth; with `--lock <mode>`, Object Lock) under a scratch
 * prefix it deletes afterwards. One row
 * per check; exit 0 when none failed, 1 when one did, 4 when every failure was
 * transient (the store was unreachable: run it again later).
 *
 * @module
 */
import type { DoctorCheckResult } from "../../doctor/checks.ts";
import { DOCTOR_WRONG_SECRET, type DoctorOptions, doctor, selectChecks } from "../../doctor/doctor.ts";
import { parseNumberOption } from "../../options.ts";
import type { CliContext } from "../context.ts";
import { EXIT, type OutputOptions, printJson } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface DoctorCliOptions extends OutputOptions {
  checks?: string;
  skip?: string;
  concurrency?: string;
  pageKeys?: string;
  lock?: "governance" | "compliance";
}

const LABEL: Record<DoctorCheckResult["status"], string> = {
  ok: "ok",
  failed: "FAILED",
  unsupported: "unsupported",
};

function row(r: DoctorCheckResult): string {
  return `  ${LABEL[r.status].padEnd(12)} ${r.id.padEnd(18)} ${r.detail}\n`;
}

export async function doctorCommand(ctx: CliContext, spec: string, opts: DoctorCliOptions): Promise<number> {
  const checks = selectChecks(opts.checks, opts.skip, { only: "--checks", skip: "--skip" });
  const { store, kind, label } = await openStoreUrl(spec, ctx.env);
  const options: DoctorOptions = { checks };
  if (opts.concurrency !== undefined) {
    options.concurrency = parseNumberOption("--concurrency", opts.concurrency, 0);
  }
  if (opts.pageKeys !== undefined) options.listPageKeys = parseNumberOption("--page-keys", opts.pageKeys, 0);
  if (opts.lock !== undefined) options.lock = { mode: opts.lock };
  if (kind === "s3") {
    // The same URL and key id, signed with a secret that cannot be right.
    const wrong = (name: string) => (name === "AWS_SECRET_ACCESS_KEY" ? DOCTOR_WRONG_SECRET : ctx.env(name));
    options.badCredentials = (await openStoreUrl(spec, wrong)).store;
  }
  if (!opts.json) {
    ctx.io.stdout(`doctor ${label} (${checks.length} checks)\n`);
    options.onCheck = (r) => ctx.io.stdout(row(r));
  }
  const report = await doctor(store, options);
  const count = (s: DoctorCheckResult["status"]) => report.checks.filter((c) => c.status === s).length;
  if (opts.json) {
    printJson(ctx.io, { ...report, store: label });
  } else {
    const cleanup = report.cleanup.ok
      ? `${report.cleanup.deleted} scratch objects deleted`
      : `scratch objects left under ${report.prefix}: ${report.cleanup.detail}`;
    ctx.io.stdout(
      `${report.checks.length} checks: ${count("ok")} ok, ${count("failed")} failed, ${count("unsupported")} unsupported (${(report.ms / 1000).toFixed(1)} s); ${cleanup}\n`,
    );
  }
  if (!report.cleanup.ok) ctx.io.stderr(`tidemark: doctor: ${report.cleanup.detail}\n`);
  if (report.ok) return EXIT.ok;
  ctx.io.stderr(`tidemark: doctor: ${report.failed.length} failed: ${report.failed.join(", ")}\n`);
  const failedRows = report.checks.filter((c) => c.status === "failed");
  return failedRows.every((c) => c.errorCode === "Transient") ? EXIT.unavailable : EXIT.failure;
}
