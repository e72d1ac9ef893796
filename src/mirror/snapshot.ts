import { advanceLowWater, manifestKey } from "../catalog/index.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { decodeManifest, type LiveFile, liveFileInfo, liveFiles, type Manifest } from "../manifest/index.ts";
import { forEachLimit } from "../store/batch.ts";
import type { ObjectStore } from "../store/types.ts";

/** Default number of files copied at once. */
export const DEFAULT_PARALLELISM = 4;

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
   * copied. Absent: every live file is checked with one HEAD.
   */
  previous?: Manifest | undefined;
  /** Files copied at once (default 4). */
  parallelism?: number;
  /** The source manifest's bytes, if the caller has read them already (saves one GET). */
  manifestBytes?: Uint8Array;
  /**
   * Files known to be on the target already (from an interrupted attempt at
   * this version): skipped without any request.
   */
  alreadyUploaded?: Iterable<string>;
  /** Called once per file as soon as it is on the target (copied now, or found there). */
  onFile?: (path: string, copied: boolean, bytes: number) => void;
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
  /** Files found on the target already (right size, or listed in `alreadyUploaded`): not copied. */
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether an object of `size` bytes on the target can stand for `file`. */
function sizeFits(file: LiveFile, size: number): boolean {
  return file.size !== undefined ? size === file.size : size >= file.minSize;
}

function describeSize(file: LiveFile): string {
  return file.size !== undefined ? `${file.size} bytes` : `at least ${file.minSize} bytes`;
}

/** Reads snapshot `version`'s manifest bytes from `source`; `NotFound` names the version. */
export async function readSourceManifest(source: ObjectStore, version: number): Promise<Uint8Array> {
  const key = manifestKey(version);
  try {
    return await (await source.get(key)).bytes();
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) {
      throw new TidemarkError("NotFound", `source snapshot v${version} is missing (${key}): expired?`, {
        key,
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * Copies one file source → target unless the target has it already: one HEAD
 * on the target, then (if missing) a streamed GET → create-only PUT, so the
 * body is never held whole in memory (the S3 adapter goes multipart above its
 * threshold).
 *
 * @returns bytes copied, or `undefined` when the file was found on the target.
 */
async function copyFile(
  source: ObjectStore,
  target: ObjectStore,
  file: LiveFile,
  version: number,
): Promise<number | undefined> {
  const onTarget = await headOrUndefined(target, file.path);
  if (onTarget !== undefined) {
    if (sizeFits(file, onTarget)) return undefined;
    throw new TidemarkError(
      "SplitBrain",
      `target has ${file.path} with ${onTarget} bytes, snapshot v${version} says ${describeSize(file)}: ` +
        "another history was mirrored here",
      { key: file.path },
    );
  }
  let body: Awaited<ReturnType<ObjectStore["get"]>>;
  try {
    body = await source.get(file.path);
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) {
      throw new TidemarkError(
        "NotFound",
        `source file ${file.path} of snapshot v${version} is missing on the source`,
        { key: file.path, cause: e },
      );
    }
    throw e;
  }
  if (!sizeFits(file, body.size)) {
    body.body.cancel().catch(() => {});
    throw new TidemarkError(
      "Corrupt",
      `source file ${file.path} has ${body.size} bytes, snapshot v${version} says ${describeSize(file)}`,
      { key: file.path },
    );
  }
  try {
    const mode = body.size > MAX_CREATE_BYTES ? "overwrite" : "create";
    await target.put(file.path, body.body, { size: body.size, mode });
  } catch (e) {
    if (!body.body.locked) body.body.cancel().catch(() => {});
    // A racing mirror (or our own create whose response was lost, retried by
    // the store) put it there first: fine if it is the same file.
    if (isTidemarkError(e, "AlreadyExists")) {
      const size = await headOrUndefined(target, file.path);
      if (size !== undefined && sizeFits(file, size)) return undefined;
      throw new TidemarkError(
        "SplitBrain",
        `target has ${file.path} with ${size} bytes, snapshot v${version} says ${describeSize(file)}`,
        { key: file.path, cause: e },
      );
    }
    throw e;
  }
  return body.size;
}

async function headOrUndefined(store: ObjectStore, key: string): Promise<number | undefined> {
  try {
    return (await store.head(key)).size;
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) return undefined;
    throw e;
  }
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
  const key = manifestKey(version);
  try {
    await target.put(key, bytes, { mode: "create", contentType: "application/octet-stream" });
    return bytes.length;
  } catch (e) {
    if (!isTidemarkError(e, "AlreadyExists")) throw e;
    const existing = await (await target.get(key)).bytes();
    if (sameBytes(existing, bytes)) return 0;
    throw new TidemarkError(
      "SplitBrain",
      `target already has a different manifest v${version} (${existing.length} bytes, source's is ${bytes.length}): ` +
        "another writer mirrored a different history here",
      { key, cause: e },
    );
  }
}

/**
 * Makes snapshot `version` of `source` readable on `target`, in the order that
 * keeps every reader safe:
 *
 * 1. every live data file and deletion vector the snapshot references that
 *    `previous` did not is put on the target (create-only, streamed, at most
 *    `parallelism` at once; a file already there with the right size costs one
 *    HEAD and is not copied);
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
  const manifestBytes = opts.manifestBytes ?? (await readSourceManifest(source, version));
  const manifest = decodeManifest(manifestBytes);
  const had = new Set(opts.previous ? liveFiles(opts.previous) : []);
  const done = new Set(opts.alreadyUploaded ?? []);
  const todo = liveFileInfo(manifest).filter((f) => !had.has(f.path));
  const result: MirrorSnapshotResult = {
    uploadedFiles: 0,
    skippedFiles: 0,
    bytes: 0,
    complete: true,
    manifest,
    lowWaterAdvanced: false,
  };
  await forEachLimit(todo, opts.parallelism ?? DEFAULT_PARALLELISM, async (file) => {
    if (!result.complete) return;
    if (done.has(file.path)) {
      result.skippedFiles++;
      return;
    }
    if (opts.shouldContinue && !opts.shouldContinue(file)) {
      result.complete = false;
      return;
    }
    const copied = await copyFile(source, target, file, version);
    if (copied !== undefined) {
      result.uploadedFiles++;
      result.bytes += copied;
    } else {
      result.skippedFiles++;
    }
    opts.onFile?.(file.path, copied !== undefined, copied ?? 0);
  });
  if (!result.complete) return result;
  result.bytes += await putManifest(target, version, manifestBytes);
  if (opts.advanceLowWater ?? true) {
    await advanceLowWater(target, version);
    result.lowWaterAdvanced = true;
  }
  return result;
}
