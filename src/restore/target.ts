/**
 * The restore's target, merutable's posix layout: what it holds, read
 * before anything is written (`readTarget`: empty, or this table left by an
 * earlier restore), and the manifests and `version-hint.text` written last.
 *
 * @module
 */
import { decodeAt } from "../catalog/chain.ts";
import { LOW_WATER_KEY, parseManifestKey } from "../catalog/layout.ts";
import {
  parsePosixManifestKey,
  posixManifestKey,
  readVersionHint,
  VERSION_HINT_KEY,
  type VersionHint,
} from "../catalog/posix.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { bytesIfExists, createOrSame } from "../store/exists.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";

/** What a restore target holds of a posix table, read before anything is written. */
export interface TargetState {
  /** Its `version-hint.text`, if any. */
  hint: VersionHint | undefined;
  /** Its posix manifests at or below the version restored: version to bytes. */
  manifests: Map<number, Uint8Array>;
}

/**
 * The target is empty, or holds this table (`uuid`) at `version` or below
 * (an earlier restore, finished or not): returns its hint and its manifests
 * at or below `version` (every manifest a restore would keep). Another
 * table, an object-store table, legacy manifests, this table at a newer
 * version, or manifests above `version` without a hint are refused
 * (`AlreadyExists`) before a byte is written.
 */
export async function readTarget(to: ObjectStore, uuid: string, version: number): Promise<TargetState> {
  const refuse = (why: string, key?: string): never => {
    throw new TidemarkError(
      "AlreadyExists",
      `cannot restore into ${to.name}: ${why}; restore into an empty directory or bucket prefix`,
      key === undefined ? {} : { key },
    );
  };
  const other = (key: string, theirs: Manifest) =>
    refuse(
      `it holds another table (${key} belongs to table ${theirs.tableUuid || "(no uuid)"}, the source to ${uuid || "(no uuid)"})`,
      key,
    );
  const manifests = new Map<number, Uint8Array>();
  const keep = async (v: number, key: string): Promise<Manifest | undefined> => {
    const file = await readTargetManifest(to, key);
    if (file === undefined) return undefined;
    if (file.manifest.tableUuid !== uuid) other(key, file.manifest);
    if (v <= version) manifests.set(v, file.bytes);
    return file.manifest;
  };
  const hint = await readVersionHint(to);
  if (hint !== undefined) {
    const key = posixManifestKey(hint.version);
    const theirs = await keep(hint.version, key);
    if (theirs === undefined) {
      throw new TidemarkError(
        "Corrupt",
        `cannot restore into ${to.name}: its ${VERSION_HINT_KEY} names v${hint.version}, but ${key} is missing`,
        { key },
      );
    }
    if (hint.version > version) {
      refuse(
        `it holds this table at v${hint.version}, newer than v${version}: restoring it would roll merutable back`,
        key,
      );
    }
  }
  // Without a listing only what the hint names is known (every writable store lists).
  if (!capabilitiesOf(to).list) return { hint, manifests };
  for await (const m of to.list("metadata/")) {
    if (m.key === LOW_WATER_KEY || parseManifestKey(m.key) !== undefined) {
      refuse(`it holds an object-store table (${m.key}: a mirror, or a tidemark Catalog)`, m.key);
    }
    const p = parsePosixManifestKey(m.key);
    if (p === undefined) continue;
    if (p.kind === "json") refuse(`it holds a merutable table (${m.key})`, m.key);
    if (hint === undefined && p.version > version) {
      refuse(
        `it holds ${m.key}, above v${version}, without ${VERSION_HINT_KEY} (an interrupted restore of a later version?)`,
        m.key,
      );
    }
    if (p.version === hint?.version) continue;
    await keep(p.version, m.key);
  }
  return { hint, manifests };
}

async function readTargetManifest(
  to: ObjectStore,
  key: string,
): Promise<{ bytes: Uint8Array; manifest: Manifest } | undefined> {
  const bytes = await bytesIfExists(to, key);
  return bytes === undefined ? undefined : { bytes, manifest: decodeAt(key, bytes) };
}

/** Writes version `v`'s manifest bytes create-only; identical bytes already there are fine. */
export async function putManifest(
  to: ObjectStore,
  v: number,
  bytes: Uint8Array,
  sha256: Uint8Array,
): Promise<number> {
  const key = posixManifestKey(v);
  return createOrSame(
    to,
    key,
    bytes,
    () =>
      `${to.name} already has a different ${key}: another history was written there (did merutable commit to the restored table?)`,
    sha256,
  );
}

/**
 * Writes `version-hint.text` = `version` (decimal, no newline, as merutable
 * writes it): create-only on a fresh target; over an earlier restore's hint,
 * with `If-Match` on the etag read before anything was written.
 */
export async function putHint(
  to: ObjectStore,
  version: number,
  previous: VersionHint | undefined,
): Promise<void> {
  const body = String(version);
  const opts = { contentType: "text/plain" } as const;
  try {
    if (previous === undefined) {
      await to.put(VERSION_HINT_KEY, body, { ...opts, mode: "create" });
    } else if (capabilitiesOf(to).compareAndSwap) {
      await to.put(VERSION_HINT_KEY, body, { ...opts, mode: { ifMatch: previous.etag } });
    } else {
      await to.put(VERSION_HINT_KEY, body, opts);
    }
  } catch (e) {
    if (!isTidemarkError(e, "AlreadyExists") && !isTidemarkError(e, "PreconditionFailed")) throw e;
    // Ours already (a retried write whose response was lost)? Else someone else wrote it.
    const now = await readVersionHint(to);
    if (now?.version === version) return;
    throw new TidemarkError(
      "PreconditionFailed",
      `${VERSION_HINT_KEY} on ${to.name} changed during the restore (now ${now?.version ?? "missing"}): another restore, or merutable, wrote it`,
      { key: VERSION_HINT_KEY, cause: e },
    );
  }
}
