import { isTidemarkError, TidemarkError } from "../errors.ts";
import { decodeManifest } from "../manifest/codec.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import type { ObjectStore } from "../store/types.ts";
import { manifestKey } from "./layout.ts";

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
  let bytes: Uint8Array;
  try {
    bytes = await (await store.get(key)).bytes();
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) {
      throw new TidemarkError("NotFound", `snapshot v${version} is not on ${store.name} (${key})`, {
        key,
        cause: e,
      });
    }
    throw e;
  }
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
  try {
    return await readManifestFile(store, version);
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) return undefined;
    throw e;
  }
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

/** Options of {@link walkChain}. */
export interface WalkChainOptions {
  /** Stop before versions below this one (the retained history of a primary starts at low_water). */
  stopBelow?: number;
}

/**
 * The snapshot chain from `head` backwards through `previous_snapshot_id`,
 * until a manifest is missing, lies below `stopBelow`, or is not the one its
 * successor was built on (see {@link builtOn}: another manifest at that
 * number, such as a withdrawn stale commit, ends the history there).
 *
 * @throws TidemarkError `Corrupt` when a `previous_snapshot_id` does not go
 *   backwards (a walk would loop); errors of {@link readManifestFile}.
 */
export async function* walkChain(
  store: ObjectStore,
  head: number,
  opts: WalkChainOptions = {},
): AsyncIterable<ManifestFile> {
  const floor = Math.max(1, opts.stopBelow ?? 1);
  let version = head;
  let later: ManifestFile | undefined;
  while (version >= floor) {
    const file = await readManifestIfExists(store, version);
    if (file === undefined) return;
    if (later !== undefined && !(await builtOn(later.manifest, file))) return;
    yield file;
    const prev = file.manifest.previousSnapshotId;
    if (prev === undefined) return;
    if (!(prev < BigInt(version))) {
      throw new TidemarkError(
        "Corrupt",
        `${manifestKey(version)}: previous_snapshot_id ${prev} does not precede it`,
        { key: manifestKey(version) },
      );
    }
    later = file;
    version = Number(prev);
  }
}
