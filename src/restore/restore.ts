import { type ManifestFile, manifestAnomaly } from "../catalog/chain.ts";
import { isLegacyManifestError, posixManifestKey, VERSION_HINT_KEY } from "../catalog/posix.ts";
import { readTableSchema, SCHEMA_PROPERTY } from "../catalog/schema.ts";
import { openTable, type TableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { type CopyContext, copyFile, sizeFits } from "../mirror/copy.ts";
import { checkNumber, numberOption } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { type Sha256Factory, sha256Of } from "../store/checksum.ts";
import { headIfExists } from "../store/exists.ts";
import { capabilitiesOf, type ObjectStore, storeId } from "../store/types.ts";
import { checkLiteralPaths, checkSourceUnchanged, proveSameHistory, recordedChecksums } from "./proofs.ts";
import { putHint, putManifest, readTarget } from "./target.ts";

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
