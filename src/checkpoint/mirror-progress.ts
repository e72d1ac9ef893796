/**
 * What a checkpoint mirror remembers between ticks and processes (the
 * Durable Object keeps it in its storage), in either layout: plain JSON, u64
 * epochs as decimal strings. Like a table mirror's progress it is bound to
 * the source's and target's `storeId` and never trusted for another pair
 * (`boundTo`) or the other layout, and it is checked against the target
 * before it is trusted.
 *
 * @module
 */

import { type RequestCounts, zeroRequestCounts } from "../store/metered.ts";

/** A checkpoint root's layout: LaminarDB's current `state-v2/`, or the one it wrote before (`epoch={E}/`). */
export type CheckpointLayout = "state-v2" | "legacy";

/** A source attempt (or epoch) the mirror did not copy, and why. */
export interface SkippedAttempt {
  epoch: string;
  reason: string;
}

/** Running totals of a checkpoint mirror. */
export interface CheckpointMirrorCounters {
  /** Attempts (the layout before state-v2: epochs) copied, sealed on the target. */
  attempts: number;
  /** Partials and descriptors (and, before state-v2, source offsets) copied. */
  objects: number;
  /** Objects found on the target already (proven the source's) and not copied. */
  foundObjects: number;
  /** Bytes copied (objects, seals or `_COMMIT` markers, the namespace and floors). */
  bytes: number;
  /** Objects deleted from the target below its prune floor (before state-v2: below what the source pruned). */
  pruned: number;
  /** Failed ticks. */
  failures: number;
  /** Requests to source and target: read class (GET, HEAD), write class (PUT, DELETE, LIST). */
  requests: { read: number; write: number };
  source?: RequestCounts;
  target?: RequestCounts;
}

/** A checkpoint mirror's durable progress. */
export interface CheckpointMirrorProgress {
  /** The `storeId`s of the source and target this progress is about. */
  binding?: { source: string; target: string };
  /** The layout mirrored (absent: `state-v2`, as progress saved before the field existed). */
  layout?: CheckpointLayout;
  /** The target holds the source's `_NAMESPACE`, byte for byte. */
  namespace: boolean;
  /** The newest source epoch handled (copied, or skipped): attempts at or below it are not read again. */
  through: string | null;
  /**
   * Source attempts below `through` that were not sealed when a newer one was
   * handled: looked at again each tick until sealed (then copied) or below
   * the floor.
   */
  unsealed: string[];
  /**
   * The sealed attempts on the target, each with the parent epochs its
   * seal's lineage names (what the floor and the prune must never cut);
   * before state-v2, the epochs with a `_COMMIT` there (no parents).
   */
  attempts: Record<string, string[]>;
  /** The attempt being copied: its objects already on the target, with their etags there. */
  inProgress?: { epoch: string; etags: Record<string, string> };
  /** The target's `_PRUNE_FLOOR` `before_epoch` (`null`: none). */
  floor: string | null;
  /** The etag of the source's `_PRUNE_FLOOR` whose handling is finished (copied, or held and pruned). */
  sourceFloorEtag?: string;
  /** The source's floor is not on the target yet: it would hide an ancestor of an attempt the target keeps. */
  heldFloor?: { before: string; because: string };
  /** Epochs below the target's floor may still have objects on the target. */
  prunePending: boolean;
  /** Before state-v2: the target holds no epoch below this one (the source pruned them). */
  prunedBelow?: string;
  /** Source attempts not copied (the last 100), and why. */
  skipped: SkippedAttempt[];
  counters: CheckpointMirrorCounters;
  lastError?: { message: string; atMs: number };
}

/** Where a checkpoint mirror keeps its progress. */
export interface CheckpointMirrorProgressStore {
  load(): Promise<CheckpointMirrorProgress | undefined>;
  save(p: CheckpointMirrorProgress): Promise<void>;
}

/** How many skipped attempts progress remembers. */
export const SKIPPED_KEPT = 100;

/** Progress of a mirror that has done nothing yet. */
export function freshCheckpointProgress(
  binding?: { source: string; target: string },
  layout: CheckpointLayout = "state-v2",
): CheckpointMirrorProgress {
  return {
    ...(binding ? { binding } : {}),
    ...(layout === "state-v2" ? {} : { layout }),
    namespace: false,
    through: null,
    unsealed: [],
    attempts: {},
    floor: null,
    prunePending: false,
    skipped: [],
    counters: {
      attempts: 0,
      objects: 0,
      foundObjects: 0,
      bytes: 0,
      pruned: 0,
      failures: 0,
      requests: { read: 0, write: 0 },
      source: zeroRequestCounts(),
      target: zeroRequestCounts(),
    },
  };
}

/** The layout `p` is about. */
export function layoutOf(p: Pick<CheckpointMirrorProgress, "layout">): CheckpointLayout {
  return p.layout ?? "state-v2";
}

/** A deep copy. */
export function cloneCheckpointProgress(p: CheckpointMirrorProgress): CheckpointMirrorProgress {
  return JSON.parse(JSON.stringify(p)) as CheckpointMirrorProgress;
}

/** Epoch strings in numeric order. */
export function byEpoch(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
