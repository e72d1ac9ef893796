/**
 * `tidemark checkpoint mirror --from <store> --to <store> [--once | --watch]`:
 * the `CheckpointMirror` from the command line, for a LaminarDB checkpoint
 * root in either layout (`state-v2/`, or `epoch={E}/` before it). `--once`
 * (the default) catches up and exits; `--watch` keeps going until
 * SIGINT/SIGTERM, then shuts down cleanly (an attempt or epoch cut short
 * resumes on the next run: its `_SEAL` or `_COMMIT` is written only after its
 * objects).
 *
 * @module
 */
import { CheckpointMirror, type CheckpointMirrorStatus } from "../../checkpoint/mirror.ts";
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import { capabilitiesOf } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, printJson } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";
import { catchUp, type LoopCliOptions, TickErrors, watch } from "../watch.ts";

function summary(s: CheckpointMirrorStatus): Record<string, unknown> {
  return {
    layout: s.layout,
    through: s.through,
    newestCopied: s.newestCopied,
    sourceNewest: s.sourceNewest,
    caughtUp: s.caughtUp,
    floor: s.floor,
    attempts: s.counters.attempts,
    objectsCopied: s.counters.objects,
    objectsFound: s.counters.foundObjects,
    pruned: s.counters.pruned,
    bytes: s.counters.bytes,
    requests: s.counters.requests,
    skipped: s.skipped,
  };
}

/** What the layout calls one checkpoint: a `state-v2` attempt, an epoch before it. */
function unit(s: CheckpointMirrorStatus): string {
  return s.layout === "legacy" ? "epoch" : "attempt";
}

function describe(s: CheckpointMirrorStatus): string {
  const c = s.counters;
  const u = unit(s);
  // The layout before state-v2 has no floor: the target drops the epochs the source pruned.
  const floor =
    s.layout === "legacy" ? "" : s.floor.target === null ? " (no floor)" : ` (floor ${s.floor.target})`;
  const held = s.floor.held ? `; source floor ${s.floor.held.before} held back: ${s.floor.held.because}` : "";
  const skipped = s.skipped.length
    ? `; skipped: ${s.skipped.map((x) => `${u} ${x.epoch} (${x.reason})`).join(", ")}`
    : "";
  return (
    `copied ${c.attempts} ${u}(s), ${c.objects} object(s) (${formatBytes(c.bytes)}), found ${c.foundObjects}, pruned ${c.pruned}; ` +
    `target at ${u} ${s.newestCopied ?? "none"}${floor}, source newest ${s.sourceNewest ?? "none"}${s.caughtUp ? ", caught up" : ""}${held}${skipped}`
  );
}

export async function checkpointMirrorCommand(ctx: CliContext, opts: LoopCliOptions): Promise<number> {
  const from = await openStoreUrl(opts.from, ctx.env);
  const to = await openStoreUrl(opts.to, ctx.env);
  if (!capabilitiesOf(to.store).write) {
    throw new TidemarkError(
      "InvalidArgument",
      `--to ${to.label} is read-only (${to.kind}); mirror to a directory, s3:// or memory:`,
    );
  }
  // Another deployment on the target, or a root LaminarDB itself refuses: retrying cannot fix it.
  const errors = new TickErrors(
    (e) =>
      isTidemarkError(e, "SplitBrain") || isTidemarkError(e, "NotSupported") || isTidemarkError(e, "Corrupt"),
  );
  const mirror = new CheckpointMirror({
    source: from.store,
    target: to.store,
    parallelism: opts.parallel,
    pollIntervalMs: opts.pollInterval,
    onError: errors.onError,
  });

  if (!opts.watch) {
    await catchUp(mirror, errors);
    const s = mirror.status();
    if (opts.json) printJson(ctx.io, { ok: true, from: from.label, to: to.label, ...summary(s) });
    else ctx.io.stdout(`${describe(s)}\n`);
    return EXIT.ok;
  }

  // --watch: one line (text, or one JSON object per line) whenever the mirror handles a newer attempt.
  let printed: string | null | undefined;
  const report = () => {
    const s = mirror.status();
    if (s.through === printed) return;
    printed = s.through;
    if (opts.json) ctx.io.stdout(`${JSON.stringify({ event: "progress", ...summary(s) })}\n`);
    else
      ctx.io.stdout(
        `${unit(s)} ${s.newestCopied ?? "none"} on the target (source newest ${s.sourceNewest ?? "none"})\n`,
      );
  };
  await watch(ctx, mirror, errors, report);
  const s = mirror.status();
  if (opts.json) ctx.io.stdout(`${JSON.stringify({ event: "stopped", ok: true, ...summary(s) })}\n`);
  else ctx.io.stdout(`stopped: ${describe(s)}\n`);
  return EXIT.ok;
}
