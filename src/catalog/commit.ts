/**
 * What `Catalog.commit` needs besides its retry loop: the transaction's
 * shape ({@link CommitInput}) and its validation, the manifest a commit
 * builds from HEAD's (row lineage, sequence numbers, properties, the
 * schema), the check that a create whose response was lost was ours, and the
 * GC-boundary check after the create. They are plain functions of the store
 * and the catalog's settings, so the class keeps only the state (the cached
 * HEAD) and the order of the steps.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { TidemarkError } from "../errors.ts";
import { FILE_STATUS } from "../manifest/codec.ts";
import {
  type DataFileRef,
  DataFileRefSchema,
  type Manifest,
  ManifestSchema,
} from "../manifest/gen/manifest_pb.ts";
import { isLive } from "../manifest/live.ts";
import { pathProblem } from "../manifest/paths.ts";
import { headIfExists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";
import { PREVIOUS_LINK_PROPERTY } from "./chain.ts";
import { manifestKey, readBoundary } from "./layout.ts";
import {
  checkSchemaCompatible,
  FORMAT_VERSION_PROPERTY,
  MERUTABLE_FORMAT_VERSION,
  readTableSchema,
  SCHEMA_PROPERTY,
  type TableSchema,
} from "./schema.ts";

/** A data file to add in a commit. Sizes and counts may be `number` or `bigint`. */
export interface DataFileInput {
  /** Path relative to the table root (normalised: see "Entry paths" in docs/layout.md). */
  path: string;
  fileSize: number | bigint;
  numRows: number | bigint;
  level?: number;
  seqMin?: number | bigint;
  seqMax?: number | bigint;
  keyMin?: Uint8Array;
  keyMax?: Uint8Array;
  /** Deletion-vector (puffin) file of this data file, and the blob's place in it. */
  dvPath?: string;
  dvOffset?: number | bigint;
  dvLength?: number | bigint;
  /** 0 columnar, 1 dual. */
  format?: number;
}

/** One commit: files to add, live files to remove, table properties to set. */
export interface CommitInput {
  add?: DataFileInput[];
  /** Paths of live data files to drop from the snapshot. */
  remove?: string[];
  /** Properties to set; `null` deletes one. */
  properties?: Record<string, string | null>;
}

/**
 * User-metadata key of the token each `commit` call puts on its manifest, to
 * recognise its own create after a lost response. Distinct from the store
 * wrappers' writer token, which `retrying` replaces with its own.
 */
export const COMMIT_TOKEN_KEY = "tidemark-commit";

/** The catalog's settings a new manifest takes: its schema, its clock, a new table's UUID. */
export interface ManifestSettings {
  schema: TableSchema | undefined;
  /** `schema` as `merutable.schema.json` holds it. */
  schemaJson: string | undefined;
  now: () => number;
  newTableUuid: () => string;
}

const toBig = (x: number | bigint, what: string): bigint => {
  if (typeof x === "bigint") return x;
  if (!Number.isSafeInteger(x))
    throw new TidemarkError("InvalidArgument", `${what} must be an integer, got ${x}`);
  return BigInt(x);
};

function checkInputPath(path: unknown, what: string): void {
  const problem = typeof path === "string" ? pathProblem(path) : "is not a string";
  if (problem !== undefined) {
    throw new TidemarkError("InvalidArgument", `cannot commit: ${what} ${JSON.stringify(path)} ${problem}`);
  }
}

/**
 * Checks a transaction's paths before any request: each a valid path, no path
 * added twice, none both added and removed.
 *
 * @throws TidemarkError `InvalidArgument` naming the path.
 */
