/**
 * Verifies a checkpoint root in the layout LaminarDB wrote before
 * `state-v2` (the seed's layout, {@link CheckpointStore}'s):
 * `epoch={E}/vnode={V}/partial.bin` (raw payloads), `epoch={E}/commit/{key}`,
 * `epoch={E}/srcoff/{node}`, and `epoch={E}/_COMMIT`, whose body is the
 * committer's instance id. That layout records no inventory, lengths or
 * digests, so there is little to check: a marker must name its committer
 * (non-empty UTF-8), and the latest sealed epoch (what LaminarDB's
 * `latest_committed_epoch` restores) must have partials.
 *
 * @module
 */

import { bytesIfExists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";
import { parseEpochKey } from "./layout.ts";
import { type CheckpointProblem, Findings } from "./state-v2/problems.ts";

/** One epoch of the layout. */
export interface LegacyEpochReport {
  epoch: bigint;
  sealed: boolean;
  /** The marker's body (the committer's id); `null` when unsealed or unreadable. */
  committer: string | null;
  partials: number;
  descriptors: string[];
  sourceOffsets: string[];
  bytes: number;
}

/** The verdict of {@link verifyLegacyCheckpoints}. */
export interface LegacyReport {
  layout: "legacy";
  ok: boolean;
  epochs: LegacyEpochReport[];
  /** The latest sealed epoch: the one LaminarDB's legacy reader restores. */
  candidate: { epoch: bigint; restorable: boolean; why: string } | null;
  restorable: boolean;
  problems: CheckpointProblem[];
  warnings: CheckpointProblem[];
  note: string;
  checked: { objects: number; hashed: number; bytes: number };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The note every legacy report carries. */
export const LEGACY_NOTE =
  "The layout before state-v2 records no inventory, lengths or digests: a _COMMIT marker vouches that the epoch's " +
  "required partials existed when it was written, and nothing more can be checked.";

/**
 * Verifies the legacy layout of `store`: one listing of `epoch=`, then a GET
 * of each `_COMMIT` marker. Never throws for what it finds.
 *
 * @throws TidemarkError `NotSupported` on a store that cannot list; store errors.
 */
export async function verifyLegacyCheckpoints(store: ObjectStore): Promise<LegacyReport> {
  const found = new Findings();
  const warnings = new Findings();
  const epochs = new Map<bigint, LegacyEpochReport>();
  let objects = 0;
  for await (const m of store.list("epoch=")) {
    objects++;
    const k = parseEpochKey(m.key);
    if (k === undefined) {
      warnings.add(m.key, "stray-key", "not under a canonical epoch=E/ prefix: tidemark does not read it");
      continue;
    }
    const { epoch, rest, kind } = k;
    let e = epochs.get(epoch);
    if (!e) {
      e = {
        epoch,
        sealed: false,
        committer: null,
        partials: 0,
        descriptors: [],
        sourceOffsets: [],
        bytes: 0,
      };
      epochs.set(epoch, e);
    }
    e.bytes += m.size;
    if (kind === "commit-marker") e.sealed = true;
    else if (kind === "partial") e.partials++;
    else if (kind === "descriptor") e.descriptors.push(rest.slice("commit/".length));
    else if (kind === "source-offsets") e.sourceOffsets.push(rest.slice("srcoff/".length));
    else warnings.add(m.key, "stray-key", "an object this layout does not have under an epoch");
  }
  const list = [...epochs.values()].sort((a, b) => (a.epoch < b.epoch ? -1 : 1));
  for (const e of list) {
    if (!e.sealed) continue;
    const key = `epoch=${e.epoch}/_COMMIT`;
    const body = await bytesIfExists(store, key);
    if (body === undefined) continue; // pruned since the listing
    try {
      const text = utf8.decode(body);
      if (text === "") found.add(key, "commit-marker", "the marker is empty: it must name its committer");
      else e.committer = text;
    } catch {
      found.add(
        key,
        "commit-marker",
        "the marker's body is not UTF-8: it must be the committer's instance id",
      );
    }
  }
  const latest = list.filter((e) => e.sealed).at(-1);
  let candidate: LegacyReport["candidate"] = null;
  if (latest) {
    const key = `epoch=${latest.epoch}/_COMMIT`;
    const reasons: string[] = [];
    if (found.list.some((p) => p.key === key)) reasons.push("its marker is damaged");
    if (latest.partials === 0) reasons.push("it has no partials");
    candidate = {
      epoch: latest.epoch,
      restorable: reasons.length === 0,
      why:
        reasons.length === 0
          ? `sealed by ${JSON.stringify(latest.committer)} with ${latest.partials} partial(s)`
          : `not restorable: ${reasons.join("; ")}`,
    };
  }
  const problems = found.sorted();
  return {
    layout: "legacy",
    ok: problems.length === 0,
    epochs: list,
    candidate,
    restorable: candidate?.restorable ?? false,
    problems,
    warnings: warnings.sorted(),
    note: LEGACY_NOTE,
    checked: { objects, hashed: 0, bytes: 0 },
  };
}
