import { decodeAt } from "../catalog/chain.ts";
import { advanceLowWater, manifestKey } from "../catalog/layout.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { checkNumber, option } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { type Sha256Factory, sha256Bytes, sha256Hex } from "../store/checksum.ts";
import { createOrSame, explainNotFound } from "../store/exists.ts";
import { commonPrefix, compareKeys, dropLastCodePoint } from "../store/keys.ts";
import { capabilitiesOf, type ObjectMeta, type ObjectStore, storeId } from "../store/types.ts";
import { type Checksums, readChecksums, writeChecksums } from "./checksums.ts";
import {
  acceptFound,
  type CopyContext,
  copyFile,
  digestOnTarget,
  serverSideCopies,
  sizeFits,
  wrongTargetSize,
} from "./copy.ts";

/**
 * A listing page (up to 1,000 keys, one write-class request) is billed about
 * like 12 HEADs on S3 and R2 (class A vs class B): a listing may read at most
 * one page per this many files it answers for, so it never costs more than the
 * HEADs it replaces; past that, the remaining files fall back to HEADs.
 */
const FILES_PER_LIST_PAGE = 12;

/** Options of {@link mirrorSnapshot}. */
export interface MirrorSnapshotOptions {
  /** The primary's store (read: `get`, `head`). */
  source: ObjectStore;
  /** The mirror's store (written create-only, plus low_water). */
  target: ObjectStore;
  /** The snapshot to mirror. */
  version: number;
  /**
   * The last snapshot already mirrored to `target`: its live files are known
   * to be there (files go before manifests), so only the files it lacks are
   * copied. Absent: every live file is checked (one HEAD each, or one
   * listing when there are many: see `listThreshold`).
   */
  previous?: Manifest | undefined;
  /** Files copied at once (default 8; 1 to 1,024). */
  parallelism?: number;
  /**
   * From this many files to check on the target (default 100), list the
   * target's keys in their range
   * once (one write-class request per page of 1,000 keys, at most one page
   * per 12 files) instead of one HEAD per file; `Infinity`: never list. A
   * store that cannot list is always HEADed. A file the listing does not show
   * is put create-only, so a stale listing costs a retry, never an overwrite.
   */
  listThreshold?: number;
  /**
   * Asked before each listing page is requested; `false` ends the listing
   * there (files it did not reach are HEADed as usual). The `Mirror` loop uses
   * it to keep a listing within a tick's request budget.
   */
  beforeListPage?: () => boolean;
  /** The source manifest's bytes, if the caller has read them already (saves one GET). */
  manifestBytes?: Uint8Array;
  /**
   * Files this same process put on the target for this version (an attempt
   * interrupted by a budget): skipped without any request.
   */
  alreadyUploaded?: Iterable<string>;
  /**
   * Etags recorded when this mirror wrote files of this version (saved
   * progress of an earlier process): a file on the target with the recorded
   * etag is proven the source's without asking the source.
   */
  knownEtags?: Record<string, string>;
  /**
   * The source's identity recorded on every copy (default: `storeId(source)`),
   * by which a later run proves a file on the target came from this source.
   */
  sourceId?: string;
  /**
   * Called once per file as soon as it is on the target (copied now, or found
   * there and proven the source's), with the target's etag of it and its
   * SHA-256 (hex; `undefined` only for a file skipped without a request
   * whose digest this call did not know).
   */
  onFile?: (path: string, copied: boolean, bytes: number, etag: string, sha256: string | undefined) => void;
  /**
   * Makes the SHA-256 hashers of the checksums recorded (default: pure JS,
   * every runtime; `nodeSha256` from `tidemark/node` is several times faster).
   */
  sha256?: Sha256Factory | undefined;
  /**
   * The checksum record of `previous` (see `checksums.ts`), if the caller
   * has it: the SHA-256s of the files this version keeps from it. Absent
   * with `previous`: read from the target once (none there, a version
   * mirrored before checksums were recorded: those files stay unrecorded).
   */
  previousChecksums?: Checksums | undefined;
  /**
   * SHA-256s this mirror recorded for files of this version (saved progress
   * of an earlier process, with `knownEtags`): not computed again.
   */
  knownSha256?: Record<string, string> | undefined;
  /**
   * Asked before each file copy starts (with what the manifest says of it);
   * `false` stops the snapshot cleanly: files in flight finish, the manifest
   * is not written, and the result says `complete: false`.
   */
  shouldContinue?: (file: LiveFile) => boolean;
  /** Advance low_water after the manifest (default true; the `Mirror` loop batches it). */
  advanceLowWater?: boolean;
}

