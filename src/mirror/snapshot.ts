import { decodeAt } from "../catalog/chain.ts";
import { advanceLowWater, manifestKey } from "../catalog/layout.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { checkNumber, option } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { copySourceBody } from "../store/copy-source.ts";
import { createOrSame, explainNotFound, headIfExists } from "../store/exists.ts";
import { commonPrefix, compareKeys, dropLastCodePoint } from "../store/keys.ts";
import { capabilitiesOf, type ObjectMeta, type ObjectStore, storeId } from "../store/types.ts";
import { missingSourceFile, originMetadata, proveOrigin, sourceHead } from "./origin.ts";

/**
 * A listing page (up to 1,000 keys, one write-class request) is billed about
 * like 12 HEADs on S3 and R2 (class A vs class B): a listing may read at most
 * one page per this many files it answers for, so it never costs more than the
 * HEADs it replaces; past that, the remaining files fall back to HEADs.
 */
const FILES_PER_LIST_PAGE = 12;

/**
 * The largest single PUT S3 takes. Create-only puts are single PUTs (no S3
 * store honours a condition on CompleteMultipartUpload), so a bigger file is
 * copied with a plain (multipart) put after the HEAD found it missing.
 */
const MAX_CREATE_BYTES = 5 * 1024 ** 3;

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
   * there and proven the source's), with the target's etag of it.
   */
  onFile?: (path: string, copied: boolean, bytes: number, etag: string) => void;
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
}

/** Whether an object of `size` bytes on the target can stand for `file`. */
function sizeFits(file: LiveFile, size: number): boolean {
  return file.size !== undefined ? size === file.size : size >= file.minSize;
}

