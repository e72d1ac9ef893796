/**
 * `tidemark checkpoint ls|prune <store>`, for either of LaminarDB's layouts:
 * its current `state-v2/` (namespace, prune floor, attempts and their seals;
 * `ls` only: LaminarDB prunes its own root) and the layout before it
 * (`epoch={E}/vnode={V}/partial.bin`, `epoch={E}/commit/{key}`,
 * `epoch={E}/srcoff/{node}`, `epoch={E}/_COMMIT`). `verify` and `mirror` are
 * in their own modules.
 *
 * @module
 */
import { CheckpointStore } from "../../checkpoint/checkpoint-store.ts";
import { detectCheckpointLayouts } from "../../checkpoint/detect.ts";
import { checkpointCommitKey } from "../../checkpoint/layout.ts";
import { DECISION_STORE_NOTE, type StateV2Report, verifyStateV2 } from "../../checkpoint/state-v2/verify.ts";
import { TidemarkError } from "../../errors.ts";
import { getIfExists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, printJson } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface CheckpointCliOptions extends OutputOptions {
  before?: number;
  force?: boolean;
}

/** What one epoch holds, from one listing. */
interface EpochRow {
  epoch: number;
  sealed: boolean;
  committer?: string | null;
  partials: number;
  /** Commit descriptors (`commit/{key}`), by key. */
  descriptors: string[];
  /** Nodes with source offsets (`srcoff/{node}`). */
  sourceOffsets: string[];
  /** Bytes of partials, descriptors and source offsets. */
  bytes: number;
}

/** Committers are read for at most this many of the newest sealed epochs (one GET each). */
const COMMITTERS_SHOWN = 20;
const EPOCH_KEY = /^epoch=(0|[1-9][0-9]*)\/(.*)$/;

async function epochs(store: ObjectStore): Promise<EpochRow[]> {
  const rows = new Map<number, EpochRow>();
  for await (const m of store.list("epoch=")) {
    const match = EPOCH_KEY.exec(m.key);
    if (!match) continue;
    const epoch = Number(match[1]);
    let row = rows.get(epoch);
    if (!row) {
      row = { epoch, sealed: false, partials: 0, descriptors: [], sourceOffsets: [], bytes: 0 };
      rows.set(epoch, row);
    }
    const rest = match[2] ?? "";
    if (rest === "_COMMIT") row.sealed = true;
    else if (/^vnode=\d+\/partial\.bin$/.test(rest)) {
      row.partials++;
      row.bytes += m.size;
    } else if (rest.startsWith("commit/")) {
      row.descriptors.push(rest.slice("commit/".length));
      row.bytes += m.size;
    } else if (rest.startsWith("srcoff/")) {
      row.sourceOffsets.push(rest.slice("srcoff/".length));
      row.bytes += m.size;
    }
  }
  return [...rows.values()].sort((a, b) => a.epoch - b.epoch);
}

function cpStore(store: ObjectStore): CheckpointStore {
  // A reader and pruner only: it never seals, so its id and vnode range do not matter.
  return new CheckpointStore(store, { instanceId: "tidemark-cli", vnodeCapacity: 2 ** 32 });
}

