import { isTidemarkError, TidemarkError } from "../errors.ts";
import { decodeManifest } from "../manifest/codec.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { explainNotFound, ifExists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";
import { manifestKey } from "./layout.ts";
import { isLegacyManifestError } from "./posix.ts";

/**
 * The manifest property in which `Catalog.commit` names the manifest it built
 * on: the SHA-256 (hex) of the previous version's manifest file, bytes as
 * stored. Mirrors copy manifests byte for byte, so the link holds on every
 * copy. It tells the manifest a version was built on from another one at the
 * same number: a stalled writer's create of a version that expire had
 * deleted (withdrawn, but visible for an instant), which a walk by
 * `previous_snapshot_id` alone would take for history. merutable keeps
 * properties it does not know.
 */
export const PREVIOUS_LINK_PROPERTY = "tidemark.previous.sha256";

/** One manifest file: its bytes as stored and their decoding. */
export interface ManifestFile {
  version: number;
  bytes: Uint8Array;
  manifest: Manifest;
}

/**
 * Reads and decodes snapshot `version`'s manifest from `store`.
 *
 * @throws TidemarkError `NotFound` naming the version and store; `Corrupt`
 *   naming the key when it does not decode; store errors.
 */
export async function readManifestFile(store: ObjectStore, version: number): Promise<ManifestFile> {
  const key = manifestKey(version);
  const bytes = await explainNotFound(
    store.get(key).then((b) => b.bytes()),
    `snapshot v${version} is not on ${store.name} (${key})`,
    key,
  );
  return { version, bytes, manifest: decodeAt(key, bytes) };
}

/** Decodes manifest bytes read from `key`; a `Corrupt` error names the key. */
export function decodeAt(key: string, bytes: Uint8Array): Manifest {
  try {
    return decodeManifest(bytes);
  } catch (e) {
    if (isTidemarkError(e, "Corrupt")) {
      throw new TidemarkError("Corrupt", `${key}: ${e.message.replace(/^\[Corrupt\] /, "")}`, {
        key,
        cause: e,
      });
    }
    throw e;
  }
}

/** {@link readManifestFile}, or `undefined` when the manifest is not there. */
export async function readManifestIfExists(
  store: ObjectStore,
  version: number,
): Promise<ManifestFile | undefined> {
  return ifExists(readManifestFile(store, version));
}