/** What {@link mirrorSnapshot} did. */
export interface MirrorSnapshotResult {
  /** Files copied from source to target. */
  uploadedFiles: number;
  /** Files found on the target already (proven the source's, or listed in `alreadyUploaded`): not copied. */
  skippedFiles: number;
  /** Bytes copied (files and the manifest). */
  bytes: number;
  /** False when `shouldContinue` stopped it before the manifest. */
  complete: boolean;
  /** The mirrored snapshot's manifest (decoded from the source's bytes). */
  manifest: Manifest;
  /** Whether low_water was advanced. */
  lowWaterAdvanced: boolean;
  /**
   * The checksum record written before the manifest (path → SHA-256, the
   * manifest's included); empty when the snapshot did not complete.
   */
  checksums: Checksums;
}

/** Reads snapshot `version`'s manifest bytes from `source`; `NotFound` names the version. */
async function readSourceManifest(source: ObjectStore, version: number): Promise<Uint8Array> {
  const key = manifestKey(version);
  return explainNotFound(
    source.get(key).then((b) => b.bytes()),
    `source snapshot v${version} is missing (${key}): expired?`,
    key,
  );
}

/** What one listing of the target says about the files to check. */
interface Listed {
  /** The files the listing showed (without user metadata: listings carry none). */
  found: Map<string, ObjectMeta>;
  /** Whether the listing answers for `path` (else it must be HEADed). */
  covers(path: string): boolean;
}

/**
 * Lists the target's keys from just before the first of `files` (in UTF-8
 * order) to the last, under their common prefix: one request per page instead
 * of one HEAD per file, and (on S3 through Node's fetch) no connection closed
 * after every HEAD. Reads at most `maxPages` pages; if it stops early, it
 * answers only for the files up to the last key it saw.
 */
async function listTarget(
  target: ObjectStore,
  files: LiveFile[],
  maxPages: number,
  beforePage: (() => boolean) | undefined,
): Promise<Listed> {
  const paths = files.map((f) => f.path).sort(compareKeys);
  const first = paths[0] as string;
  const last = paths[paths.length - 1] as string;
  const wanted = new Set(paths);
  const prefix = commonPrefix(first, last);
  const startAfter = dropLastCodePoint(first);
  const found = new Map<string, ObjectMeta>();
  const pageSize = Math.max(1, capabilitiesOf(target).listPageSize);
  const it = target
    .list(prefix, startAfter.length > prefix.length ? { startAfter } : {})
    [Symbol.asyncIterator]();
  let seen = 0;
  let pages = 0;
  let lastSeen: string | undefined;
  let complete = false;
  let ended = false;
  try {
    for (;;) {
      // The next item may need the next page.
      if (seen % pageSize === 0) {
        if (pages >= maxPages || (beforePage && !beforePage())) break;
        pages++;
      }
      const r = await it.next();
      if (r.done) {
        complete = true;
        ended = true;
        break;
      }
      seen++;
      const key = r.value.key;
      if (compareKeys(key, last) > 0) {
        complete = true;
        break;
      }
      if (wanted.has(key)) found.set(key, r.value);
      lastSeen = key;
    }
  } finally {
    // Stopped before the end: let the store's listing clean up.
    if (!ended) await it.return?.();
  }
  const upTo = lastSeen;
  return {
    found,
    covers: complete ? () => true : (path) => upTo !== undefined && compareKeys(path, upTo) <= 0,
  };
}

/**
 * Writes the source's manifest bytes verbatim, create-only. Losing the create
 * is fine when the target holds the same bytes (a racing mirror of the same
 * source, or our own earlier attempt whose response was lost); different bytes
 * mean another history: `SplitBrain`, never silently accepted (merutable took
 * any `AlreadyExists` as success).
 *
 * @returns bytes written (0 when the identical manifest was there already).
 */
async function putManifest(
  target: ObjectStore,
  version: number,
  bytes: Uint8Array,
  sha256: Uint8Array,
): Promise<number> {
  return createOrSame(
    target,
    manifestKey(version),
    bytes,
    (existing) =>
      `target already has a different manifest v${version} (${existing.length} bytes, source's is ${bytes.length}): ` +
      "another writer mirrored a different history here",
    sha256,
  );
}

/**
 * Makes snapshot `version` of `source` readable on `target`, in the order that
 * keeps every reader safe:
 *
 * 1. every live data file and deletion vector the snapshot references that
 *    `previous` did not is put on the target (create-only, streamed, at most
 *    `parallelism` at once, or copied on the server where the target
 *    `canCopyFrom` the source: a source HEAD and one create-only copy; a file
 *    already there with the right size costs one HEAD, or its share of one
 *    listing when `listThreshold` or more files are to be checked, and is
 *    not copied);
 * 2. then the manifest, the source's bytes verbatim (a byte-identical mirror),
 *    create-only at `metadata/v{version}.manifest.bin`;
 * 3. then `metadata/low_water.txt` advances to `version`, never backwards
 *    (compare-and-swap where the store supports it).
 *
 * Idempotent: re-running it after any failure finishes the job.
 *
 * @throws TidemarkError `NotFound` when the source manifest or one of its
 *   files is missing (the message names the file and version); `SplitBrain`
 *   when the target holds a different manifest at `version`, or a file of the
 *   wrong size; `Corrupt` when a source file's size disagrees with its
 *   manifest or the manifest does not decode; store errors (`Transient`, ...)
 *   as they come.
 */
