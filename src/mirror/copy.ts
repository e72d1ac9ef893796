/**
 * One file copied from a table's store to another: the one copy path of the
 * mirror (`mirrorSnapshot`) and of `restore`. A file already on the target is
 * accepted only with the right size and proven the source's bytes
 * (`proveOrigin`); otherwise it is streamed (GET → create-only PUT, never held
 * whole) or, where the target copies from the source on the server side and
 * create-only (`canCopyFrom`), copied there. Every copy records its origin
 * (`originMetadata`), by which a later run proves it, and its SHA-256,
 * computed as the bytes stream through (no second read), or by the store
 * itself for a server-side copy where it computes one; a digest recorded
 * for the source's bytes (the source mirror's checksum record, or the
 * checksum its store keeps with the object) is checked on the way, before
 * the last byte reaches the target.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { LiveFile } from "../manifest/live.ts";
import { hashedBody, hashStream, type Sha256Factory, sha256Bytes, toHex } from "../store/checksum.ts";
import { copySourceBody } from "../store/copy-source.ts";
import { explainNotFound, headIfExists } from "../store/exists.ts";
import type { ObjectBody, ObjectMeta, ObjectStore } from "../store/types.ts";
import { originMetadata, proveOrigin, sourceHead } from "./origin.ts";

/**
 * The largest single PUT S3 takes. Create-only puts are single PUTs (no S3
 * store honours a condition on CompleteMultipartUpload), so a bigger file is
 * copied with a plain (multipart) put after a HEAD found it missing.
 */
export const MAX_CREATE_BYTES = 5 * 1024 ** 3;

/** CopyObject's limit (5 GiB); a bigger file is streamed. */
const MAX_SERVER_COPY_BYTES = 5 * 1024 ** 3;

/** What the copies of one snapshot (a mirror's, or those a restore makes) share. */
export interface CopyContext {
  source: ObjectStore;
  target: ObjectStore;
  /** The source's identity recorded on every copy (see `originMetadata`). */
  sourceId: string;
  /** The snapshot the files belong to (for messages). */
  version: number;
  /** What the files are part of, for messages (default `snapshot v{version}`; a checkpoint epoch says its own). */
  partOf?: string | undefined;
  /**
   * Etags this mirror recorded when it wrote files (saved progress of an
   * earlier process): a file on the target with its recorded etag is proven
   * the source's without asking the source.
   */
  knownEtags?: Record<string, string> | undefined;
  /**
   * The target copies the source's objects server-side, create-only (see
   * {@link serverSideCopies}); `undefined`: asked when the first file is to
   * be copied (a store may probe for it once), the answer kept here.
   */
  serverSide?: boolean | Promise<boolean> | undefined;
  /** Makes the SHA-256 hashers (default: pure JS; `nodeSha256` from `tidemark/node` on Node). */
  hasher?: Sha256Factory | undefined;
  /**
   * Every copy must say its SHA-256 (a mirror records it): a file found on
   * the target, or copied server-side by a store that computes none, is
   * hashed once, read from the target. Otherwise only copies that stream
   * through say it.
   */
  digests?: boolean;
  /**
   * SHA-256s this mirror recorded for files of the snapshot (saved progress
   * of an earlier process), trusted for a file proven the one it wrote.
   */
  knownSha256?: Record<string, string> | undefined;
  /**
   * The SHA-256 recorded for the source's file (the source mirror's checksum
   * record): the bytes copied must have it (`Corrupt` otherwise, and the
   * target never receives the whole file). The checksum the source's store
   * keeps with the object is checked the same way.
   */
  expectedSha256?: ((path: string) => string | undefined) | undefined;
}

/** What {@link copyFile} did. */
export interface CopyResult {
  /** Bytes copied; `undefined` when the file was found on the target (proven the source's). */
  copied: number | undefined;
  /** The target's etag of the file. */
  etag: string;
  /**
   * The file's SHA-256 (hex): always with `ctx.digests`; else when the
   * bytes streamed through, or a store or record said it.
   */
  sha256?: string | undefined;
}

/** What `ctx`'s files are part of, for messages: `snapshot v3`, `checkpoint epoch 7`. */
function partOf(ctx: CopyContext): string {
  return ctx.partOf ?? `snapshot v${ctx.version}`;
}

/** Whether an object of `size` bytes can stand for `file` (a deletion vector's size is a lower bound). */
export function sizeFits(file: LiveFile, size: number): boolean {
  return file.size !== undefined ? size === file.size : size >= file.minSize;
}

/** What the manifest says of `file`'s size, for messages. */
export function describeSize(file: LiveFile): string {
  return file.size !== undefined ? `${file.size} bytes` : `at least ${file.minSize} bytes`;
}

