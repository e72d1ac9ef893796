import { decodeAt, type ManifestFile, manifestAnomaly } from "../catalog/chain.ts";
import { LOW_WATER_KEY, parseManifestKey } from "../catalog/layout.ts";
import {
  isLegacyManifestError,
  parsePosixManifestKey,
  posixManifestKey,
  readVersionHint,
  VERSION_HINT_KEY,
  type VersionHint,
} from "../catalog/posix.ts";
import { readTableSchema, SCHEMA_PROPERTY } from "../catalog/schema.ts";
import { openTable, type TableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { readChecksums } from "../mirror/checksums.ts";
import { type CopyContext, copyFile, sizeFits } from "../mirror/copy.ts";
import { checkNumber, numberOption } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { sameBytes } from "../store/body.ts";
import { type Sha256Factory, sha256Hex, sha256Of } from "../store/checksum.ts";
import { createOrSame, headIfExists } from "../store/exists.ts";
import { capabilitiesOf, locate, type ObjectStore, storeId } from "../store/types.ts";

/** Options of {@link restore}. */
export interface RestoreOptions {
  /** The table to restore: a mirror (object-store layout) or any table `openTable` reads. */
  from: ObjectStore;
  /** Where merutable's posix layout is written: a directory (`FileStore`), or a bucket prefix. */
  to: ObjectStore;
  /** The version of `from` to restore (default: its HEAD). */
  version?: number;
  /** Files copied at once (default 8). */
  parallelism?: number;
  /** Told how far the restore is, after each step (the CLI draws a progress bar with it). */
  onProgress?: (p: RestoreProgress) => void;
  /**
   * Makes the SHA-256 hashers (default: pure JS, every runtime; `nodeSha256`
   * from `tidemark/node` takes several times less CPU).
   */
  sha256?: Sha256Factory;
}

/** How far a {@link restore} is. */
export interface RestoreProgress {
  /** `files` (data files, deletion vectors), then `manifests`, then `hint` (`version-hint.text`). */
  phase: "files" | "manifests" | "hint";
  /** Files on the target so far (copied, or found there and proven the source's). */
  filesDone: number;
  filesTotal: number;
  /** Bytes copied so far. */
  bytes: number;
}

/** A version {@link restore} did not write, and why. */
export interface RestoreSkip {
  version: number;
  /**
   * - `files-gone`: files it references are not on the source (merutable
   *   deleted them after a compaction, before they were mirrored);
   * - `no-schema`: it carries no valid `merutable.schema.json`, so merutable
   *   could not decode it;
   * - `anomaly`: its manifest is not what its key promises (see `ChainEntry.anomaly`).
   */
  reason: "files-gone" | "no-schema" | "anomaly";
}

/** What {@link restore} did. */
export interface RestoreResult {
  /** The version `version-hint.text` names now: the restored HEAD. */
  version: number;
  /**
   * The source version it came from: `version`, unless the source's manifest
   * held another snapshot than its key (a merutable mirror's race: then the
   * manifest is restored under the snapshot id it carries).
   */
  sourceVersion: number;
  /** Files copied. */
  files: number;
  /** Files found on the target already, proven the source's bytes (a continued restore). */
  skippedFiles: number;
  /** Bytes copied (files and manifests). */
  bytes: number;
  /** The versions whose `metadata/v{N}.metadata.pb` the target holds from this restore, ascending. */
  versions: number[];
  /** Older versions of the chain that were not restored, and why. */
  skipped: RestoreSkip[];
  /** The version an earlier restore of this table had left on the target (continued from it). */
  continued?: number;
  /** The source manifest's anomaly, when it held another snapshot than its key. */
  anomaly?: string;
}

/**
 * The schema check merutable makes when it opens a table: its HEAD manifest
 * must carry `merutable.schema.json` (and a valid one).
 */
function requireSchema(m: Manifest, key: string, fromName: string): void {
  if (readTableSchema(m, key) !== undefined) return;
  throw new TidemarkError(
    "NotSupported",
    `cannot restore ${key} of ${fromName} for merutable: it carries no ${SCHEMA_PROPERTY} property, and merutable cannot open ` +
      "a table without it (\"protobuf manifest missing 'merutable.schema.json' property\"); a table tidemark writes carries it " +
      "when it is created with a schema: Catalog.open(store, { schema })",
    { key },
  );
}

/**
 * Restores a table into merutable's posix layout (its primary's catalog), so
 * that merutable opens it: `metadata/v{N}.metadata.pb` holding the manifest
 * bytes verbatim and `version-hint.text` naming N (decimal, no newline).
 *
 * Order (a reader, or merutable, never meets a pointer to a manifest whose
 * files are missing):
 * 1. every file the restored versions reference (data files, deletion
 *    vectors, delete files) is put on the target, create-only, streamed, its
 *    size checked against the manifest (a file already there, from an
 *    interrupted run, is accepted only when proven the source's bytes, and
 *    only then skipped);
 * 2. then the manifests, create-only, oldest first: version N, and every
 *    older version of its chain whose files are all on the source and that
 *    carries a schema, so merutable's time travel keeps working;
 * 3. then `version-hint.text` last.
 *
 * A target that already holds a table is refused, unless it is this table at
 * an older (or the same) version, left by an earlier restore: then the
 * restore continues from it (files and manifests already there are checked,
 * not copied again, and the hint is replaced with `If-Match` on the one read).
 * Run it again after a crash: it resumes.
 *
 * Before anything is written it proves that the target's history is the
 * source's (its HEAD and every manifest it would keep byte-identical to the
 * source's of that version: a table merutable committed to since is
 * `SplitBrain`), that every key lands where merutable opens it
 * (`ObjectStore.storesVerbatim`), and that the source's history did not
 * change while it was read (its top manifest read again last).
 *
 * @throws TidemarkError `InvalidArgument` for a bad option or a read-only
 *   target; `NotFound` when the source has no snapshot, or not `version`;
 *   `NotSupported` when the manifest carries no `merutable.schema.json`
 *   (merutable cannot open it); `Corrupt` when that schema is malformed, a
 *   source file's size disagrees with its manifest, the target's
 *   `version-hint.text` is garbage, or a file or manifest of a mirror is not
 *   what the mirror's checksum record says (nothing of it written);
 *   `AlreadyExists` when the target holds another table, this table at a
 *   newer version, or an object-store table; `SplitBrain` when the target's history is not the source's (nothing
 *   written), or a file or manifest on the target holds other bytes than the
 *   source's; `InvalidArgument` for a path the target would store under
 *   another name (nothing written); `PreconditionFailed` when the source's
 *   history changed while it was read (nothing written) or
 *   `version-hint.text` changed under the restore; store errors.
 */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const { from, to } = opts ?? {};
  if (!from || !to) throw new TidemarkError("InvalidArgument", "restore needs a from and a to store");
  if (opts.version !== undefined) checkNumber("version", opts.version, { min: 1 });
  const parallelism = numberOption("parallelism", opts.parallelism, 8, { min: 1, max: 1024 });
  if (!capabilitiesOf(to).write) {
    throw new TidemarkError("InvalidArgument", `cannot restore into ${to.name}: it is read-only`);
  }

  const table = await openTable(from);
  const head = await table.head();
  if (head === 0) throw new TidemarkError("NotFound", `nothing to restore: ${from.name} holds no snapshot`);
  const sourceVersion = opts.version ?? head;
  // A version below the source's retention boundary is refused, naming the oldest one kept.
  const top = await table.readRetained(sourceVersion);
  const topKey = table.manifestKey(sourceVersion);
  const anomaly = manifestAnomaly(top, topKey);
  const version = Number(top.manifest.snapshotId);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TidemarkError(
      "Corrupt",
      `${topKey} holds snapshot ${top.manifest.snapshotId}, not a version merutable can name`,
      {
        key: topKey,
      },
    );
  }
  requireSchema(top.manifest, topKey, from.name);
  const uuid = top.manifest.tableUuid;

  // The target: empty, or this table at an older version (an earlier restore).
  const target = await readTarget(to, uuid, version);
  const hint = target.hint;

  // The versions to restore: the top one, and the older ones of its chain that merutable can open.
  const versions = new Map<number, ManifestFile>([[version, top]]);
  const skipped: RestoreSkip[] = [];
  const onSource = new Map<string, boolean>();
  const present = async (f: LiveFile): Promise<boolean> => {
    let known = onSource.get(f.path);
    if (known === undefined) {
      const meta = await headIfExists(from, f.path);
      known = meta !== undefined && sizeFits(f, meta.size);
      onSource.set(f.path, known);
    }
    return known;
  };
  let first = true;
  for await (const s of table.snapshots(sourceVersion)) {
    if (first) {
      first = false;
      continue;
    }
    const key = table.manifestKey(s.version);
    if (s.anomaly !== undefined) {
      skipped.push({ version: s.version, reason: "anomaly" });
      continue;
    }
    let schema: unknown;
    try {
      schema = readTableSchema(s.manifest, key);
    } catch (e) {
      if (!isTidemarkError(e, "Corrupt")) throw e;
    }
    if (schema === undefined) {
      skipped.push({ version: s.version, reason: "no-schema" });
      continue;
    }
    const files = referencedFiles(s.manifest);
    const found = new Set<string>();
    await forEachLimit(files, parallelism, async (f) => {
      if (await present(f)) found.add(f.path);
    });
    if (found.size !== files.length) {
      skipped.push({ version: s.version, reason: "files-gone" });
      continue;
    }
    versions.set(s.version, s);
  }

  // Everything the restored versions reference, once each.
  const files = new Map<string, LiveFile>();
  for (const f of versions.values()) {
    for (const r of referencedFiles(f.manifest)) {
      const seen = files.get(r.path);
      if (seen === undefined) files.set(r.path, r);
      else if (seen.size === undefined)
        files.set(r.path, r.size !== undefined ? r : { ...seen, minSize: Math.max(seen.minSize, r.minSize) });
    }
  }

  // Before a byte is written: the target's history is the source's, and every path can be written as merutable opens it.
  await proveSameHistory(to, target, version, async (v) => {
    const mine = versions.get(v);
    if (mine !== undefined) return mine.bytes;
    let theirs: ManifestFile | undefined;
    try {
      theirs = await table.readManifestIfExists(v);
    } catch (e) {
      if (isLegacyManifestError(e)) return undefined;
      throw e;
    }
    // A manifest that holds another snapshot than its key is not the source's v{N}.
    return theirs === undefined || manifestAnomaly(theirs, table.manifestKey(v)) !== undefined
      ? undefined
      : theirs.bytes;
  });
  checkLiteralPaths(to, [...files.keys(), ...[...versions.keys()].map(posixManifestKey), VERSION_HINT_KEY]);
  await checkSourceUnchanged(table, sourceVersion, top);
  const recorded = await recordedChecksums(table, [...versions.values()]);

  // 1. Files.
  const result: RestoreResult = {
    version,
    sourceVersion,
    files: 0,
    skippedFiles: 0,
    bytes: 0,
    versions: [...versions.keys()].sort((a, b) => a - b),
    skipped,
  };
  if (hint !== undefined) result.continued = hint.version;
  if (anomaly !== undefined) result.anomaly = anomaly;
  const progress = (phase: RestoreProgress["phase"]) =>
    opts.onProgress?.({
      phase,
      filesDone: result.files + result.skippedFiles,
      filesTotal: files.size,
      bytes: result.bytes,
    });
  progress("files");
  const ctx: CopyContext = {
    source: from,
    target: to,
    sourceId: storeId(from),
    version: sourceVersion,
    hasher: opts.sha256,
    // Each file's bytes are checked against the mirror's record (or the checksum its store keeps) as they stream.
    expectedSha256: (path) => recorded.get(path),
  };
  try {
    await forEachLimit([...files.values()], parallelism, async (f) => {
      const { copied } = await copyFile(ctx, f);
      if (copied === undefined) result.skippedFiles++;
      else {
        result.files++;
        result.bytes += copied;
      }
      progress("files");
    });
  } catch (e) {
    // A file gone because the source's retention expired a version while it was copied.
    if (isTidemarkError(e, "NotFound")) await checkStillRetained(table, sourceVersion, versions.keys());
    throw e;
  }

  // 2. Manifests, oldest first, verbatim.
  for (const v of result.versions) {
    const f = versions.get(v) as ManifestFile;
    result.bytes += await putManifest(to, v, f.bytes, await sha256Of(f.bytes));
    progress("manifests");
  }

  // 3. version-hint.text, last.
  if (hint?.version !== version) await putHint(to, version, hint);
  progress("hint");
  return result;
}

