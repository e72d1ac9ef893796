/**
 * Checkpoint state: epoch partials, commit descriptors, source offsets,
 * sealed commits, split-brain detection, fencing, prune, latest committed epoch.
 *
 * @module
 */
export {
  type CheckpointStats,
  CheckpointStore,
  type CheckpointStoreOptions,
  checkpointCommitKey,
  checkpointDescriptorKey,
  checkpointPartialKey,
  checkpointSourceOffsetsKey,
  type EpochBlob,
  type PruneResult,
} from "./checkpoint-store.ts";
