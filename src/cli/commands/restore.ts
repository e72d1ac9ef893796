/**
 * `tidemark restore --from <store> --to <dir|store> [--version N]`: writes
 * merutable's posix layout (files, then `metadata/v{N}.metadata.pb`, then
 * `version-hint.text`), so merutable's catalog opens the result. Resumes
 * after a crash: run it again.
 *
 * @module
 */
import { TidemarkError } from "../../errors.ts";
import { nodeSha256 } from "../../node/sha256.ts";
import { type RestoreResult, restore } from "../../restore/restore.ts";
import { capabilitiesOf } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface RestoreCliOptions extends OutputOptions {
  from: string;
  to: string;
  version?: number;
  parallel: number;
}

/** `v1, v3-v5`: versions as ranges. */
function ranges(versions: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < versions.length; ) {
    let j = i;
    while (j + 1 < versions.length && versions[j + 1] === (versions[j] as number) + 1) j++;
    out.push(i === j ? `v${versions[i]}` : `v${versions[i]}-v${versions[j]}`);
    i = j + 1;
  }
  return out.join(", ");
}

function describe(r: RestoreResult, from: string, to: string): string {
  const lines = [
    `restored v${r.version} of ${from} into ${to}: ${r.files} file(s) copied (${formatBytes(r.bytes)}), ${r.skippedFiles} already there`,
    `manifests   ${ranges(r.versions)} (metadata/vN.metadata.pb)`,
    `HEAD        version-hint.text = ${r.version}`,
  ];
  if (r.continued !== undefined) lines.push(`continued   an earlier restore at v${r.continued}`);
  for (const s of r.skipped) {
    lines.push(
      `skipped     v${s.version}: ${s.reason === "files-gone" ? "its files are gone from the source" : s.reason === "no-schema" ? "no merutable.schema.json" : "not the snapshot its key names"}`,
    );
  }
  if (r.anomaly !== undefined) lines.push(`anomaly     ${r.anomaly}`);
  return `${lines.join("\n")}\n`;
}

export async function restoreCommand(ctx: CliContext, opts: RestoreCliOptions): Promise<number> {
  const from = await openStoreUrl(opts.from, ctx.env, { mustExist: true });
  const to = await openStoreUrl(opts.to, ctx.env);
  if (!capabilitiesOf(to.store).write) {
    throw new TidemarkError(
      "InvalidArgument",
      `--to ${to.label} is read-only (${to.kind}); restore into a directory, s3:// or memory:`,
    );
  }
  const bar = await progressBar(ctx.io, opts);
  let started = false;
  let r: RestoreResult;
  try {
    r = await restore({
      from: from.store,
      to: to.store,
      parallelism: opts.parallel,
      sha256: nodeSha256,
      ...(opts.version !== undefined ? { version: opts.version } : {}),
      onProgress: (p) => {
        if (p.phase !== "files") return;
        if (!started) {
          started = true;
          bar.start(p.filesTotal, "restoring files");
        }
        bar.update(p.filesDone);
      },
    });
  } finally {
    bar.stop();
  }
  if (opts.json) printJson(ctx.io, { ok: true, from: from.label, to: to.label, ...r });
  else ctx.io.stdout(describe(r, from.label, to.label));
  return EXIT.ok;
}
