/**
 * Mirroring: `mirrorSnapshot` (one snapshot, files before manifest before
 * low_water), the `Mirror` loop (every snapshot, in order, incremental,
 * resumable), and the read-only `openMirror` / `verifyMirror`.
 *
 * @module
 */
export {
  freshMirrorProgress,
  type LagAlert,
  Mirror,
  type MirrorCounters,
  type MirrorOptions,
  type MirrorProgress,
  type MirrorProgressStore,
  type MirrorStatus,
} from "./mirror.ts";
export { boundTo, handledThrough, zeroRequestCounts } from "./progress.ts";
export { type MirrorReader, openMirror, type VerifyResult, verifyMirror } from "./reader.ts";
export {
  DEFAULT_LIST_THRESHOLD,
  DEFAULT_PARALLELISM,
  type MirrorSnapshotOptions,
  type MirrorSnapshotResult,
  mirrorSnapshot,
} from "./snapshot.ts";