/** The value of {@link PREVIOUS_LINK_PROPERTY} for a manifest built on one stored as `bytes`. */
export async function manifestDigest(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether `next` was built on `previous`: its `previous_snapshot_id` names
 * `previous`'s version and, when `next` carries a {@link PREVIOUS_LINK_PROPERTY},
 * the link is `previous`'s digest. Manifests without the link (merutable's,
 * older tidemark's) are linked by number alone.
 */
export async function builtOn(next: Manifest, previous: ManifestFile): Promise<boolean> {
  if (next.previousSnapshotId !== BigInt(previous.version)) return false;
  const link = next.properties[PREVIOUS_LINK_PROPERTY];
  return link === undefined || link === (await manifestDigest(previous.bytes));
}

/**
 * Where a chain walk reads manifests: a table's layout (see `TableReader`).
 * A plain `ObjectStore` is read as the object-store layout.
 */
export interface ManifestSource {
  /** The key of version `v`'s manifest (for messages). */
  manifestKey(version: number): string;
  /** Version `v`'s manifest file, or `undefined` when it is not there. */
  readManifestIfExists(version: number): Promise<ManifestFile | undefined>;
}

/** The object-store layout of `store` as a {@link ManifestSource}. */
function objectStoreManifests(store: ObjectStore): ManifestSource {
  return { manifestKey, readManifestIfExists: (v) => readManifestIfExists(store, v) };
}

/** One manifest of a chain walk. */
export interface ChainEntry extends ManifestFile {
  /**
   * Set when the manifest is not what its key promises: its `snapshot_id` is
   * not the version of its key (merutable's mirror reads the snapshot id and
   * the manifest at different moments, so it can write snapshot N+1 into
   * `v{N}.manifest.bin`), or its `previous_snapshot_id` does not precede it.
   * The walk reports it and goes on below the key, without checking the link.
   */
  anomaly?: string;
}

/** Why a chain walk ended. */
export interface ChainEnd {
  /** The version at which it ended (0: it went past version 1). */
  version: number;
  /**
   * - `start`: the first snapshot (no `previous_snapshot_id`), or below version 1;
   * - `missing`: the manifest is not there (expired, or never mirrored);
   * - `boundary`: below `stopBelow`;
   * - `not-built-on`: another manifest than the one its successor was built on;
   * - `legacy`: a legacy JSON manifest (see `legacyManifestError`).
   */
  reason: "start" | "missing" | "boundary" | "not-built-on" | "legacy";
}

/** Options of {@link walkChain}. */
export interface WalkChainOptions {
  /** Stop before versions below this one (the retained history of a primary starts at low_water). */
  stopBelow?: number;
  /** Told why and where the walk ended (not called when the caller stops iterating). */
  onEnd?: (end: ChainEnd) => void;
}

/** The anomaly of `file` read at its key's version, if any (see {@link ChainEntry.anomaly}). */
export function manifestAnomaly(file: ManifestFile, key: string): string | undefined {
  const { version, manifest } = file;
  if (manifest.snapshotId !== BigInt(version)) {
    return `${key} holds snapshot ${manifest.snapshotId}, not ${version} (merutable's mirror can write a later snapshot under an earlier number)`;
  }
  const prev = manifest.previousSnapshotId;
  if (prev !== undefined && !(prev < BigInt(version))) {
    return `${key}: previous_snapshot_id ${prev} does not precede it`;
  }
  return undefined;
}

/**
 * The snapshot chain from `head` backwards through `previous_snapshot_id`,
 * until a manifest is missing, lies below `stopBelow`, is a legacy JSON
 * manifest, or is not the one its successor was built on (see
 * {@link builtOn}: another manifest at that number, such as a withdrawn
 * stale commit, ends the history there).
 *
 * A manifest that is not what its key promises (see {@link ChainEntry.anomaly})
 * is yielded with the anomaly described, and the walk goes on at the version
 * below its key: readers of merutable's own mirrors meet such manifests, and
 * one of them must not hide the rest of the history.
 *
 * @param from a table's layout (`TableReader`), or a store read as the
 *   object-store layout.
 * @throws TidemarkError errors of reading a manifest (`Corrupt` when one does
 *   not decode; store errors).
 */
export async function* walkChain(
  from: ObjectStore | ManifestSource,
  head: number,
  opts: WalkChainOptions = {},
): AsyncIterable<ChainEntry> {
  const source = "readManifestIfExists" in from ? from : objectStoreManifests(from);
  const floor = Math.max(1, opts.stopBelow ?? 1);
  const end = (version: number, reason: ChainEnd["reason"]) => opts.onEnd?.({ version, reason });
  let version = head;
  let later: ManifestFile | undefined;
  while (version >= floor) {
    let file: ManifestFile | undefined;
    try {
      file = await source.readManifestIfExists(version);
    } catch (e) {
      if (!isLegacyManifestError(e)) throw e;
      end(version, "legacy");
      return;
    }
    if (file === undefined) {
      end(version, "missing");
      return;
    }
    if (later !== undefined && !(await builtOn(later.manifest, file))) {
      end(version, "not-built-on");
      return;
    }
    const anomaly = manifestAnomaly(file, source.manifestKey(version));
    yield anomaly === undefined ? file : { ...file, anomaly };
    const prev = file.manifest.previousSnapshotId;
    if (anomaly !== undefined) {
      // The link cannot be checked: go on below the key.
      later = undefined;
      version--;
      continue;
    }
    if (prev === undefined) {
      end(version, "start");
      return;
    }
    later = file;
    version = Number(prev);
  }
  end(version, version < 1 ? "start" : "boundary");
}
