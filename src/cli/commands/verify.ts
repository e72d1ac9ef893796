/**
 * `tidemark verify <store> [--version N] [--source URL]`: every file a
 * snapshot references is on the store with the right size (one HEAD per
 * file) and, with `--source`, proven to hold the source's bytes. Exit 1 on a
 * mismatch.
 *
 * `tidemark verify <store> --deep [--version N | --all] [--source URL --adopt]`:
 * from the mirror alone, every file of the version(s) read and hashed
 * against the SHA-256 the mirror recorded when it copied it, and checked as
 * merutable reads it (see `verifyMirror(store, { deep: true })`). Exit 0
 * when everything holds, 1 when something is damaged (each problem named),
 * 5 when nothing is wrong but files were copied before checksums were
 * recorded (`--source URL --adopt` records them, each proven the source's).
 *
 * @module
 */
import { TidemarkError } from "../../errors.ts";
import { liveFiles } from "../../manifest/live.ts";
import { openMirror, verifyMirror } from "../../mirror/reader.ts";
import type { DeepVerifyResult } from "../../mirror/verify.ts";
import { nodeSha256 } from "../../node/sha256.ts";
import type { ObjectStore } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, type Progress, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface VerifyOptions extends OutputOptions {
  version?: number;
  source?: string;
  deep?: boolean;
  all?: boolean;
  adopt?: boolean;
  parallel?: number;
}

/**
 * `store` with a hook on `head`: verifyMirror makes one HEAD per live file
 * (plus HEAD discovery's few), which is what the progress bar counts.
 */
