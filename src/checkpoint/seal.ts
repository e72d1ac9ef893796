import { sameBytes } from "../store/body.ts";
import { bytesIfExists } from "../store/exists.ts";
/**
 * The commit path: the committer's identity (an instance id that survives a
 * UTF-8 round trip, so its own marker reads back as its own), the fence on
 * stamped writes, and the seal itself: one listing of `epoch={E}/`, then a
 * create-only `_COMMIT` whose body is the committer's id, and the byte-for-byte
 * comparison of any marker found with that id (`SplitBrain` when it names
 * someone else), including a create whose response was lost. These functions
 * hold the split-brain invariant in one place; {@link CheckpointStore}
 * validates arguments, passes the safety gate and calls them.
 *
 * @module
 */

import { isTidemarkError, TidemarkError } from "../errors.ts";
import { type RetryPolicy, withRetry } from "../store/retry.ts";
import type { ObjectStore } from "../store/types.ts";
import { checkpointCommitKey, checkpointPartialKey, epochPrefix } from "./layout.ts";

/** Who seals, and where: what every function of the commit path needs. */
export interface Committer {
  readonly store: ObjectStore;
  /** Retry policy of the marker create and its re-read. */
  readonly retry: RetryPolicy;
  /** The instance id, as given (for messages). */
  readonly id: string;
  /** The instance id's UTF-8 bytes: the body of our markers. */
  readonly idBytes: Uint8Array;
}

const encoder = new TextEncoder();
// For messages only; `ignoreBOM` keeps a leading U+FEFF visible (markers are compared as bytes).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * `id` checked to be a non-empty string that a marker body carries exactly:
 * its UTF-8 encoding decodes back to it. A lone surrogate is encoded as
 * U+FFFD, and a default `TextDecoder` drops a leading BOM, so either would
 * make the committer's own marker read back as someone else's (a false
 * `SplitBrain` on its own repeat seal), or read differently by a tool that
 * decodes the body.
 */
export function checkInstanceId(id: unknown): string {
  if (typeof id !== "string" || id === "") {
    throw new TidemarkError("InvalidArgument", "instanceId must be a non-empty string");
  }
  if (new TextDecoder().decode(encoder.encode(id)) !== id) {
    throw new TidemarkError(
      "InvalidArgument",
      "instanceId must survive a UTF-8 round trip (no lone surrogate, no leading U+FEFF byte-order mark)",
    );
  }
  return id;
}

/** The committer `id` (already checked by {@link checkInstanceId}) on `store`. */
export function committerOf(store: ObjectStore, id: string, retry: RetryPolicy): Committer {
  return { store, retry, id, idBytes: encoder.encode(id) };
}

/** The fence: `StaleVersion` for a write stamped below the authoritative version (unless 0, fence off). */
export function fence(authoritative: number, assignmentVersion: number, what: string, key: string): void {
  if (authoritative > 0 && assignmentVersion < authoritative) {
    throw new TidemarkError(
      "StaleVersion",
      `${what}: assignment version ${assignmentVersion} is below the authoritative version ${authoritative}`,
      { key },
    );
  }
}

/** A marker seen (listed, or refusing our create) and gone when read: a concurrent prune removed the epoch. */
function markerVanished(epoch: number): TidemarkError {
  return new TidemarkError("Transient", `marker of epoch ${epoch} vanished while sealing`, {
    key: checkpointCommitKey(epoch),
  });
}

/** The marker's body (the committer's id, as bytes), or `undefined` when there is no marker. */
function readMarker(c: Committer, epoch: number): Promise<Uint8Array | undefined> {
  return withRetry(() => bytesIfExists(c.store, checkpointCommitKey(epoch)), c.retry);
}

/** `true` when `owner` is exactly this committer's id; `SplitBrain` (or `Corrupt`) otherwise. */
function decide(c: Committer, epoch: number, owner: Uint8Array): true {
  if (sameBytes(owner, c.idBytes)) return true;
  const key = checkpointCommitKey(epoch);
  let text: string;
  try {
    text = decoder.decode(owner);
  } catch (e) {
    throw new TidemarkError("Corrupt", `commit marker of epoch ${epoch} is not UTF-8`, { key, cause: e });
  }
  throw new TidemarkError(
    "SplitBrain",
    `epoch ${epoch} was sealed by ${JSON.stringify(text)}, not by this committer ${JSON.stringify(c.id)}`,
    { key },
  );
}

async function createMarker(c: Committer, epoch: number): Promise<boolean> {
  const key = checkpointCommitKey(epoch);
  // A marker that vanished between our lost create and our read of it
  // (pruned meanwhile) is not retried: the caller decides.
  let vanished = false;
  return withRetry(
    async () => {
      try {
        await c.store.put(key, c.idBytes, {
          mode: "create",
          contentType: "text/plain; charset=utf-8",
        });
        return true;
      } catch (e) {
        // A peer (or our own earlier attempt) got there first: the body decides.
        if (isTidemarkError(e, "AlreadyExists")) {
          const owner = await readMarker(c, epoch);
          if (owner === undefined) {
            vanished = true;
            throw markerVanished(epoch);
          }
          return decide(c, epoch, owner);
        }
        // The create may have landed with only its response lost; its body
        // names its writer, so re-reading tells ours from a peer's.
        if (isTidemarkError(e, "Transient")) {
          const owner = await readMarker(c, epoch);
          if (owner !== undefined) return decide(c, epoch, owner);
        }
        throw e;
      }
    },
    c.retry,
    { retryable: () => !vanished },
  );
}

/**
 * Seals `epoch` as {@link CheckpointStore.sealEpoch} documents, its arguments
 * already checked: one listing of `epoch={E}/`; an existing marker decides
 * (ours: `true`, another's: `SplitBrain`); else `false` while a vnode of
 * `vnodes` or a key of `descriptorKeys` (full keys) is missing; else the
 * create-only marker.
 */
export async function seal(
  c: Committer,
  epoch: number,
  vnodes: Iterable<number>,
  descriptorKeys: readonly string[],
): Promise<boolean> {
  const commit = checkpointCommitKey(epoch);
  const found = new Set<string>();
  let marked = false;
  for await (const m of c.store.list(epochPrefix(epoch))) {
    // `_COMMIT` sorts before `vnode=...` (0x5F < 0x76): an existing marker
    // ends the listing on its first page.
    if (m.key === commit) {
      marked = true;
      break;
    }
    found.add(m.key);
  }
  if (marked) {
    const owner = await readMarker(c, epoch);
    // Present in the listing, gone now: a concurrent prune removed the epoch.
    if (owner === undefined) throw markerVanished(epoch);
    return decide(c, epoch, owner);
  }
  for (const v of vnodes) {
    if (!found.has(checkpointPartialKey(epoch, v))) return false;
  }
  for (const k of descriptorKeys) if (!found.has(k)) return false;
  return createMarker(c, epoch);
}