/**
 * After a source file went missing: the expired error when the source's
 * retention has since passed the restored version, `PreconditionFailed`
 * when it passed an older version of its chain (nothing visible was
 * written: run it again, and that version is left out).
 */
async function checkStillRetained(
  table: TableReader,
  sourceVersion: number,
  versions: Iterable<number>,
): Promise<void> {
  await table.checkRetained(sourceVersion);
  const oldest = await table.retentionBoundary();
  const gone = [...versions].filter((v) => v < oldest).sort((a, b) => a - b);
  if (gone.length === 0) return;
  throw new TidemarkError(
    "PreconditionFailed",
    `the source's retention expired v${gone.join(", v")} while the restore copied it (the oldest version retained is now v${oldest}); ` +
      "no manifest or version-hint.text was written: run it again",
  );
}

/** What a restore target holds of a posix table, read before anything is written. */
interface TargetState {
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
async function readTarget(to: ObjectStore, uuid: string, version: number): Promise<TargetState> {
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

/**
 * Proves, before anything is written, that the table on the target is the
 * source's history: its HEAD (the version its hint names) and every manifest
 * it holds at or below the version restored (each one the restored table
 * would keep, or that a create-only write would meet) are byte for byte the
 * source's manifest of that version (`sourceBytes`). A version the source no
 * longer holds proves nothing: it is accepted only below a proven HEAD (an
 * earlier restore wrote it, from an older copy of the history). Anything else
 * is another history: merutable committed to the restored table (its own
 * vN, on a directory the mirror knows nothing of), or an interrupted commit
 * of merutable's left a manifest above the hint. Restoring over it would
 * stack two histories, so it is `SplitBrain`, with nothing written.
 */
async function proveSameHistory(
  to: ObjectStore,
  target: TargetState,
  version: number,
  sourceBytes: (v: number) => Promise<Uint8Array | undefined>,
): Promise<void> {
  const head = target.hint?.version;
  const versions = [...target.manifests.keys()].sort((a, b) => b - a);
  for (const v of versions) {
    const key = posixManifestKey(v);
    const ours = target.manifests.get(v) as Uint8Array;
    const theirs = await sourceBytes(v);
    const at =
      v === head
        ? `its HEAD v${v}`
        : `its v${v} (${head === undefined ? "no version-hint.text" : `HEAD v${head}`})`;
    if (theirs === undefined) {
      if (head !== undefined && v < head) continue;
      throw new TidemarkError(
        "SplitBrain",
        `cannot restore v${version} into ${to.name}: ${at} cannot be proven the source's (the source holds no v${v}, a gap), ` +
          "so restoring over it could stack two histories (did merutable commit to the restored table?); nothing was written: " +
          "restore into an empty directory",
        { key },
      );
    }
    if (!sameBytes(theirs, ours)) {
      throw new TidemarkError(
        "SplitBrain",
        `cannot restore v${version} into ${to.name}: ${at} is not the source's v${v} (another history: did merutable commit to the restored table?); ` +
          "nothing was written: restore into an empty directory",
        { key },
      );
    }
  }
}

/**
 * The source's history did not change while the restore read it: its top
 * manifest, read again after every other source manifest, holds the bytes
 * read first. merutable never rewrites a manifest in place, and a manifest
 * a rollback removed does not come back with the same bytes, so while the
 * top one stays, every older one read in between is of its history: a
 * primary rolled back (and committing the same numbers again) during the
 * walk is refused, never restored as a mix of both histories. One GET.
 *
 * @throws TidemarkError `PreconditionFailed` (nothing written; run it again).
 */
async function checkSourceUnchanged(table: TableReader, version: number, top: ManifestFile): Promise<void> {
  let again: ManifestFile | undefined;
  try {
    again = await table.readManifestIfExists(version);
  } catch (e) {
    if (!isLegacyManifestError(e)) throw e;
  }
  if (again !== undefined && sameBytes(again.bytes, top.bytes)) return;
  throw new TidemarkError(
    "PreconditionFailed",
    `the source's v${version} ${again === undefined ? "is gone" : "holds other bytes"} since the restore read it: ` +
      `${table.store.name}'s history changed under the restore (a primary rolled back?); nothing was written; run it again`,
    { key: table.manifestKey(version) },
  );
}

/**
 * Every key a restore writes must land where merutable opens it: its
 * relative path, literally. A store that would keep a key under another name
 * (a directory store escapes `%`, names over 200 bytes and `.tidemark`
 * names, see `ObjectStore.storesVerbatim`) is refused up front, and so is a
 * path that is also the directory of another (no file system holds both).
 *
 * @throws TidemarkError `InvalidArgument` naming the path; nothing is written.
 */
function checkLiteralPaths(to: ObjectStore, keys: string[]): void {
  const refuse = (key: string, why: string): never => {
    throw new TidemarkError(
      "InvalidArgument",
      `cannot restore into ${to.name}: ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}...` : key)} ${why}; nothing was written`,
      { key },
    );
  };
  const all = new Set(keys);
  for (const k of keys) {
    const { store, key } = locate(to, k);
    if (store.storesVerbatim?.(key) === false) {
      refuse(
        k,
        "cannot be stored under its literal name there, and merutable opens the path as the manifest names it",
      );
    }
    for (let i = k.indexOf("/"); i >= 0; i = k.indexOf("/", i + 1)) {
      if (all.has(k.slice(0, i)))
        refuse(k.slice(0, i), `is a file and the directory of ${JSON.stringify(k)}`);
    }
  }
}

async function readTargetManifest(
  to: ObjectStore,
  key: string,
): Promise<{ bytes: Uint8Array; manifest: Manifest } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await (await to.get(key)).bytes();
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) return undefined;
    throw e;
  }
  return { bytes, manifest: decodeAt(key, bytes) };
}

/** Writes version `v`'s manifest bytes create-only; identical bytes already there are fine. */
async function putManifest(
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
 * The SHA-256s a mirror recorded for the files of the versions restored
 * (their checksum records, see `mirror/checksums.ts`; a posix source has
 * none), each manifest checked against its record first: a restore from a
 * damaged mirror fails before anything is written (a damaged file fails as
 * it streams, before its last byte reaches the target).
 *
 * @throws TidemarkError `Corrupt` naming the manifest or the file.
 */
async function recordedChecksums(table: TableReader, files: ManifestFile[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (table.layout !== "object-store") return out;
  for (const f of files) {
    const sums = await readChecksums(table.store, f.version);
    if (sums === undefined) continue;
    const key = table.manifestKey(f.version);
    const want = sums.get(key);
    const got = await sha256Hex(f.bytes);
    if (want !== undefined && want !== got) {
      throw new TidemarkError(
        "Corrupt",
        `${key} on ${table.store.name} has SHA-256 ${got}, its checksum record says ${want}: the mirror's copy is damaged; nothing was written`,
        { key },
      );
    }
    for (const [path, hex] of sums) {
      if (path === key) continue;
      const other = out.get(path);
      if (other !== undefined && other !== hex) {
        throw new TidemarkError(
          "Corrupt",
          `${table.store.name}'s checksum records disagree on ${path} (${other}, ${hex}): nothing was written`,
          { key: path },
        );
      }
      out.set(path, hex);
    }
  }
  return out;
}

/**
 * Writes `version-hint.text` = `version` (decimal, no newline, as merutable
 * writes it): create-only on a fresh target; over an earlier restore's hint,
 * with `If-Match` on the etag read before anything was written.
 */
async function putHint(to: ObjectStore, version: number, previous: VersionHint | undefined): Promise<void> {
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
