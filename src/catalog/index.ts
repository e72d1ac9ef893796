/**
 * A table on an object store: layout, HEAD discovery, commit, the snapshot
 * chain and expiry.
 *
 * @module
 */
export {
  Catalog,
  type CatalogOptions,
  COMMIT_TOKEN_KEY,
  type CommitInput,
  type DataFileInput,
  type ExpireResult,
} from "./catalog.ts";
export {
  builtOn,
  decodeAt,
  type ManifestFile,
  manifestDigest,
  PREVIOUS_LINK_PROPERTY,
  readManifestFile,
  readManifestIfExists,
  type WalkChainOptions,
  walkChain,
} from "./chain.ts";
export { type DiscoverHeadOptions, discoverHead, type HeadDiscovery } from "./discover.ts";
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