function describeSize(file: LiveFile): string {
  return file.size !== undefined ? `${file.size} bytes` : `at least ${file.minSize} bytes`;
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

/** `SplitBrain` for a file on the target whose size the snapshot rules out. */
function wrongSize(file: LiveFile, size: number, version: number): TidemarkError {
  return new TidemarkError(
    "SplitBrain",
    `target has ${file.path} with ${size} bytes, snapshot v${version} says ${describeSize(file)}: ` +
      "another history was mirrored here",
    { key: file.path },
  );
}

/** What one snapshot's file copies share. */
interface CopyContext {
  source: ObjectStore;
  target: ObjectStore;
  sourceId: string;
  version: number;
  knownEtags: Record<string, string> | undefined;
  /** The target copies the source's objects server-side, create-only (`target.canCopyFrom(source)`). */
  serverSide: boolean;
}

/** CopyObject's limit (5 GiB); a bigger file is streamed. */
const MAX_SERVER_COPY_BYTES = 5 * 1024 ** 3;

/**
 * Copies `file` server-side (the target `canCopyFrom` the source): one HEAD on
 * the source (its size checked against the snapshot, its etag pinned and
 * recorded as the origin), then a create-only `put` of a `copySourceBody`,
 * which the target turns into one copy request. `undefined` when the file is
 * too big for one copy (the caller streams it).
 */
async function serverCopy(
  ctx: CopyContext,
  file: LiveFile,
): Promise<{ copied: number | undefined; etag: string } | undefined> {
  const { source, target, version } = ctx;
  const src = await sourceHead(source, file, `snapshot v${version}`);
  if (!sizeFits(file, src.size)) throw wrongSourceSize(file, src.size, version);
  if (src.size > MAX_SERVER_COPY_BYTES) return undefined;
  const body = copySourceBody({ store: source, key: file.path, etag: src.etag, size: src.size });
  try {
    const put = await target.put(file.path, body, {
      size: src.size,
      mode: "create",
      metadata: originMetadata(ctx.sourceId, src.etag),
    });
    return { copied: src.size, etag: put.etag };
  } catch (e) {
    if (!body.locked) body.cancel().catch(() => {});
    // As for a streamed copy: fine if what is there is the source's file.
    if (isTidemarkError(e, "AlreadyExists")) {
      const onTarget = await headIfExists(target, file.path);
      if (onTarget !== undefined) return { copied: undefined, etag: await acceptFound(ctx, file, onTarget) };
    }
    throw e;
  }
}

/** `Corrupt`: a source file whose size the snapshot rules out. */
function wrongSourceSize(file: LiveFile, size: number, version: number): TidemarkError {
  return new TidemarkError(
    "Corrupt",
    `source file ${file.path} has ${size} bytes, snapshot v${version} says ${describeSize(file)}`,
    { key: file.path },
  );
}

/**
 * Accepts a file found on the target: the right size, and proven the
 * source's bytes (see {@link proveOrigin}). Returns its etag.
 */
async function acceptFound(ctx: CopyContext, file: LiveFile, onTarget: ObjectMeta): Promise<string> {
  if (!sizeFits(file, onTarget.size)) throw wrongSize(file, onTarget.size, ctx.version);
  await proveOrigin({ ...ctx, file, onTarget, knownEtag: ctx.knownEtags?.[file.path] });
  return onTarget.etag;
}

/**
 * Copies one file source → target unless the target has it already: one HEAD
 * on the target (unless a listing just showed it missing), then a streamed
 * GET → create-only PUT that records the file's origin in its metadata, so
 * the body is never held whole in memory (the S3 adapter goes multipart above
 * its threshold); or, where the target copies from the source server-side
 * and create-only (`ctx.serverSide`), a source HEAD and a create-only put of
 * a `copySourceBody` (one copy request on the target) recording the same
 * origin. A file found on the target is accepted only
 * when proven the source's bytes.
 *
 * @param listedMissing a listing of the target did not show the file: no
 *   HEAD (the create-only PUT settles a race), except for a file too big for
 *   a create-only PUT, which is always HEADed right before its overwrite.
 * @returns bytes copied (`undefined` when the file was found on the target)
 *   and the target's etag.
 */
async function copyFile(
  ctx: CopyContext,
  file: LiveFile,
  listedMissing: boolean,
): Promise<{ copied: number | undefined; etag: string }> {
  const { source, target, version } = ctx;
  const checkTarget = async (): Promise<string | undefined> => {
    const onTarget = await headIfExists(target, file.path);
    return onTarget === undefined ? undefined : acceptFound(ctx, file, onTarget);
  };
  let headed = false;
  if (!listedMissing || file.minSize > MAX_CREATE_BYTES) {
    const etag = await checkTarget();
    if (etag !== undefined) return { copied: undefined, etag };
    headed = true;
  }
  if (ctx.serverSide) {
    const r = await serverCopy(ctx, file);
    if (r !== undefined) return r;
  }
  const body = await explainNotFound(
    source.get(file.path),
    missingSourceFile(file, `snapshot v${version}`),
    file.path,
  );
  if (!sizeFits(file, body.size)) {
    body.body.cancel().catch(() => {});
    throw wrongSourceSize(file, body.size, version);
  }
  const mode = body.size > MAX_CREATE_BYTES ? "overwrite" : "create";
  // An overwrite is not create-only: look right before it, never on a listing's word.
  if (mode === "overwrite" && !headed) {
    let etag: string | undefined;
    try {
      etag = await checkTarget();
    } catch (e) {
      body.body.cancel().catch(() => {});
      throw e;
    }
    if (etag !== undefined) {
      body.body.cancel().catch(() => {});
      return { copied: undefined, etag };
    }
  }
  try {
    const put = await target.put(file.path, body.body, {
      size: body.size,
      mode,
      metadata: originMetadata(ctx.sourceId, body.etag),
    });
    return { copied: body.size, etag: put.etag };
  } catch (e) {
    if (!body.body.locked) body.body.cancel().catch(() => {});
    // A racing mirror (or our own create whose response was lost, retried by
    // the store) put it there first: fine if it is the source's file.
    if (isTidemarkError(e, "AlreadyExists")) {
      const onTarget = await headIfExists(target, file.path);
      if (onTarget !== undefined) return { copied: undefined, etag: await acceptFound(ctx, file, onTarget) };
    }
    throw e;
  }
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
async function putManifest(target: ObjectStore, version: number, bytes: Uint8Array): Promise<number> {
  return createOrSame(
    target,
    manifestKey(version),
    bytes,
    (existing) =>
      `target already has a different manifest v${version} (${existing.length} bytes, source's is ${bytes.length}): ` +
      "another writer mirrored a different history here",
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
  };
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
    if (!sizeFits(file, found.size)) throw wrongSize(file, found.size, version);
    // Written by this mirror (the etag it recorded): proven without a request.
    if (opts.knownEtags?.[file.path] === found.etag) {
      result.skippedFiles++;
      opts.onFile?.(file.path, false, 0, found.etag);
      continue;
    }
    work.push({ file, found });
  }
  // Asked only when there is something to copy: a store may probe for it once.
  if (work.some((w) => w.found === undefined) && target.canCopyFrom) {
    ctx.serverSide = await target.canCopyFrom(source);
  }
  await forEachLimit(work, parallelism, async ({ file, found }) => {
    if (!result.complete) return;
    if (opts.shouldContinue && !opts.shouldContinue(file)) {
      result.complete = false;
      return;
    }
    const r =
      found !== undefined
        ? { copied: undefined, etag: await acceptFound(ctx, file, found) }
        : await copyFile(ctx, file, listed?.covers(file.path) ?? false);
    if (r.copied !== undefined) {
      result.uploadedFiles++;
      result.bytes += r.copied;
    } else {
      result.skippedFiles++;
    }
    opts.onFile?.(file.path, r.copied !== undefined, r.copied ?? 0, r.etag);
  });
  if (!result.complete) return result;
  result.bytes += await putManifest(target, version, manifestBytes);
  if (opts.advanceLowWater ?? true) {
    await advanceLowWater(target, version);
    result.lowWaterAdvanced = true;
  }
  return result;
}
