/**
 * `tidemark verify <store> [--version N] [--source URL]`: every file a
 * snapshot references is on the store with the right size (one HEAD per
 * file) and, with `--source`, proven to hold the source's bytes. Exit 1 on a
 * mismatch.
 *
 * @module
 */
import { liveFiles } from "../../manifest/live.ts";
import { openMirror, verifyMirror } from "../../mirror/reader.ts";
import type { ObjectStore } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, type OutputOptions, type Progress, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface VerifyOptions extends OutputOptions {
  version?: number;
  source?: string;
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