export async function checkpointCommand(
  ctx: CliContext,
  sub: "ls" | "prune",
  spec: string,
  opts: CheckpointCliOptions,
): Promise<number> {
  const { store, label } = await openStoreUrl(spec, ctx.env);
  const layouts = await detectCheckpointLayouts(store);
  if (layouts.stateV2) {
    if (sub === "prune") {
      throw new TidemarkError(
        "NotSupported",
        `${label} holds LaminarDB's state-v2 layout: LaminarDB prunes it itself (its _PRUNE_FLOOR); tidemark only reads, verifies and mirrors it`,
      );
    }
    const r = await verifyStateV2(store, { objects: false });
    if (opts.json) printJson(ctx.io, { store: label, legacyAlso: layouts.legacy, ...r });
    else ctx.io.stdout(`${describeStateV2(label, r).join("\n")}\n`);
    return EXIT.ok;
  }
  const cp = cpStore(store);
  const latest = await cp.latestCommittedEpoch();

  if (sub === "ls") {
    const rows = await epochs(store);
    const sealed = rows.filter((r) => r.sealed);
    for (const r of sealed.slice(-COMMITTERS_SHOWN)) {
      const marker = await getIfExists(store, checkpointCommitKey(r.epoch));
      r.committer = marker === undefined ? null : await marker.text(); // null: pruned since the listing
    }
    if (opts.json) {
      printJson(ctx.io, { ok: true, store: label, latestCommittedEpoch: latest, epochs: rows });
      return EXIT.ok;
    }
    const out = [`store                   ${label}`, `latest committed epoch  ${latest ?? "none"}`];
    if (rows.length > 0) {
      out.push("", "epoch     state     partials  descr  srcoff  bytes       committer");
      for (const r of rows) {
        out.push(
          `${String(r.epoch).padEnd(9)} ${(r.sealed ? "sealed" : "unsealed").padEnd(9)} ${String(r.partials).padEnd(9)} ${String(r.descriptors.length).padEnd(6)} ${String(r.sourceOffsets.length).padEnd(7)} ${formatBytes(r.bytes).padEnd(11)} ${r.committer ?? (r.sealed ? "(not read)" : "-")}`,
        );
      }
    } else {
      out.push("(no epochs)");
    }
    ctx.io.stdout(`${out.join("\n")}\n`);
    return EXIT.ok;
  }

  // prune
  const before = opts.before ?? latest;
  if (before === null) {
    if (opts.json) printJson(ctx.io, { ok: true, store: label, latestCommittedEpoch: null, pruned: false });
    else ctx.io.stdout(`${label}: no committed epoch: nothing to prune (give --before to prune anyway)\n`);
    return EXIT.ok;
  }
  if (!opts.force && (latest === null || before > latest)) {
    throw new TidemarkError(
      "InvalidArgument",
      `--before ${before} would delete the latest committed epoch (${latest ?? "none"}); add --force to do it anyway`,
    );
  }
  const r = await cp.pruneBefore(before);
  if (opts.json) {
    printJson(ctx.io, {
      ok: r.failed.length === 0,
      store: label,
      before,
      latestCommittedEpoch: latest,
      ...r,
    });
  } else {
    ctx.io.stdout(
      `${label}: deleted ${r.deleted} object(s) of epochs below ${before} (${r.listed} found${r.fullScan ? ", full scan" : ""})${r.failed.length ? `; ${r.failed.length} failed` : ""}\n`,
    );
  }
  if (r.failed.length > 0) {
    const first = r.failed[0];
    ctx.io.stderr(`tidemark: ${r.failed.length} delete(s) failed, first: ${first?.key}: ${first?.message}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

function shortUuid(s: string): string {
  return s.slice(0, 8);
}

/** `checkpoint ls` of a state-v2 root: from its listing and seals only (`checkpoint verify` reads every object). */
function describeStateV2(label: string, r: StateV2Report): string[] {
  const ns = r.namespace;
  const out = [
    `store        ${label}`,
    "layout       state-v2 (LaminarDB, current)",
    `namespace    ${ns ? `deployment ${ns.deploymentId}, pipeline ${ns.pipelineIdentity.sha256.slice(0, 12)}… (identity v${ns.pipelineIdentity.canonicalVersion})` : "none"}`,
    `prune floor  ${r.floor ? `before ${r.floor.beforeEpoch} (swept below ${r.floor.sweptBeforeEpoch})` : "none"}`,
    `candidate    ${r.candidate ? `attempt ${r.candidate.epoch}: ${r.candidate.restorable ? "restorable" : "NOT restorable"} (from the seals and the listing)` : "none (no sealed attempt above the floor)"}`,
  ];
  if (r.attempts.length > 0) {
    out.push("", "epoch                 state        partials  descr  bytes       seal");
    for (const a of r.attempts) {
      const s = a.seal;
      const seal = s
        ? `${s.cluster ? "cluster" : "local"} ${JSON.stringify(s.instanceId)}/${shortUuid(s.executionId)}, ${s.roots === s.vnodes ? "full" : `delta of ${s.parents.join(",")}`}, chain ${formatBytes(Number(s.chainBytes))}${a.restorable === false ? ", NOT restorable" : ""}`
        : "-";
      out.push(
        `${String(a.epoch).padEnd(21)} ${a.state.padEnd(12)} ${String(a.partials).padEnd(9)} ${String(a.descriptors).padEnd(6)} ${formatBytes(a.bytes).padEnd(11)} ${seal}`,
      );
    }
  } else {
    out.push("(no attempts)");
  }
  const found = [...r.problems, ...r.warnings];
  if (found.length > 0) {
    out.push("", `${r.problems.length} problem(s), ${r.warnings.length} warning(s) (run checkpoint verify):`);
    for (const p of found.slice(0, 10)) out.push(`  ${p.key}: [${p.rule}] ${p.message}`);
    if (found.length > 10) out.push(`  … ${found.length - 10} more`);
  }
  out.push("", DECISION_STORE_NOTE);
  return out;
}
