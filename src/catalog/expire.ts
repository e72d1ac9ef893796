/**
 * The work of `Catalog.expire` once it knows HEAD: advance low_water, delete
 * the manifests below it (the expired versions and the leftovers of earlier
 * expires, found by one listing of `metadata/` where the store can list),
 * then the files only they referenced. Kept apart from the class because it
 * needs nothing of it but the store and a way to read retained manifests;
 * the order of its steps is what keeps readers and writers safe (see
 * `Catalog.expire`).
 *
 * @module
 */
import { isTidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { referencedFiles } from "../manifest/live.ts";
import { capabilitiesOf, type DeleteError, type ObjectStore } from "../store/types.ts";
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

/**
 * Expires all but the last `keepLast` snapshots of the object-store table
 * on `store` whose HEAD is `head`, reading retained manifests with
 * `manifest`. The caller has validated `keepLast` and refused a posix table.
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
  const none: ExpireResult = {
    deletedManifests: 0,
    deletedFiles: 0,
    lowWater: lw.version ?? 0,
    errors: [],
  };
  if (expired.size === 0) return none;

  const refs = (m: Manifest): string[] => referencedFiles(m).map((f) => f.path);
  const retained = new Set<string>();
  for (let v = newLowWater; v <= head; v++) {
    for (const p of refs(await manifest(v))) retained.add(p);
  }
  const expiredFiles = new Map<number, string[]>();
  for (const v of [...expired].sort((a, b) => a - b)) {
    let f: ManifestFile | undefined;
    try {
      f = await readManifestIfExists(store, v);
    } catch (e) {
      // An undecodable manifest below the boundary: delete it, its files are unknown.
      if (!isTidemarkError(e, "Corrupt")) throw e;
      expiredFiles.set(v, []);
      continue;
    }
    if (f !== undefined) expiredFiles.set(v, refs(f.manifest));
  }

  const lowWater = newLowWater > (lw.version ?? 0) ? await advanceLowWater(store, newLowWater) : oldStart;
  const errors: DeleteError[] = [];
  const manifests = [...expiredFiles.keys()];
  const manifestsResult = await store.deleteMany(manifests.map(manifestKey));
  errors.push(...manifestsResult.errors);
  // A manifest that stays keeps its files: a reader may still meet it.
  const stayed = new Set(manifestsResult.errors.map((e) => parseManifestKey(e.key)));
  for (const v of stayed) for (const p of (v !== undefined && expiredFiles.get(v)) || []) retained.add(p);
  const candidates = new Set<string>();
  for (const [v, paths] of expiredFiles) {
    if (stayed.has(v)) continue;
    for (const p of paths) if (!retained.has(p)) candidates.add(p);
  }
  const filesResult = await store.deleteMany(candidates);
  errors.push(...filesResult.errors);
  return {
    deletedManifests: manifests.length - manifestsResult.errors.length,
    deletedFiles: candidates.size - filesResult.errors.length,
    lowWater,
    errors,
  };
}
