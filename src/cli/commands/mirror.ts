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
import { TidemarkError } from "../../errors.ts";
import { isFatalMirrorError } from "../../mirror/loop.ts";
import { Mirror } from "../../mirror/mirror.ts";
import type { MirrorOptions, MirrorStatus } from "../../mirror/settings.ts";
import { nodeSha256 } from "../../node/sha256.ts";
import { capabilitiesOf } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";
import { catchUp, type LoopCliOptions, TickErrors, watch } from "../watch.ts";

interface MirrorCliOptions extends LoopCliOptions {
  lagAlert: number;
  iceberg?: string;
  icebergPrefix?: string;
  keepVersions?: number;
  keepDays?: number;
  lock?: "governance" | "compliance";
  lockDays?: number;
}

/** The `retention` and `lock` options of the `Mirror` from the flags. */
function retentionOptions(opts: MirrorCliOptions): Pick<MirrorOptions, "retention" | "lock"> {
  if ((opts.lock === undefined) !== (opts.lockDays === undefined)) {
    throw new TidemarkError("InvalidArgument", "--lock and --lock-days go together");
  }
  const retention =
    opts.keepVersions === undefined && opts.keepDays === undefined
      ? undefined
      : {
          ...(opts.keepVersions !== undefined ? { keepVersions: opts.keepVersions } : {}),
          ...(opts.keepDays !== undefined ? { keepDays: opts.keepDays } : {}),
        };
  return {
    ...(retention ? { retention } : {}),
    ...(opts.lock !== undefined && opts.lockDays !== undefined
      ? { lock: { mode: opts.lock, days: opts.lockDays } }
      : {}),
  };
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
    ...(s.iceberg ? { iceberg: s.iceberg } : {}),
    ...(s.retention ? { retention: s.retention } : {}),
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
  const views = (s.iceberg ?? []).map(
    (v) => `; Iceberg view at v${v.version} (${v.metadataLocation ?? "none"})`,
  );
  const r = s.retention;
  const retention = r
    ? `; retention: ${r.versionsKept} version(s) kept from v${r.oldestRetained} (${formatBytes(r.bytesRetained)}), ` +
      `${r.totals.versionsExpired} expired, ${formatBytes(r.totals.bytesFreed)} freed` +
      (r.waiting > 0 ? `, ${r.waiting} delete(s) waiting for an Object Lock` : "")
    : "";
  return `${describeCopies(s)}${gaps}${views.join("")}${retention}`;
}

function describeCopies(s: MirrorStatus): string {
  return `mirrored ${s.counters.snapshots} snapshot(s), copied ${s.counters.files} file(s) (${formatBytes(s.counters.bytes)}), skipped ${s.counters.skippedFiles}; target at v${s.mirrorSeq}, source HEAD v${s.sourceHead ?? "?"}${s.caughtUp ? ", caught up" : ""}`;
}

export async function mirrorCommand(ctx: CliContext, opts: MirrorCliOptions): Promise<number> {
  const from = await openStoreUrl(opts.from, ctx.env, { mustExist: true });
  const to = await openStoreUrl(opts.to, ctx.env);
  if (!capabilitiesOf(to.store).write) {
    throw new TidemarkError(
      "InvalidArgument",
      `--to ${to.label} is read-only (${to.kind}); mirror to a directory, s3:// or memory:`,
    );
  }
  // What Mirror itself calls fatal: retrying cannot fix it.
  const errors = new TickErrors(isFatalMirrorError);
  if (opts.icebergPrefix !== undefined && opts.iceberg === undefined) {
    throw new TidemarkError("InvalidArgument", "--iceberg-prefix needs --iceberg");
  }
  const mirror = new Mirror({
    source: from.store,
    target: to.store,
    ...(opts.iceberg !== undefined
      ? {
          iceberg: {
            location: opts.iceberg,
            ...(opts.icebergPrefix !== undefined ? { prefix: opts.icebergPrefix } : {}),
          },
        }
      : {}),
    ...retentionOptions(opts),
    parallelism: opts.parallel,
    // node:crypto's SHA-256 (also Deno's): several times less CPU than the pure-JS default.
    sha256: nodeSha256,
    pollIntervalMs: opts.pollInterval,
    lagAlertSecs: opts.watch ? opts.lagAlert : 0,
    onLagAlert: (a) =>
      ctx.io.stderr(
        `tidemark: lag alert: ${a.lagSeconds.toFixed(0)} s behind (mirrored v${a.mirrorSeq}, source HEAD v${a.sourceHead})\n`,
      ),
    onError: errors.onError,
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
      await catchUp(mirror, errors);
    } finally {
      if (timer !== undefined) clearInterval(timer);
      bar.update(Math.max(0, mirror.mirrorSeq - start)); // the final count, before the bar clears
      bar.stop();
    }
    const s = mirror.status();
    if (opts.json) printJson(ctx.io, { ok: true, from: from.label, to: to.label, ...summary(s) });
    else ctx.io.stdout(`${describe(s)}\n`);
    return EXIT.ok;
  }

  // --watch: one line (text, or one JSON object per line) whenever the mirror advances.
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
  await watch(ctx, mirror, errors, report);
  const s = mirror.status();
  if (opts.json) ctx.io.stdout(`${JSON.stringify({ event: "stopped", ok: true, ...summary(s) })}\n`);
  else ctx.io.stdout(`stopped: ${describe(s)}\n`);
  return EXIT.ok;
}