export function checkCommitPaths(add: DataFileInput[], remove: string[]): void {
  const seen = new Set<string>();
  for (const f of add) {
    checkInputPath(f.path, "added path");
    if (f.dvPath !== undefined) checkInputPath(f.dvPath, "added dv_path");
    if (seen.has(f.path)) throw new TidemarkError("InvalidArgument", `cannot commit: ${f.path} added twice`);
    seen.add(f.path);
  }
  for (const p of remove) {
    checkInputPath(p, "removed path");
    if (seen.has(p)) throw new TidemarkError("InvalidArgument", `cannot commit: ${p} both added and removed`);
  }
}

/**
 * The manifest of snapshot `version`, built on `base` (HEAD's manifest, or
 * none for v1): see `Catalog.commit` for what it maintains. `link` is the
 * digest of the base's bytes ({@link PREVIOUS_LINK_PROPERTY}).
 *
 * @throws TidemarkError `PreconditionFailed` when a removed path is not live
 *   in the base or an added one already is; `InvalidArgument` for a bad
 *   number or a property the catalog sets; `Corrupt` when the base's schema
 *   property is malformed.
 */
export function buildManifest(
  base: Manifest | undefined,
  version: number,
  add: DataFileInput[],
  remove: string[],
  properties: Record<string, string | null> | undefined,
  link: string | undefined,
  settings: ManifestSettings,
): Manifest {
  const carried = base ? base.dataFiles.filter(isLive) : [];
  const live = new Set(carried.map((f) => f.path));
  for (const p of remove) {
    if (!live.has(p)) {
      throw new TidemarkError(
        "PreconditionFailed",
        `cannot commit: ${p} is not live in snapshot ${version - 1} (removed concurrently, or never added)`,
      );
    }
  }
  for (const f of add) {
    if (live.has(f.path)) {
      throw new TidemarkError(
        "PreconditionFailed",
        `cannot commit: ${f.path} is already live in snapshot ${version - 1}`,
      );
    }
  }
  const removed = new Set(remove);
  const firstRowId = base?.nextRowId ?? 0n;
  let nextRowId = firstRowId;
  let sequence = (base?.sequenceNumber ?? 0n) + 1n;
  const dataFiles: DataFileRef[] = [];
  for (const f of carried) {
    if (removed.has(f.path)) continue;
    dataFiles.push(create(DataFileRefSchema, { ...f, status: FILE_STATUS.existing }));
  }
  for (const f of add) {
    const rows = toBig(f.numRows, "numRows");
    const size = toBig(f.fileSize, "fileSize");
    if (rows < 0n || size < 0n)
      throw new TidemarkError("InvalidArgument", `cannot commit: ${f.path} has a negative size`);
    const ref = create(DataFileRefSchema, {
      path: f.path,
      fileSize: size,
      numRows: rows,
      level: f.level ?? 0,
      seqMin: toBig(f.seqMin ?? 0, "seqMin"),
      seqMax: toBig(f.seqMax ?? 0, "seqMax"),
      keyMin: f.keyMin ?? new Uint8Array(0),
      keyMax: f.keyMax ?? new Uint8Array(0),
      status: FILE_STATUS.added,
      firstRowId: nextRowId,
    });
    if (f.dvPath !== undefined) ref.dvPath = f.dvPath;
    if (f.dvOffset !== undefined) ref.dvOffset = toBig(f.dvOffset, "dvOffset");
    if (f.dvLength !== undefined) ref.dvLength = toBig(f.dvLength, "dvLength");
    if (f.format !== undefined) ref.format = f.format;
    if (ref.seqMax > sequence) sequence = ref.seqMax;
    nextRowId += rows;
    dataFiles.push(ref);
  }
  const props: Record<string, string> = { ...base?.properties };
  for (const [k, v] of Object.entries(properties ?? {})) {
    if (k === PREVIOUS_LINK_PROPERTY) {
      throw new TidemarkError("InvalidArgument", `cannot commit: property ${k} is set by the catalog`);
    }
    if (k === SCHEMA_PROPERTY || k === FORMAT_VERSION_PROPERTY) {
      throw new TidemarkError(
        "InvalidArgument",
        `cannot commit: property ${k} is set by the catalog from its schema option (Catalog.open(store, { schema }))`,
      );
    }
    if (v === null) delete props[k];
    else props[k] = v;
  }
  if (link === undefined) delete props[PREVIOUS_LINK_PROPERTY];
  else props[PREVIOUS_LINK_PROPERTY] = link;
  const schema = schemaOf(base, version - 1, props, settings);
  const now = BigInt(Math.floor(settings.now()));
  const m = create(ManifestSchema, {
    snapshotId: BigInt(version),
    sequenceNumber: sequence,
    schemaId: schema ? (schema.schema_id ?? 0) : (base?.schemaId ?? 0),
    partitionSpecId: base?.partitionSpecId ?? 0,
    dataFiles,
    deleteFiles: base?.deleteFiles ?? [],
    // Set on v1 only: giving an existing table (one written without a uuid) a new
    // identity would make its mirrors see another table (SplitBrain).
    tableUuid: base ? base.tableUuid : settings.newTableUuid(),
    // Writers' clocks differ: never let the timestamp go backwards along the chain.
    lastUpdatedMs: base && base.lastUpdatedMs > now ? base.lastUpdatedMs : now,
    properties: props,
    lastColumnId: schema ? (schema.last_column_id ?? 0) : (base?.lastColumnId ?? 0),
    nextRowId,
    firstRowId,
  });
  if (base) m.previousSnapshotId = base.snapshotId;
  // Keep fields this version of tidemark does not know (a newer writer's).
  if (base?.$unknown) m.$unknown = base.$unknown;
  return m;
}

