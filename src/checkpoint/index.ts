/**
 * Checkpoint state: epoch partials, sealed commits, split-brain detection,
 * fencing, prune, latest committed epoch.
 *
 * @module
 */
export {
  type CheckpointStats,
  CheckpointStore,
  type CheckpointStoreOptions,
  checkpointCommitKey,
  checkpointPartialKey,
  type PruneResult,
} from "./checkpoint-store.ts";
