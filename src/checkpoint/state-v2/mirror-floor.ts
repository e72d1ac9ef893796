/**
 * The prune floor on a checkpoint mirror's target: copied from the source
 * byte for byte, never lowered, and only when it hides no ancestor of an
 * attempt the target keeps; then the target's attempts below it are deleted
 * (each `_SEAL` before the objects it names, so even a reader that ignores
 * the floor never meets a seal whose objects are gone).
 *
 * LaminarDB's own retention keeps every ancestor of the attempts it may
 * restore (`state_artifact_horizon`), so a source floor that cuts a kept
 * chain is a source already unable to restore that attempt; the mirror then
 * keeps its copy restorable and holds the floor back until it cuts nothing
 * (the next floor usually passes the whole chain).
 *
 * @module
 */

import { TidemarkError } from "../../errors.ts";
import { sameBytes } from "../../store/body.ts";
import { createOrSame, getIfExists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import { byEpoch } from "../mirror-progress.ts";
import { isFault } from "./fault.ts";
import { epochOfPrefix, epochPrefix, PRUNE_FLOOR_KEY, STATE_V2_PREFIX } from "./keys.ts";
import { decodePruneFloor, type PruneFloor } from "./namespace.ts";

/**
 * The ancestors of the attempts kept at or above `before` (`attempts`: the
 * target's sealed attempts and the parents their seals name), each with one
 * kept attempt built on it: what a floor must not hide and a prune must not delete.
 */
export function keptAncestors(before: bigint, attempts: Record<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [epoch, parents] of Object.entries(attempts)) {
    if (BigInt(epoch) < before) continue;
    const stack = [...parents];
    while (stack.length > 0) {
      const p = stack.pop() as string;
      if (out.has(p)) continue;
      out.set(p, epoch);
      stack.push(...(attempts[p] ?? []));
    }
  }
  return out;
}

/**
 * Why the floor `before` would hide an ancestor of an attempt the target
 * keeps, or `undefined` when it hides none.
 */
export function floorWouldCut(before: bigint, attempts: Record<string, string[]>): string | undefined {
  for (const [p, epoch] of keptAncestors(before, attempts)) {
    if (BigInt(p) < before && attempts[p] !== undefined) {
      return `attempt ${epoch}, which the target keeps, is built on attempt ${p}, below ${before}`;
    }
  }
  return undefined;
}

/** The target's floor: its bytes, decoded, and etag; `undefined` when there is none. */
export async function readTargetFloor(
  target: ObjectStore,
): Promise<{ bytes: Uint8Array; floor: PruneFloor; etag: string } | undefined> {
  const got = await getIfExists(target, PRUNE_FLOOR_KEY);
  if (got === undefined) return undefined;
  const bytes = await got.bytes();
  const floor = decodePruneFloor(bytes);
  if (isFault(floor)) {
    throw new TidemarkError("Corrupt", `the target's prune floor is damaged: ${floor.message}`, {
      key: PRUNE_FLOOR_KEY,
    });
  }
  return { bytes, floor, etag: got.etag };
}

/**
 * Puts the source's floor `bytes` (decoded: `floor`) on the target: created
 * when there is none, else replaced only if the target's is the one read
 * (`If-Match`) and lower. Returns the bytes written (0: already there).
 *
 * @throws TidemarkError `SplitBrain` when the target's floor is ahead of the
 *   source's (another history); `PreconditionFailed` when it changed while
 *   this ran (the next tick retries); store errors.
 */
export async function putFloor(target: ObjectStore, bytes: Uint8Array, floor: PruneFloor): Promise<number> {
  const current = await readTargetFloor(target);
  if (current === undefined) {
    return createOrSame(
      target,
      PRUNE_FLOOR_KEY,
      bytes,
      () => "the target's prune floor was written by someone else meanwhile",
    );
  }
  if (sameBytes(current.bytes, bytes)) return 0;
  const c = current.floor;
  if (
    c.beforeEpoch > floor.beforeEpoch ||
    (c.beforeEpoch === floor.beforeEpoch && c.sweptBeforeEpoch > floor.sweptBeforeEpoch)
  ) {
    throw new TidemarkError(
      "SplitBrain",
      `the target's prune floor (before ${c.beforeEpoch}, swept ${c.sweptBeforeEpoch}) is ahead of the source's (before ${floor.beforeEpoch}, swept ${floor.sweptBeforeEpoch}): it mirrors another history`,
      { key: PRUNE_FLOOR_KEY },
    );
  }
  await target.put(PRUNE_FLOOR_KEY, bytes, {
    mode: { ifMatch: current.etag },
    contentType: "application/json",
  });
  return bytes.length;
}

/**
 * Deletes every attempt of the target below `before` except `keep` (epochs
 * an attempt the target keeps is built on): per epoch, its seals first, then
 * the rest. Returns the objects deleted.
 *
 * @throws TidemarkError listing and delete errors (a failed delete is thrown:
 *   the next tick retries the prune).
 */
export async function pruneBelow(
  target: ObjectStore,
  before: bigint,
  keep: ReadonlySet<string>,
): Promise<number> {
  const epochs: bigint[] = [];
  for await (const m of target.list(STATE_V2_PREFIX, { delimiter: "/" })) {
    const e = m.isPrefix ? epochOfPrefix(m.key) : undefined;
    if (e !== undefined && e < before && !keep.has(String(e))) epochs.push(e);
  }
  epochs.sort((a, b) => byEpoch(String(a), String(b)));
  let deleted = 0;
  for (const e of epochs) {
    const seals: string[] = [];
    const rest: string[] = [];
    for await (const m of target.list(epochPrefix(e))) (m.key.endsWith("/_SEAL") ? seals : rest).push(m.key);
    for (const keys of [seals, rest]) {
      if (keys.length === 0) continue;
      const r = await target.deleteMany(keys);
      if (r.errors.length > 0) {
        const first = r.errors[0];
        throw new TidemarkError(
          "Transient",
          `pruning ${epochPrefix(e)}: ${r.errors.length} delete(s) failed, first ${first?.key}: ${first?.message}`,
          {
            key: first?.key ?? epochPrefix(e),
          },
        );
      }
      deleted += keys.length;
    }
  }
  return deleted;
}
