/**
 * `tidemark mirror --from <store> --to <store> [--once | --watch]`: the
 * `Mirror` loop from the command line. `--once` (the default) catches up and
 * exits; `--watch` keeps going until SIGINT/SIGTERM, then shuts down cleanly
 * (copies in flight finish; a snapshot cut short resumes on the next run,
 * because files go before manifests and existing files are skipped).
 *
 * @module
 */
import { openTable } from "../../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import { Mirror } from "../../mirror/mirror.ts";
import type { MirrorStatus } from "../../mirror/options.ts";
import { capabilitiesOf } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface MirrorCliOptions extends OutputOptions {
  from: string;
  to: string;
  once?: boolean;
  watch?: boolean;
  parallel: number;
  pollInterval: number;
  lagAlert: number;
}

function summary(s: MirrorStatus): Record<string, unknown> {
  return {
    mirrorSeq: s.mirrorSeq,
    sourceHead: s.sourceHead,
    caughtUp: s.caughtUp,
    lagSeconds: s.lagSeconds,
    snapshots: s.counters.snapshots,
    filesCopied: s.counters.files,
    filesSkipped: s.counters.skippedFiles,
    bytes: s.counters.bytes,
    requests: s.counters.requests,
    gaps: s.gaps,
  };
}

const GAP_TEXT = {
  expired: "expired on the source",
  "files-gone": "files deleted on the source",
  unconfirmed: "not part of the source's history",
  legacy: "legacy JSON manifests",
} as const;

function describe(s: MirrorStatus): string {
  const gaps = s.gaps.length
    ? `; skipped: ${s.gaps.map((g) => `${g.from === g.to ? `v${g.from}` : `v${g.from}-v${g.to}`} (${GAP_TEXT[g.reason ?? "expired"]})`).join(", ")}`
    : "";
  return `mirrored ${s.counters.snapshots} snapshot(s), copied ${s.counters.files} file(s) (${formatBytes(s.counters.bytes)}), skipped ${s.counters.skippedFiles}; target at v${s.mirrorSeq}, source HEAD v${s.sourceHead ?? "?"}${s.caughtUp ? ", caught up" : ""}${gaps}`;
}

export async function mirrorCommand(ctx: CliContext, opts: MirrorCliOptions): Promise<number> {
  const from = await openStoreUrl(opts.from, ctx.env);
  const to = await openStoreUrl(opts.to, ctx.env);
  if (!capabilitiesOf(to.store).write) {
    throw new TidemarkError(
      "InvalidArgument",
      `--to ${to.label} is read-only (${to.kind}); mirror to a directory, s3:// or memory:`,
    );
  }
  let lastError: TidemarkError | undefined;
  let fatal: ((e: TidemarkError) => void) | undefined;
  const fatalError = new Promise<TidemarkError>((resolve) => {
    fatal = resolve;
  });
  const mirror = new Mirror({
    source: from.store,
    target: to.store,
    parallelism: opts.parallel,
    pollIntervalMs: opts.pollInterval,
    lagAlertSecs: opts.watch ? opts.lagAlert : 0,
    onLagAlert: (a) =>
      ctx.io.stderr(
        `tidemark: lag alert: ${a.lagSeconds.toFixed(0)} s behind (mirrored v${a.mirrorSeq}, source HEAD v${a.sourceHead})\n`,
      ),
    onError: (e) => {
      lastError = e;
      // Another writer on the target: retrying cannot fix it.
      if (isTidemarkError(e, "SplitBrain") || isTidemarkError(e, "StaleVersion")) fatal?.(e);
    },
  });

  if (!opts.watch) {
    const bar = await progressBar(ctx.io, opts);
    let timer: ReturnType<typeof setInterval> | undefined;
    let start = 0;
    if (bar.active) {
      const [src, dst] = await Promise.all([openTable(from.store), openTable(to.store)]);
      start = await dst.head();
      bar.start(Math.max(0, (await src.head()) - start), "mirroring snapshots");
      timer = setInterval(() => bar.update(Math.max(0, mirror.mirrorSeq - start)), 200);
    }
    try {
      // One tick catches up; loop only if the source moved meanwhile (bounded).
      for (let i = 0; i < 100; i++) {
        lastError = undefined;
        await mirror.tick();
        if (lastError || mirror.status().caughtUp) break;
      }
    } finally {
      if (timer !== undefined) clearInterval(timer);
      bar.update(Math.max(0, mirror.mirrorSeq - start)); // the final count, before the bar clears
      bar.stop();
      await mirror.shutdown();
    }
    if (lastError) throw lastError;
    const s = mirror.status();
    if (opts.json) printJson(ctx.io, { ok: true, from: from.label, to: to.label, ...summary(s) });
    else ctx.io.stdout(`${describe(s)}\n`);
    return EXIT.ok;
  }

  // --watch: one line (text, or one JSON object per line) whenever the mirror advances.
  const stop = ctx.waitForStop();
  mirror.start();
  let printed = -1;
  const report = () => {
    const s = mirror.status();
    if (s.mirrorSeq === printed || s.sourceHead === null) return;
    printed = s.mirrorSeq;
    if (opts.json) ctx.io.stdout(`${JSON.stringify({ event: "progress", ...summary(s) })}\n`);
    else
      ctx.io.stdout(
        `v${s.mirrorSeq} mirrored (source HEAD v${s.sourceHead}, lag ${(s.lagSeconds ?? 0).toFixed(0)} s)\n`,
      );
  };
  let lastReported: TidemarkError | undefined;
  const timer = setInterval(() => {
    report();
    if (lastError && lastError !== lastReported) {
      lastReported = lastError;
      ctx.io.stderr(
        `tidemark: ${lastError.message} (retrying in ${Math.round(mirror.status().nextDelayMs / 1000)} s)\n`,
      );
    }
  }, 250);
  const outcome = await Promise.race([stop.then(() => undefined), fatalError]);
  clearInterval(timer);
  await mirror.shutdown();
  report();
  if (outcome) throw outcome;
  const s = mirror.status();
  if (opts.json) ctx.io.stdout(`${JSON.stringify({ event: "stopped", ok: true, ...summary(s) })}\n`);
  else ctx.io.stdout(`stopped: ${describe(s)}\n`);
  return EXIT.ok;
}
