/**
 * A vnode partial's lineage (LaminarDB's `VnodePartialLineage`, Core Cycle
 * 9): a root partial accounts for its own payload only; an incremental one
 * names its immediate parent attempt and carries totals for its whole chain.
 * {@link lineageProblem} is `validate` (the shape one header or seal entry
 * must have on its own); {@link extendLineage} is `extend`, the arithmetic a
 * child must satisfy against its parent's seal entry.
 *
 * @module
 */

import { U32_MAX, U64_MAX } from "./ids.ts";
import { type Attempt, isCanonicalAttempt } from "./keys.ts";

/** Immutable totals of one vnode partial and its chain. */
export interface Lineage {
  /** The immediate parent attempt; `null` for a root. */
  parent: Attempt | null;
  /** Raw payload bytes across this partial and its whole chain. */
  totalPayloadBytes: bigint;
  /** Partials in the chain, this one included. */
  artifactCount: number;
}

/** Whether `a` is strictly older than `b` in both fields (`relation_to == Older`). */
export function isOlder(a: Attempt, b: Attempt): boolean {
  return a.epoch < b.epoch && a.checkpointId < b.checkpointId;
}

/** Whether two attempts are the same. */
export function sameAttempt(a: Attempt | null, b: Attempt | null): boolean {
  if (a === null || b === null) return a === b;
  return a.epoch === b.epoch && a.checkpointId === b.checkpointId;
}

/** Whether two lineages are equal field by field. */
export function sameLineage(a: Lineage, b: Lineage): boolean {
  return (
    sameAttempt(a.parent, b.parent) &&
    a.totalPayloadBytes === b.totalPayloadBytes &&
    a.artifactCount === b.artifactCount
  );
}

/**
 * Why `lineage` cannot belong to a partial of `attempt` with `payloadLen`
 * bytes (LaminarDB's `VnodePartialLineage::validate`), or `undefined` when it can.
 */
export function lineageProblem(lineage: Lineage, attempt: Attempt, payloadLen: bigint): string | undefined {
  if (!isCanonicalAttempt(attempt)) return "vnode partial attempt must be canonical";
  const { parent, totalPayloadBytes: total, artifactCount: count } = lineage;
  if (parent === null) {
    return total === payloadLen && count === 1
      ? undefined
      : "root vnode partial lineage must equal its payload and contain one artifact";
  }
  return isCanonicalAttempt(parent) && isOlder(parent, attempt) && total >= payloadLen && count >= 2
    ? undefined
    : "child vnode partial lineage has a noncanonical parent, order, or total";
}

/**
 * The lineage a child partial of `attempt` with `payloadLen` bytes must
 * carry when built on `parentEntry`, the parent seal's lineage for the same
 * vnode (LaminarDB's `VnodePartialLineage::extend`); a string saying why
 * there is none (an overflow).
 */
export function extendLineage(parent: Attempt, parentEntry: Lineage, payloadLen: bigint): Lineage | string {
  const total = parentEntry.totalPayloadBytes + payloadLen;
  if (total > U64_MAX) return "vnode partial lineage payload total overflows u64";
  if (parentEntry.artifactCount + 1 > U32_MAX) return "vnode partial lineage artifact count overflows u32";
  return { parent, totalPayloadBytes: total, artifactCount: parentEntry.artifactCount + 1 };
}

/** A lineage as people read it: `root` or `delta of E (total N bytes, K artifacts)`. */
export function describeLineage(l: Lineage): string {
  return l.parent === null
    ? `root (${l.totalPayloadBytes} bytes)`
    : `child of ${l.parent.epoch} (total ${l.totalPayloadBytes} bytes, ${l.artifactCount} artifacts)`;
}