/** `SplitBrain` for a file on the target whose size the snapshot rules out. */
export function wrongTargetSize(ctx: CopyContext, file: LiveFile, size: number): TidemarkError {
  return new TidemarkError(
    "SplitBrain",
    `${ctx.target.name} already has ${file.path} with ${size} bytes, ${partOf(ctx)} says ${describeSize(file)}: ` +
      "another history was copied there",
    { key: file.path },
  );
}

/** `Corrupt`: a source file whose size the snapshot rules out. */
function wrongSourceSize(ctx: CopyContext, file: LiveFile, size: number): TidemarkError {
  return new TidemarkError(
    "Corrupt",
    `source file ${file.path} has ${size} bytes on ${ctx.source.name}, ${partOf(ctx)} says ${describeSize(file)}`,
    { key: file.path },
  );
}

/**
 * Whether `target` copies `source`'s objects server-side, create-only (asked
 * once per batch, and only when something is to be copied: a store may probe
 * for it once).
 */
export async function serverSideCopies(target: ObjectStore, source: ObjectStore): Promise<boolean> {
  return target.canCopyFrom ? target.canCopyFrom(source) : false;
}

/**
 * Accepts a file found on the target: the right size, and proven the
 * source's bytes (see {@link proveOrigin}). Returns its etag.
 *
 * @throws TidemarkError `SplitBrain` for the wrong size or other bytes.
 */
export async function acceptFound(ctx: CopyContext, file: LiveFile, onTarget: ObjectMeta): Promise<string> {
  if (!sizeFits(file, onTarget.size)) throw wrongTargetSize(ctx, file, onTarget.size);
  await proveOrigin({ ...ctx, file, onTarget, knownEtag: ctx.knownEtags?.[file.path] });
  return onTarget.etag;
}

/** `Corrupt`: the source's bytes are not the SHA-256 recorded for them. */
function damagedSource(ctx: CopyContext, file: LiveFile, actual: string, recorded: string): TidemarkError {
  return new TidemarkError(
    "Corrupt",
    `source file ${file.path} of ${partOf(ctx)} on ${ctx.source.name} has SHA-256 ${actual}, ` +
      `its recorded checksum is ${recorded}: the source's copy is damaged; nothing of it was published`,
    { key: file.path },
  );
}

/** The SHA-256 recorded for the source's file, if any: the source's record, else its store's checksum. */
function expectedOf(ctx: CopyContext, file: LiveFile, fromStore: string | undefined): string | undefined {
  return ctx.expectedSha256?.(file.path) ?? fromStore;
}

/**
 * The SHA-256 of a file on the target that did not stream through this copy
 * (found there, or copied server-side): the one this mirror recorded, the
 * one the store computed or keeps with the object, else (with
 * `ctx.digests`, or a digest to check) read once from the target and hashed.
 * Checked against the source's recorded one, when there is one.
 */
export async function digestOnTarget(
  ctx: CopyContext,
  file: LiveFile,
  known: string | undefined,
): Promise<string | undefined> {
  const expected = expectedOf(ctx, file, undefined);
  let sha256 = ctx.knownSha256?.[file.path] ?? known;
  if (sha256 === undefined && (ctx.digests || expected !== undefined)) {
    // One GET: the checksum the store keeps with the object, else its bytes hashed.
    const got = await ctx.target.get(file.path, { checksum: true });
    if (got.sha256 !== undefined) {
      await got.body.cancel().catch(() => {});
      sha256 = got.sha256;
    } else {
      sha256 = await hashStream(got.body, ctx.hasher);
    }
  }
  if (sha256 !== undefined && expected !== undefined && sha256 !== expected) {
    throw damagedSource(ctx, file, sha256, expected);
  }
  return sha256;
}

/** A file found on the target, accepted (see {@link acceptFound}), with its digest. */
async function found(ctx: CopyContext, file: LiveFile, onTarget: ObjectMeta): Promise<CopyResult> {
  const etag = await acceptFound(ctx, file, onTarget);
  return { copied: undefined, etag, sha256: await digestOnTarget(ctx, file, onTarget.sha256) };
}

/** After a lost create: fine if what is there now is the source's file (a racing copier, or our own retried create). */
async function afterLostCreate(ctx: CopyContext, file: LiveFile, e: unknown): Promise<CopyResult> {
  if (isTidemarkError(e, "AlreadyExists")) {
    const onTarget = await headIfExists(ctx.target, file.path);
    if (onTarget !== undefined) return found(ctx, file, onTarget);
  }
  throw e;
}

/**
 * Copies `file` server-side: one HEAD on the source (its size checked against
 * the snapshot, its etag pinned and recorded as the origin), then a
 * create-only `put` of a `copySourceBody`, which the target turns into one
 * copy request. `undefined` when the file is too big for one copy (the
 * caller streams it).
 */