function countingHeads(store: ObjectStore, onHead: () => void): ObjectStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "head") {
        return async (key: string) => {
          const r = await target.head(key);
          onHead();
          return r;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

export async function verifyCommand(ctx: CliContext, spec: string, opts: VerifyOptions): Promise<number> {
  if (opts.deep) return deepVerifyCommand(ctx, spec, opts);
  for (const flag of ["all", "adopt"] as const) {
    if (opts[flag]) throw new TidemarkError("InvalidArgument", `--${flag} needs --deep`);
  }
  const { store, label } = await openStoreUrl(spec, ctx.env, { mustExist: true });
  const source =
    opts.source === undefined
      ? undefined
      : (await openStoreUrl(opts.source, ctx.env, { mustExist: true })).store;
  const bar: Progress = await progressBar(ctx.io, opts);
  let checked = 0;
  let result: Awaited<ReturnType<typeof verifyMirror>>;
  try {
    let target = store;
    if (bar.active) {
      // One extra GET to know the total; only when a bar is drawn.
      const reader = openMirror(store);
      const v = opts.version ?? (await reader.head());
      const total = v === 0 ? 0 : liveFiles(await reader.manifest(v)).length;
      bar.start(total, `verifying v${v}`);
      target = countingHeads(store, () => bar.update(Math.min(++checked, total)));
    }
    result = await verifyMirror(target, opts.version, source ? { source } : {});
  } finally {
    bar.stop();
  }
  if (opts.json) {
    printJson(ctx.io, { ...result, store: label });
  } else if (result.version === 0) {
    ctx.io.stdout(`${label}: no snapshot to verify\n`);
  } else if (result.ok) {
    const what = source ? "the right size and the source's bytes" : "the right size";
    ctx.io.stdout(`${label}: v${result.version} ok: every referenced file is present with ${what}\n`);
  } else {
    const lines = [`${label}: v${result.version} FAILED`];
    for (const p of result.missing) lines.push(`  missing     ${p}`);
    for (const p of result.wrongSize) lines.push(`  wrong size  ${p}`);
    for (const p of result.foreign) lines.push(`  foreign     ${p}`);
    ctx.io.stdout(`${lines.join("\n")}\n`);
  }
  if (result.anomaly !== undefined) ctx.io.stderr(`tidemark: warning: ${result.anomaly}\n`);
  if (!result.ok) {
    ctx.io.stderr(
      `tidemark: verify failed: ${result.missing.length} missing, ${result.wrongSize.length} of the wrong size, ${result.foreign.length} foreign\n`,
    );
  }
  return result.ok ? EXIT.ok : EXIT.failure;
}

/** Which versions a deep run covered, in words. */
function versionsText(versions: number[]): string {
  if (versions.length === 1) return `v${versions[0]}`;
  return `${versions.length} versions (v${versions[0]}..v${versions.at(-1)})`;
}

/** The result as text: each problem, the unrecorded files, then the verdict. */
export function describeDeep(label: string, r: DeepVerifyResult): string[] {
  if (r.versions.length === 0) return [`${label}: no snapshot to verify`];
  const out: string[] = [];
  for (const p of r.problems) out.push(`DAMAGED     ${p.key} (v${p.version}): ${p.kind}: ${p.detail}`);
  for (const k of r.unrecorded)
    out.push(`unrecorded  ${k}: no checksum recorded (copied before mirrors recorded them)`);
  for (const k of r.adopted) out.push(`adopted     ${k}: proven the source's, its checksum recorded`);
  for (const a of r.anomalies) out.push(`warning     ${a}`);
  if (out.length > 0) out.push("");
  const read = `${r.files} file(s) read and hashed (${formatBytes(r.bytes)})`;
  if (r.status === "ok") {
    out.push(
      `${label}: ${versionsText(r.versions)} ok: ${read}, each the SHA-256 recorded when it was mirrored; ` +
        "Parquet footers, row counts, key and sequence ranges, deletion vectors, manifests, chain links and schema hold",
    );
  } else if (r.status === "damaged") {
    out.push(`${label}: ${versionsText(r.versions)} DAMAGED: ${r.problems.length} problem(s); ${read}`);
  } else {
    out.push(
      `${label}: ${versionsText(r.versions)} not fully checked: nothing wrong found, but ${r.unrecorded.length} file(s) have no ` +
        `recorded checksum; ${read}. Record them with --source <the mirror's source> --adopt`,
    );
  }
  return out;
}

async function deepVerifyCommand(ctx: CliContext, spec: string, opts: VerifyOptions): Promise<number> {
  if (opts.all && opts.version !== undefined) {
    throw new TidemarkError("InvalidArgument", "--all and --version cannot be combined: give one");
  }
  if (opts.adopt && opts.source === undefined) {
    throw new TidemarkError(
      "InvalidArgument",
      "--adopt needs --source: each file is proven the source's before its checksum is recorded",
    );
  }
  if (opts.source !== undefined && !opts.adopt) {
    throw new TidemarkError(
      "InvalidArgument",
      "--deep checks the mirror alone: --source serves --adopt (or drop --deep to prove each file against the source)",
    );
  }
  const { store, label } = await openStoreUrl(spec, ctx.env, { mustExist: true });
  const source =
    opts.source === undefined
      ? undefined
      : (await openStoreUrl(opts.source, ctx.env, { mustExist: true })).store;
  const bar = await progressBar(ctx.io, opts);
  let r: DeepVerifyResult;
  try {
    let started = false;
    r = await verifyMirror(store, {
      deep: true,
      ...(opts.version !== undefined ? { version: opts.version } : {}),
      ...(opts.all ? { all: true } : {}),
      ...(opts.parallel !== undefined ? { parallelism: opts.parallel } : {}),
      ...(source !== undefined ? { adopt: { source } } : {}),
      sha256: nodeSha256,
      onProgress: (p) => {
        if (!bar.active) return;
        if (!started) {
          started = true;
          bar.start(p.filesTotal, "verifying files");
        }
        bar.update(p.filesDone, p.filesTotal);
      },
    });
  } finally {
    bar.stop();
  }
  if (opts.json) printJson(ctx.io, { ...r, store: label });
  else ctx.io.stdout(`${describeDeep(label, r).join("\n")}\n`);
  if (r.status === "damaged") {
    ctx.io.stderr(`tidemark: verify --deep: ${r.problems.length} problem(s) found\n`);
    return EXIT.failure;
  }
  return r.status === "ok" ? EXIT.ok : EXIT.unchecked;
}
