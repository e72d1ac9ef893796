import { TidemarkError } from "../errors.ts";
import type { LiveFile } from "../manifest/live.ts";
import { explainNotFound } from "../store/exists.ts";
import type { ObjectMeta, ObjectStore } from "../store/types.ts";

/**
 * User-metadata keys a mirror writes on every file it copies: the source's
 * identity and the etag the source object had. A file found on the target
 * later is the source's bytes when both still match (etags change whenever
 * an object is rewritten).
 */
export const ORIGIN_SOURCE_KEY = "tidemark-source";
/** See {@link ORIGIN_SOURCE_KEY}. */
const ORIGIN_ETAG_KEY = "tidemark-source-etag";

/** The metadata recording that a copy came from `sourceId`'s object with `etag`. */
export function originMetadata(sourceId: string, etag: string): Record<string, string> {
  return { [ORIGIN_SOURCE_KEY]: sourceId, [ORIGIN_ETAG_KEY]: etag };
}

/**
 * An etag that is a digest of the content: 32 lower-case hex digits (the MD5
 * of a single-part upload on S3, R2 and Ceph; multipart etags end in `-N`,
 * and a memory store counts writes). Two such etags that are equal name equal
 * bytes; anything else proves nothing across stores.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html
 */
export function isContentEtag(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/** What the mirror needs to prove a file on the target. */
export interface OriginCheck {
  source: ObjectStore;
  target: ObjectStore;
  /** The source's identity as recorded in {@link ORIGIN_SOURCE_KEY}. */
  sourceId: string;
  file: LiveFile;
  /** The snapshot being mirrored (for messages). */
  version: number;
  /** What the file is part of, for messages (default `snapshot v{version}`; a checkpoint attempt says its own). */
  partOf?: string | undefined;
  /** What the target showed of the file (metadata absent when it came from a listing). */
  onTarget: ObjectMeta;
  /** The etag this mirror recorded when it wrote the file itself, if it did. */
  knownEtag?: string | undefined;
}

/**
 * Proves that the file already on the target holds the source's bytes, in
 * the cheapest way that works:
 *
 * 1. its etag is the one this mirror recorded when it wrote it (no request);
 * 2. the source's etag (one HEAD on the source) equals the target's and both
 *    are content digests;
 * 3. the target's origin metadata (from a HEAD of the target when a listing
 *    gave none) names this source and the source's current etag;
 * 4. else the bytes themselves, streamed from both stores and compared.
 *
 * Size alone proves nothing: another table's file (two tables mirrored onto
 * one target) or a path the source re-used with new content can have the
 * same size.
 *
 * @throws TidemarkError `SplitBrain` naming both stores when the bytes differ;
 *   `NotFound` (key: the file) when the source no longer has the file;
 *   store errors.
 */
export async function proveOrigin(c: OriginCheck): Promise<void> {
  const { source, target, file } = c;
  if (c.knownEtag !== undefined && c.knownEtag === c.onTarget.etag) return;
  const partOf = c.partOf ?? `snapshot v${c.version}`;
  const src = await sourceHead(source, file, partOf);
  if (isContentEtag(src.etag) && src.etag === c.onTarget.etag) return;
  const metadata = c.onTarget.metadata ?? (await target.head(file.path)).metadata ?? {};
  if (
    src.etag !== "" &&
    metadata[ORIGIN_SOURCE_KEY] === c.sourceId &&
    metadata[ORIGIN_ETAG_KEY] === src.etag
  ) {
    return;
  }
  if (await sameContent(source, target, file.path)) return;
  throw new TidemarkError(
    "SplitBrain",
    `${target.name} already has ${file.path} with other bytes than ${source.name}'s (${partOf}): ` +
      "a file of another table mirrored here, or a path the source re-used with new content",
    { key: file.path },
  );
}

/** HEADs `file` on the source; `NotFound` names the file and what it is part of (`snapshot v3`). */
export function sourceHead(source: ObjectStore, file: LiveFile, partOf: string): Promise<ObjectMeta> {
  return explainNotFound(source.head(file.path), missingSourceFile(file, partOf), file.path);
}

/** The message of a `NotFound` for a file (part of `partOf`, e.g. `snapshot v3`) the source no longer has. */
export function missingSourceFile(file: LiveFile, partOf: string): string {
  return `source file ${file.path} of ${partOf} is missing on the source`;
}

/** Whether `path` holds the same bytes on both stores (streamed, never held whole). */
async function sameContent(a: ObjectStore, b: ObjectStore, path: string): Promise<boolean> {
  const [x, y] = await Promise.all([a.get(path), b.get(path)]);
  if (x.size !== y.size) {
    await Promise.all([x.body.cancel().catch(() => {}), y.body.cancel().catch(() => {})]);
    return false;
  }
  return sameStreams(x.body, y.body);
}

/** Compares two byte streams chunk by chunk, whatever their chunking; cancels both when done. */
async function sameStreams(a: ReadableStream<Uint8Array>, b: ReadableStream<Uint8Array>): Promise<boolean> {
  const ra = a.getReader();
  const rb = b.getReader();
  let ca: Uint8Array = new Uint8Array(0);
  let cb: Uint8Array = new Uint8Array(0);
  let endA = false;
  let endB = false;
  try {
    for (;;) {
      if (ca.length === 0 && !endA) {
        const r = await ra.read();
        if (r.done) endA = true;
        else ca = r.value;
      }
      if (cb.length === 0 && !endB) {
        const r = await rb.read();
        if (r.done) endB = true;
        else cb = r.value;
      }
      if (ca.length === 0 && cb.length === 0) {
        if (endA && endB) return true;
        continue;
      }
      if (ca.length === 0 || cb.length === 0) {
        if ((ca.length === 0 && endA) || (cb.length === 0 && endB)) return false;
        continue;
      }
      const n = Math.min(ca.length, cb.length);
      for (let i = 0; i < n; i++) if (ca[i] !== cb[i]) return false;
      ca = ca.subarray(n);
      cb = cb.subarray(n);
    }
  } finally {
    await Promise.all([ra.cancel().catch(() => {}), rb.cancel().catch(() => {})]);
  }
}