async function serverCopy(ctx: CopyContext, file: LiveFile): Promise<CopyResult | undefined> {
  const src = await sourceHead(ctx.source, file, partOf(ctx));
  if (!sizeFits(file, src.size)) throw wrongSourceSize(ctx, file, src.size);
  if (src.size > MAX_SERVER_COPY_BYTES) return undefined;
  const body = copySourceBody({ store: ctx.source, key: file.path, etag: src.etag, size: src.size });
  let put: Awaited<ReturnType<ObjectStore["put"]>>;
  try {
    put = await ctx.target.put(file.path, body, {
      size: src.size,
      mode: "create",
      metadata: originMetadata(ctx.sourceId, src.etag),
      // The store computes the copy's SHA-256 where it can (the function is never asked: no byte passes here).
      sha256: () => undefined,
    });
  } catch (e) {
    if (!body.locked) body.cancel().catch(() => {});
    return afterLostCreate(ctx, file, e);
  }
  // A checksum the store computed is guaranteed; otherwise the copy is hashed once (see digestOnTarget).
  return { copied: src.size, etag: put.etag, sha256: await digestOnTarget(ctx, file, put.sha256) };
}

/** GETs `file` from the source, its size checked against the snapshot. */
async function readSource(ctx: CopyContext, file: LiveFile): Promise<ObjectBody> {
  const body = await explainNotFound(
    ctx.source.get(file.path, { checksum: true }),
    `source file ${file.path} of ${partOf(ctx)} is missing on ${ctx.source.name}`,
    file.path,
  );
  if (!sizeFits(file, body.size)) {
    body.body.cancel().catch(() => {});
    throw wrongSourceSize(ctx, file, body.size);
  }
  return body;
}

/**
 * Copies one file source → target unless the target has it already: one HEAD
 * on the target (unless a listing just showed it missing), then a streamed
 * GET → create-only PUT that records the file's origin in its metadata, so
 * the body is never held whole in memory (the S3 adapter goes multipart above
 * its threshold); or, where the target copies from the source server-side
 * and create-only (`ctx.serverSide`), a source HEAD and a create-only put of
 * a `copySourceBody` (one copy request on the target) recording the same
 * origin. A file found on the target is accepted only when proven the
 * source's bytes.
 *
 * @param listedMissing a listing of the target did not show the file: no
 *   HEAD (the create-only PUT settles a race), except for a file too big for
 *   a create-only PUT, which is always HEADed right before its overwrite.
 * @throws TidemarkError `NotFound` (the source lacks the file), `Corrupt`
 *   (its size is not the snapshot's), `SplitBrain` (the target holds other
 *   bytes), store errors.
 */
export async function copyFile(ctx: CopyContext, file: LiveFile, listedMissing = false): Promise<CopyResult> {
  const checkTarget = async (): Promise<CopyResult | undefined> => {
    const onTarget = await headIfExists(ctx.target, file.path);
    return onTarget === undefined ? undefined : found(ctx, file, onTarget);
  };
  let headed = false;
  if (!listedMissing || file.minSize > MAX_CREATE_BYTES) {
    const there = await checkTarget();
    if (there !== undefined) return there;
    headed = true;
  }
  ctx.serverSide ??= serverSideCopies(ctx.target, ctx.source);
  if (await ctx.serverSide) {
    const r = await serverCopy(ctx, file);
    if (r !== undefined) return r;
  }
  const body = await readSource(ctx, file);
  const mode = body.size > MAX_CREATE_BYTES ? "overwrite" : "create";
  // An overwrite is not create-only: look right before it, never on a listing's word.
  if (mode === "overwrite" && !headed) {
    let there: CopyResult | undefined;
    try {
      there = await checkTarget();
    } catch (e) {
      body.body.cancel().catch(() => {});
      throw e;
    }
    if (there !== undefined) {
      body.body.cancel().catch(() => {});
      return there;
    }
  }
  // Hashed as it streams; a recorded digest is checked before the last byte leaves.
  const expected = expectedOf(ctx, file, body.sha256);
  let damaged: TidemarkError | undefined;
  const hashed = hashedBody(body.body, body.size, {
    hasher: ctx.hasher,
    expected: expected === undefined ? undefined : sha256Bytes(expected),
    mismatch: (actual) => {
      damaged = damagedSource(ctx, file, toHex(actual), expected as string);
      return damaged;
    },
  });
  try {
    const put = await ctx.target.put(file.path, hashed.stream, {
      size: body.size,
      mode,
      metadata: originMetadata(ctx.sourceId, body.etag),
      // Known before the body when recorded (the target checks it too), else a trailing checksum.
      sha256: expected === undefined ? () => hashed.digest() : sha256Bytes(expected),
    });
    const digest = hashed.digest();
    return { copied: body.size, etag: put.etag, sha256: digest === undefined ? undefined : toHex(digest) };
  } catch (e) {
    if (!hashed.stream.locked) hashed.stream.cancel().catch(() => {});
    // The store may wrap the stream's error: the damage is what failed the put.
    if (damaged !== undefined) throw damaged;
    return afterLostCreate(ctx, file, e);
  }
}
