/**
 * Manifests: merutable's MRUB-framed protobuf format, its codec, path
 * validation and the live-file set and diff of snapshots.
 *
 * @module
 */
export {
  createDataFileRef,
  createDeleteFileRef,
  createManifest,
  type DataFileRefInit,
  DELETE_CONTENT,
  type DeleteFileRefInit,
  decodeManifest,
  encodeManifest,
  FILE_FORMAT,
  FILE_STATUS,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_HEADER_BYTES,
  MANIFEST_MAGIC,
  type ManifestInit,
} from "./codec.ts";
export {
  type DataFileRef,
  DataFileRefSchema,
  type DeleteFileRef,
  DeleteFileRefSchema,
  type Manifest,
  ManifestSchema,
} from "./gen/manifest_pb.ts";
export {
  diffManifests,
  isLive,
  type LiveFile,
  liveDataFiles,
  liveFileInfo,
  liveFiles,
  type ManifestDiff,
  referencedFiles,
  type SnapshotTotals,
  snapshotTotals,
} from "./live.ts";
export { isValidPath, pathProblem } from "./paths.ts";