export async function mirrorSnapshot(opts: MirrorSnapshotOptions): Promise<MirrorSnapshotResult> {
  const { source, target, version } = opts;
  const parallelism = option("parallelism", opts.parallelism);
  const threshold = option("listThreshold", opts.listThreshold);
  checkNumber("version", version, { min: 1 });
  const manifestBytes = opts.manifestBytes ?? (await readSourceManifest(source, version));
  const manifest = decodeAt(manifestKey(version), manifestBytes);
  const ctx: CopyContext = {
    source,
    target,
    sourceId: opts.sourceId ?? storeId(source),
    version,
    knownEtags: opts.knownEtags,
    serverSide: false,
    hasher: opts.sha256,
    digests: true,
    knownSha256: opts.knownSha256,
  };
  // The digests of this version's files, for its checksum record.
  const sums: Checksums = new Map();
  // Every file the manifest points at: live data files, deletion vectors and
  // delete files (a reader must never meet a manifest naming a missing file).
  const had = new Set(opts.previous ? referencedFiles(opts.previous).map((f) => f.path) : []);
  const done = new Set(opts.alreadyUploaded ?? []);
  const todo = referencedFiles(manifest).filter((f) => !had.has(f.path));
  const result: MirrorSnapshotResult = {
    uploadedFiles: 0,
    skippedFiles: 0,
    bytes: 0,
    complete: true,
    manifest,
    lowWaterAdvanced: false,
    checksums: new Map(),
  };
  const toCheck = todo.filter((f) => !done.has(f.path));
  result.skippedFiles += todo.length - toCheck.length;
  let listed: Listed | undefined;
  if (toCheck.length > 0 && toCheck.length >= threshold && capabilitiesOf(target).list) {
    const maxPages = Math.max(1, Math.floor(toCheck.length / FILES_PER_LIST_PAGE));
    listed = await listTarget(target, toCheck, maxPages, opts.beforeListPage);
  }
  const work: Array<{ file: LiveFile; found: ObjectMeta | undefined }> = [];
  for (const file of toCheck) {
    const found = listed?.found.get(file.path);
    if (found === undefined) {
      work.push({ file, found });
      continue;
    }
    // On the target already, with the wrong size: another history, before any write.
    if (!sizeFits(file, found.size)) throw wrongTargetSize(ctx, file, found.size);
    // Written by this mirror (the etag it recorded): proven without a request.
    if (opts.knownEtags?.[file.path] === found.etag) {
      result.skippedFiles++;
      opts.onFile?.(file.path, false, 0, found.etag, opts.knownSha256?.[file.path]);
      continue;
    }
    work.push({ file, found });
  }
  // Asked only when there is something to copy: a store may probe for it once.
  if (work.some((w) => w.found === undefined)) ctx.serverSide = await serverSideCopies(target, source);
  await forEachLimit(work, parallelism, async ({ file, found }) => {
    if (!result.complete) return;
    if (opts.shouldContinue && !opts.shouldContinue(file)) {
      result.complete = false;
      return;
    }
    const r =
      found !== undefined
        ? {
            copied: undefined,
            etag: await acceptFound(ctx, file, found),
            sha256: await digestOnTarget(ctx, file, found.sha256),
          }
        : await copyFile(ctx, file, listed?.covers(file.path) ?? false);
    if (r.copied !== undefined) {
      result.uploadedFiles++;
      result.bytes += r.copied;
    } else {
      result.skippedFiles++;
    }
    if (r.sha256 !== undefined) sums.set(file.path, r.sha256);
    opts.onFile?.(file.path, r.copied !== undefined, r.copied ?? 0, r.etag, r.sha256);
  });
  if (!result.complete) return result;
  // The checksum record, after the files and before the manifest: a reader never meets a manifest without it.
  const previousSums =
    opts.previousChecksums ??
    (opts.previous ? await readChecksums(target, Number(opts.previous.snapshotId)) : undefined);
  for (const file of referencedFiles(manifest)) {
    if (sums.has(file.path)) continue;
    const sha256 = had.has(file.path)
      ? previousSums?.get(file.path)
      : // Skipped without a request (this process, or saved progress): known, or read once.
        await digestOnTarget(ctx, file, undefined);
    if (sha256 !== undefined) sums.set(file.path, sha256);
  }
  const manifestSha256 = await sha256Hex(manifestBytes);
  sums.set(manifestKey(version), manifestSha256);
  await writeChecksums(target, version, sums);
  result.checksums = sums;
  result.bytes += await putManifest(target, version, manifestBytes, sha256Bytes(manifestSha256));
  if (opts.advanceLowWater ?? true) {
    await advanceLowWater(target, version);
    result.lowWaterAdvanced = true;
  }
  return result;
}