/**
 * The schema snapshot `version` carries, set into `props` (the new
 * manifest's properties, copied from `base`'s): the catalog's schema when
 * it has one (checked against the base's: another writer may have set
 * one since `open`), else the base's, validated.
 */
function schemaOf(
  base: Manifest | undefined,
  baseVersion: number,
  props: Record<string, string>,
  settings: ManifestSettings,
): TableSchema | undefined {
  const persisted = base && readTableSchema(base, manifestKey(baseVersion));
  if (settings.schema === undefined || settings.schemaJson === undefined) return persisted;
  if (persisted !== undefined) checkSchemaCompatible(persisted, settings.schema);
  props[SCHEMA_PROPERTY] = settings.schemaJson;
  props[FORMAT_VERSION_PROPERTY] ??= String(MERUTABLE_FORMAT_VERSION);
  return settings.schema;
}

/**
 * Does the manifest at `key` carry this commit's `token` (a retried create
 * whose first response was lost)? `false` when it is missing.
 *
 * @throws TidemarkError store errors other than `NotFound`.
 */
export async function isOurCommit(store: ObjectStore, key: string, token: string): Promise<boolean> {
  return (await headIfExists(store, key))?.metadata?.[COMMIT_TOKEN_KEY] === token;
}

/**
 * After creating `version`: is it at or above the GC boundary? Below it, it
 * reused a number expire had deleted: it is withdrawn (deleted, best effort)
 * and the error the commit fails with is returned; `undefined` when it stands.
 *
 * @throws TidemarkError store errors reading the boundary.
 */
export async function checkBoundary(store: ObjectStore, version: number): Promise<TidemarkError | undefined> {
  const boundary = (await readBoundary(store)).version ?? 0;
  if (version >= boundary) return undefined;
  // Best effort: a withdrawn manifest left behind is below low_water, where
  // no discovery starts and no expire keeps it.
  await store.delete(manifestKey(version)).catch(() => {});
  return new TidemarkError(
    "PreconditionFailed",
    `cannot commit: v${version} was created below the table's GC boundary (low_water ${boundary}): ` +
      "an expire ran while this writer stalled, so the commit was withdrawn; its added files may have been " +
      "deleted with the expired version: upload them again, then commit again",
    { key: manifestKey(version) },
  );
}
