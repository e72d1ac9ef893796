/**
 * A table on an object store: its two layouts (object-store, posix), the
 * table reader, HEAD discovery, commit, the snapshot chain, expiry and
 * merutable's table schema.
 *
 * @module
 */
export { Catalog, type CatalogOptions } from "./catalog.ts";
export {
  builtOn,
  type ChainEnd,
  type ChainEntry,
  decodeAt,
  type ManifestFile,
  type ManifestSource,
  manifestAnomaly,
  manifestDigest,
  objectStoreManifests,
  PREVIOUS_LINK_PROPERTY,
  readManifestFile,
  readManifestIfExists,
  type WalkChainOptions,
  walkChain,
} from "./chain.ts";
export { COMMIT_TOKEN_KEY, type CommitInput, type DataFileInput } from "./commit.ts";
export { type DiscoverHeadOptions, discoverHead, type HeadDiscovery } from "./discover.ts";
export type { ExpireResult } from "./expire.ts";
export {
  type AdvanceLowWaterOptions,
  advanceLowWater,
  LOW_WATER_KEY,
  type LowWaterState,
  METADATA_PREFIX,
  manifestExists,
  manifestKey,
  parseLowWater,
  parseManifestKey,
  readBoundary,
  readLowWater,
} from "./layout.ts";
export {
  isLegacyManifestError,
  legacyManifestKey,
  parsePosixManifestKey,
  parseVersionHint,
  posixManifestKey,
  readVersionHint,
  VERSION_HINT_KEY,
  type VersionHint,
} from "./posix.ts";
export {
  type ColumnDef,
  type ColumnType,
  checkSchemaCompatible,
  checkTableSchema,
  type FieldValue,
  FORMAT_VERSION_PROPERTY,
  MERUTABLE_FORMAT_VERSION,
  readTableSchema,
  SCHEMA_PROPERTY,
  schemaJson,
  type TableSchema,
} from "./schema.ts";
export {
  findManifestKey,
  openTable,
  type SnapshotsOptions,
  type TableHead,
  type TableLayout,
  TableReader,
  type TableSnapshot,
  tableReader,
} from "./table.ts";
