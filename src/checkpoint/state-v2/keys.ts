/**
 * The keys of LaminarDB's `state-v2` checkpoint layout, written and parsed
 * in one place (LaminarDB's `ObjectStoreBackend::attempt_prefix`,
 * `partial_path`, `descriptor_path`, `seal_path`):
 *
 * ```
 * state-v2/_NAMESPACE                                       the namespace marker
 * state-v2/_PRUNE_FLOOR                                     the prune floor
 * state-v2/epoch={E}/checkpoint={C}/vnode={V}/partial.bin   a vnode's partial
 * state-v2/epoch={E}/checkpoint={C}/commit/{key}            a commit descriptor
 * state-v2/epoch={E}/checkpoint={C}/_SEAL                   the seal
 * ```
 *
 * `E`, `C` and `V` are plain decimal (Rust's `{}` of a u64 / u32). LaminarDB
 * addresses only canonical attempts (`E == C != 0`), so a key with another
 * shape is never read by it: {@link parseStateKey} says so rather than
 * guessing.
 *
 * @module
 */

import { canonicalU32, canonicalU64 } from "./ids.ts";

/** The root prefix of the layout. */
export const STATE_V2_PREFIX = "state-v2/";
/** The namespace marker's key. */
export const NAMESPACE_KEY = "state-v2/_NAMESPACE";
/** The prune floor's key. */
export const PRUNE_FLOOR_KEY = "state-v2/_PRUNE_FLOOR";

/** One checkpoint attempt: LaminarDB's `CheckpointAttempt { epoch, checkpoint_id }`. */
export interface Attempt {
  epoch: bigint;
  checkpointId: bigint;
}

/** Whether LaminarDB would address `a`: `epoch == checkpoint_id != 0` (`is_canonical`). */
export function isCanonicalAttempt(a: Attempt): boolean {
  return a.epoch !== 0n && a.epoch === a.checkpointId;
}

/** The canonical attempt of `epoch`. */
export function attemptOf(epoch: bigint): Attempt {
  return { epoch, checkpointId: epoch };
}

/** `state-v2/epoch={E}/`: everything of one epoch. */
export function epochPrefix(epoch: bigint): string {
  return `${STATE_V2_PREFIX}epoch=${epoch}/`;
}

/** `state-v2/epoch={E}/checkpoint={C}/`: everything of one attempt. */
export function attemptPrefix(a: Attempt): string {
  return `${epochPrefix(a.epoch)}checkpoint=${a.checkpointId}/`;
}

/** The key of vnode `vnode`'s partial in attempt `a`. */
export function partialKey(a: Attempt, vnode: number): string {
  return `${attemptPrefix(a)}vnode=${vnode}/partial.bin`;
}

/** The key of commit descriptor `key` in attempt `a`. */
export function descriptorKey(a: Attempt, key: string): string {
  return `${attemptPrefix(a)}commit/${key}`;
}

/** The key of attempt `a`'s seal. */
export function sealKey(a: Attempt): string {
  return `${attemptPrefix(a)}_SEAL`;
}

/** What a key under `state-v2/` is. */
export type StateKey =
  | { kind: "namespace" }
  | { kind: "floor" }
  | { kind: "partial"; attempt: Attempt; vnode: number }
  | { kind: "descriptor"; attempt: Attempt; key: string }
  | { kind: "seal"; attempt: Attempt }
  /** Under a well-formed attempt prefix, but no object LaminarDB writes there (V1's `srcoff/`...). */
  | { kind: "other"; attempt: Attempt }
  /** Under `epoch=E/checkpoint=C/` with `E != C` or 0: LaminarDB never addresses it. */
  | { kind: "noncanonical"; prefix: string }
  /** Anything else (a padded number, an unknown name). */
  | { kind: "stray" };

const ATTEMPT = /^state-v2\/epoch=([^/]*)\/checkpoint=([^/]*)\/(.*)$/s;

/** Classifies a key of the layout (see {@link StateKey}). */
export function parseStateKey(key: string): StateKey {
  if (key === NAMESPACE_KEY) return { kind: "namespace" };
  if (key === PRUNE_FLOOR_KEY) return { kind: "floor" };
  const m = ATTEMPT.exec(key);
  if (!m) return { kind: "stray" };
  const epoch = canonicalU64(m[1] ?? "");
  const checkpointId = canonicalU64(m[2] ?? "");
  if (epoch === undefined || checkpointId === undefined) return { kind: "stray" };
  const attempt = { epoch, checkpointId };
  if (!isCanonicalAttempt(attempt)) {
    return { kind: "noncanonical", prefix: `state-v2/epoch=${m[1]}/checkpoint=${m[2]}/` };
  }
  const rest = m[3] ?? "";
  if (rest === "_SEAL") return { kind: "seal", attempt };
  if (rest.startsWith("commit/") && rest.length > "commit/".length) {
    return { kind: "descriptor", attempt, key: rest.slice("commit/".length) };
  }
  const v = /^vnode=([^/]*)\/partial\.bin$/.exec(rest);
  const vnode = v ? canonicalU32(v[1] ?? "") : undefined;
  if (vnode !== undefined) return { kind: "partial", attempt, vnode };
  return { kind: "other", attempt };
}

/** `state-v2/epoch=N/` (a delimited listing's prefix) → N, for canonical N != 0 (LaminarDB's `epoch_from_prefix`). */
export function epochOfPrefix(prefix: string): bigint | undefined {
  const m = /^state-v2\/epoch=([^/]*)\/$/.exec(prefix);
  const n = m ? canonicalU64(m[1] ?? "") : undefined;
  return n === undefined || n === 0n ? undefined : n;
}
