/**
 * Expiry: the one mechanism that deletes versions below a published
 * boundary (`expireVersions`: every manifest read first, the boundary
 * published, then the manifests, then the files only they referenced), and
 * its use by `Catalog.expire` (`expireSnapshots`: low_water is a primary's
 * boundary; the manifests below it are found by one listing of `metadata/`
 * where the store can list). A mirror's retention (`src/mirror/retention.ts`)
 * uses the same mechanism with its own boundary. The order of the steps is
 * what keeps readers and writers safe (see `Catalog.expire`).
 *
 * @module
 */
import { isTidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { capabilitiesOf, type DeleteError, type DeleteManyResult, type ObjectStore } from "../store/types.ts";
import { type ManifestFile, readManifestIfExists } from "./chain.ts";
import { advanceLowWater, METADATA_PREFIX, manifestKey, parseManifestKey, readLowWater } from "./layout.ts";

/** The result of `Catalog.expire`. */
export interface ExpireResult {
  /** Manifests deleted: the expired versions and leftovers below low_water from earlier expires. */
  deletedManifests: number;
  /**
   * Files deleted: referenced by a deleted manifest and by no retained one, nor by a
   * manifest the store refused to delete (those keep their files until a later expire
   * deletes them).
   */
  deletedFiles: number;
  /** The new low_water (the oldest retained version), or the old one when nothing expired. */
  lowWater: number;
  /** Keys the store refused to delete (they stay below low_water; the next expire retries them). */
  errors: DeleteError[];
}

/**
 * The manifest versions below `newLowWater` still on the store: every one a
 * listing of `metadata/v` finds (leftovers of earlier expires included), or,
 * on a store that cannot list, those from the old low_water (`oldStart`) up.
 */
async function versionsBelow(
  store: ObjectStore,
  oldStart: number,
  newLowWater: number,
): Promise<Set<number>> {
  const below = new Set<number>();
  if (capabilitiesOf(store).list) {
    for await (const m of store.list(`${METADATA_PREFIX}v`)) {
      const v = parseManifestKey(m.key);
      if (v !== undefined && v < newLowWater) below.add(v);
    }
  } else {
    for (let v = oldStart; v < newLowWater; v++) below.add(v);
  }
  return below;
}

/** What {@link expireVersions} deletes, keeps, and when it publishes the boundary. */
export interface ExpirePlan {
  /**
   * Publishes the boundary the expired versions lie below (a primary's
   * low_water; a mirror's retention boundary), so that no reader or writer
   * goes below it from then on. Called after every read and before the
   * first delete.
   */
  publish(): Promise<void>;
  /** The manifest versions to delete (below the boundary), leftovers of earlier passes included. */
  expired: Iterable<number>;
  /** The versions whose files stay: every manifest that stays on the store. */
  retained: Iterable<number>;
  /** The files a retained version references. */
  retainedFiles(version: number): Promise<Iterable<LiveFile>>;
  /**
   * The files an expired version references and its manifest's size,
   * `undefined` when its manifest is gone (default: its manifest read from
   * the store).
   */
  expiredFiles?(version: number): Promise<{ files: LiveFile[]; bytes: number } | undefined>;
  /** Files that stay whatever the manifests say (a mirror's uploads for a version it has not published yet). */
  keepFiles?: Iterable<string>;
  /**
   * Keys that belong to an expired version beside its manifest (a mirror's
   * checksum record): deleted with the files, after the manifest, and only
   * when the manifest was.
   */
  companions?(version: number): string[];
  /**
   * Deletes keys (default `store.deleteMany`). A mirror frees every version
   * of each key (`allVersions`): a plain delete on a versioned bucket frees nothing.
   */
  remove?(keys: string[]): Promise<DeleteManyResult>;
}

/** What {@link expireVersions} did. */
export interface ExpiredVersions {
  /** Versions whose manifests were deleted (or were gone already). */
  manifests: number[];
  /** Bytes of the manifests deleted. */
  manifestBytes: number;
  /** Files deleted: named by a deleted manifest and by no manifest that stays. */
  files: LiveFile[];
  /** The deleted versions' companion keys deleted (see {@link ExpirePlan.companions}). */
  companions: string[];
  /** Keys the store refused to delete (retried by a later pass). */
  errors: DeleteError[];
}

/**
 * Deletes the expired versions' manifests, then the files only they
 * referenced, in the order that keeps readers and writers safe (the GC
 * boundary, SlateDB's RFC-0026 pattern):
 *
 * 1. every manifest it needs is read first: the retained ones (their files
 *    stay) and the expired ones (their files are the candidates);
 * 2. the boundary is published (`plan.publish`) before anything is deleted:
 *    discovery never starts below it, a commit that lands below it is
 *    withdrawn, a reader refuses a version below it;
 * 3. the expired manifests are deleted;
 * 4. then their files that no retained manifest, no kept file, and no
 *    manifest the store refused to delete names, and the deleted versions'
 *    companion keys (`plan.companions`).
 *
 * A manifest the store refuses to delete keeps its files, so a manifest on
 * the store always has its files. The one mechanism of `Catalog.expire` and
 * of a mirror's retention (`src/mirror/retention.ts`).
 *
 * @throws TidemarkError store errors (nothing is deleted when a read fails).
 */
export async function expireVersions(store: ObjectStore, plan: ExpirePlan): Promise<ExpiredVersions> {
  const retained = new Set<string>(plan.keepFiles ?? []);
  for (const v of plan.retained) for (const f of await plan.retainedFiles(v)) retained.add(f.path);
  const read =
    plan.expiredFiles ??
    (async (v: number) => {
      const f: ManifestFile | undefined = await readManifestIfExists(store, v);
      return f && { files: referencedFiles(f.manifest), bytes: f.bytes.length };
    });
  const expiredFiles = new Map<number, { files: LiveFile[]; bytes: number }>();
  for (const v of [...new Set(plan.expired)].sort((a, b) => a - b)) {
    let f: { files: LiveFile[]; bytes: number } | undefined;
    try {
      f = await read(v);
    } catch (e) {
      // An undecodable manifest below the boundary: delete it, its files are unknown.
      if (!isTidemarkError(e, "Corrupt")) throw e;
      expiredFiles.set(v, { files: [], bytes: 0 });
      continue;
    }
    if (f !== undefined) expiredFiles.set(v, f);
  }

  await plan.publish();
  const remove = plan.remove ?? ((keys: string[]) => store.deleteMany(keys));
  const errors: DeleteError[] = [];
  const versions = [...expiredFiles.keys()];
  const manifestsResult = versions.length > 0 ? await remove(versions.map(manifestKey)) : none();
  errors.push(...manifestsResult.errors);
  // A manifest that stays keeps its files: a reader may still meet it.
  const stayed = new Set(manifestsResult.errors.map((e) => parseManifestKey(e.key)));
  for (const v of stayed)
    for (const f of (v !== undefined && expiredFiles.get(v)?.files) || []) retained.add(f.path);
  const candidates = new Map<string, LiveFile>();
  let manifestBytes = 0;
  for (const [v, { files, bytes }] of expiredFiles) {
    if (stayed.has(v)) continue;
    manifestBytes += bytes;
    for (const f of files) if (!retained.has(f.path)) candidates.set(f.path, f);
  }
  const gone = versions.filter((v) => !stayed.has(v));
  const companions = plan.companions ? gone.flatMap((v) => plan.companions?.(v) ?? []) : [];
  const keys = [...candidates.keys(), ...companions];
  const filesResult = keys.length > 0 ? await remove(keys) : none();
  errors.push(...filesResult.errors);
  const refused = new Set(filesResult.errors.map((e) => e.key));
  return {
    manifests: gone,
    manifestBytes,
    files: [...candidates.values()].filter((f) => !refused.has(f.path)),
    companions: companions.filter((k) => !refused.has(k)),
    errors,
  };
}

function none(): DeleteManyResult {
  return { deleted: 0, errors: [] };
}

/**
 * Expires all but the last `keepLast` snapshots of the object-store table
 * on `store` whose HEAD is `head`, reading retained manifests with
 * `manifest`: low_water (the table's GC boundary) advances to the oldest
 * retained version, then {@link expireVersions}. The caller has validated
 * `keepLast` and refused a posix table.
 *
 * @throws TidemarkError store errors.
 */
export async function expireSnapshots(
  store: ObjectStore,
  head: number,
  keepLast: number,
  manifest: (version: number) => Promise<Manifest>,
): Promise<ExpireResult> {
  const lw = await readLowWater(store);
  const oldStart = Math.max(1, lw.version ?? 1);
  const cutoff = head - keepLast;
  const newLowWater = Math.max(oldStart, cutoff + 1);

  // Everything below the new boundary goes: expired versions and old leftovers.
  const expired = await versionsBelow(store, oldStart, newLowWater);
  if (expired.size === 0) {
    return { deletedManifests: 0, deletedFiles: 0, lowWater: lw.version ?? 0, errors: [] };
  }
  let lowWater = oldStart;
  const r = await expireVersions(store, {
    expired,
    retained: Array.from({ length: head - newLowWater + 1 }, (_, i) => newLowWater + i),
    retainedFiles: async (v) => referencedFiles(await manifest(v)),
    publish: async () => {
      if (newLowWater > (lw.version ?? 0)) lowWater = await advanceLowWater(store, newLowWater);
    },
  });
  return {
    deletedManifests: r.manifests.length,
    deletedFiles: r.files.length,
    lowWater,
    errors: r.errors,
  };
}
