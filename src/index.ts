/**
 * tidemark: versioned table snapshots and checkpoint state on object storage,
 * mirrored between stores. The isomorphic core (web-standard globals only):
 * what a user of the library needs, by concern. The other entry points:
 * `tidemark/server` (the hono apps and object serving), `tidemark/testing`
 * (the store contract, `faulty`), `tidemark/node` (`FileStore`, the Node
 * transport and signer). Internals are not exported.
 *
 * @module
 */

// Tables: either layout read through openTable; the object-store layout written by Catalog.
export { Catalog, type CatalogOptions } from "./catalog/catalog.ts";
export type { CommitInput, DataFileInput } from "./catalog/commit.ts";
export { type DiscoverHeadOptions, discoverHead, type HeadDiscovery } from "./catalog/discover.ts";
export type { ExpireResult } from "./catalog/expire.ts";
export {
  type ColumnDef,
  type ColumnType,
  checkTableSchema,
  readTableSchema,
  type TableSchema,
} from "./catalog/schema.ts";
export {
  openTable,
  type SnapshotsOptions,
  type TableHead,
  type TableLayout,
  type TableReader,
  type TableSnapshot,
} from "./catalog/table.ts";
// Checkpoints (LaminarDB's layout).
export {
  type CheckpointStats,
  CheckpointStore,
  type CheckpointStoreOptions,
} from "./checkpoint/checkpoint-store.ts";
// Checkpoints: LaminarDB's state-v2 layout (and the one before it) read, verified, mirrored.
export { type CheckpointLayouts, detectCheckpointLayouts } from "./checkpoint/detect.ts";
export type { LegacyReport } from "./checkpoint/legacy-verify.ts";
export {
  CheckpointMirror,
  type CheckpointMirrorOptions,
  type CheckpointMirrorStatus,
} from "./checkpoint/mirror.ts";
export type {
  CheckpointLayout,
  CheckpointMirrorProgress,
  CheckpointMirrorProgressStore,
} from "./checkpoint/mirror-progress.ts";
export type { PruneResult } from "./checkpoint/prune.ts";
export type { EpochBlob } from "./checkpoint/reads.ts";
export type { CheckpointProblem, CheckpointRule } from "./checkpoint/state-v2/problems.ts";
export type { AttemptReport, StateV2Report, VerifyStateV2Options } from "./checkpoint/state-v2/verify.ts";
export { type CheckpointReport, verifyCheckpoints } from "./checkpoint/verify.ts";
// Probing a live store.
export {
  DOCTOR_CHECKS,
  type DoctorCheckId,
  type DoctorCheckResult,
  type DoctorStatus,
} from "./doctor/checks.ts";
export { type DoctorOptions, type DoctorReport, doctor } from "./doctor/doctor.ts";
export { type EnsureSafeStoreOptions, ensureSafeStore, SAFE_STORE_CHECKS } from "./doctor/safe-store.ts";
// Errors.
export {
  ERROR_CODES,
  type ErrorCode,
  errorCodeOf,
  httpStatusOf,
  isTidemarkError,
  TidemarkError,
  type TidemarkErrorOptions,
  toTidemarkError,
} from "./errors.ts";
// Apache Iceberg views of a mirror (docs/iceberg.md).
export {
  type IcebergUpdateOptions,
  type IcebergUpdateResult,
  IcebergView,
  type IcebergViewOptions,
  type IcebergViewStatus,
  updateIcebergView,
} from "./iceberg/view.ts";
// Manifests.
export {
  createDataFileRef,
  createDeleteFileRef,
  createManifest,
  DELETE_CONTENT,
  decodeManifest,
  encodeManifest,
  FILE_FORMAT,
  FILE_STATUS,
  type ManifestInit,
} from "./manifest/codec.ts";
export type { DataFileRef, DeleteFileRef, Manifest } from "./manifest/gen/manifest_pb.ts";
export {
  diffManifests,
  type LiveFile,
  liveDataFiles,
  liveFileInfo,
  liveFiles,
  type ManifestDiff,
  referencedFiles,
  type SnapshotTotals,
  snapshotTotals,
} from "./manifest/live.ts";
// Mirrors.
export {
  type LagAlert,
  Mirror,
  type MirrorCounters,
  type MirrorGap,
  type MirrorOptions,
  type MirrorProgress,
  type MirrorProgressStore,
  type MirrorStatus,
} from "./mirror/mirror.ts";
export {
  type MirrorReader,
  openMirror,
  type VerifyOptions,
  type VerifyResult,
  verifyMirror,
} from "./mirror/reader.ts";
export type {
  MirrorLockOptions,
  RetentionOptions,
  RetentionStatus,
  RetentionTotals,
} from "./mirror/retention.ts";
export {
  type MirrorSnapshotOptions,
  type MirrorSnapshotResult,
  mirrorSnapshot,
} from "./mirror/snapshot.ts";
export type {
  DeepProblem,
  DeepProblemKind,
  DeepVerifyOptions,
  DeepVerifyProgress,
  DeepVerifyResult,
} from "./mirror/verify.ts";
// Options: the checks every numeric option goes through (for applications that read their own).
export { checkNumber, type NumberRule, parseNumberOption } from "./options.ts";
// Restore into merutable's layout.
export {
  type RestoreOptions,
  type RestoreProgress,
  type RestoreResult,
  type RestoreSkip,
  restore,
} from "./restore/restore.ts";
// A table's logical rows and row-level history (merutable's read semantics).
export {
  type DiffResult,
  type DiffRowsOptions,
  diffRows,
  type ReadRowsAtOptions,
  type RowChange,
  type RowsResult,
  readRows,
  type TableRow,
  TableRows,
} from "./rows/table-rows.ts";
export type { Sha256, Sha256Factory } from "./store/checksum.ts";
// Stores: the contract, the adapters, the wrappers, store URLs.
export { HttpStore, type HttpStoreOptions } from "./store/http.ts";
export { validateKey } from "./store/keys.ts";
export { MemoryStore, type MemoryStoreOptions } from "./store/memory.ts";
export { type MeteredStore, metered, type RequestCounts } from "./store/metered.ts";
export { prefixed } from "./store/prefixed.ts";
export { type R2BucketLike, R2Store, type R2StoreOptions } from "./store/r2.ts";
export type { RetryPolicy } from "./store/retry.ts";
export { retrying } from "./store/retrying.ts";
export type { S3StoreOptions } from "./store/s3/settings.ts";
export { S3Store } from "./store/s3/store.ts";
export type { S3Signer, SignableRequest, SigningKey } from "./store/signer.ts";
export type {
  FetchLike,
  HeadersLike,
  HttpTransport,
  TransportRequest,
  TransportResponse,
} from "./store/transport.ts";
export {
  type Body,
  type ByteRange,
  capabilitiesOf,
  type DeleteError,
  type DeleteManyOptions,
  type DeleteManyResult,
  type GetOptions,
  type ListOptions,
  type ObjectBody,
  type ObjectLock,
  type ObjectMeta,
  type ObjectStore,
  type PutMode,
  type PutOptions,
  type PutResult,
  type StoreCapabilities,
  storeId,
  wrapperOf,
} from "./store/types.ts";
export {
  type ParseStoreUrlOptions,
  parseStoreUrl,
  type S3Credentials,
  type StoreUrl,
  type StoreUrlKind,
  s3StoreOptions,
} from "./store/url.ts";
