/**
 * Checkpoint state: epoch partials, commit descriptors, source offsets,
 * sealed commits, split-brain detection, fencing, prune, latest committed epoch.
 *
 * @module
 */
export { type CheckpointStats, CheckpointStore, type CheckpointStoreOptions } from "./checkpoint-store.ts";
export {
  checkpointCommitKey,
  checkpointDescriptorKey,
  checkpointPartialKey,
  checkpointSourceOffsetsKey,
} from "./layout.ts";
export type { PruneResult } from "./prune.ts";
export type { EpochBlob } from "./reads.ts";
