/**
 * `S3Store`: any S3-compatible endpoint (AWS S3, R2's S3 API, Ceph RGW,
 * MinIO-family, Tigris), signed with SigV4 by a maintained library, over a
 * pluggable transport (`fetch` by default).
 *
 * The folder is laid out like object_store's `aws/`: `settings.ts` (options
 * and limits), `client.ts` (URLs, signing, sending, errors, the retry of each
 * request), `errors.ts` (the one mapping of S3 answers to codes), `xml.ts`,
 * `put.ts` (one PUT), `multipart.ts`, `copy.ts` (server-side copies),
 * `checksum.ts`, `lock.ts` (Object Lock, versions), `delete.ts`, `list.ts`,
 * `vendor.ts`, and this store.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import {
  bodyBytes,
  bodySize,
  checkRangeArgs,
  collectBody,
  discardBody,
  emptyObjectOr,
  emptyStream,
  objectBody,
  sliceWhole,
} from "../body.ts";
import { sha256Of } from "../checksum.ts";
import { type CopySource, claimCopySource, copySourceOf } from "../copy-source.ts";
import { checkedKeys } from "../keys.ts";
import { checkLock } from "../lock.ts";
import type { HeadersLike } from "../transport.ts";
import {
  type Body,
  type DeleteError,
  type DeleteManyOptions,
  type DeleteManyResult,
  type GetOptions,
  type ListOptions,
  locate,
  type ObjectBody,
  type ObjectMeta,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  type StoreCapabilities,
} from "../types.ts";
import {
  encodeKeyPath,
  metadataFromHeaders,
  metadataHeaders,
  parseContentRange,
  rangeHeader,
  stripEtag,
} from "../wire.ts";
import { createWithRetry } from "../writer-token.ts";
import { checksumOf, documentedChecksums, probeChecksums } from "./checksum.ts";
import { S3Client, type S3Context } from "./client.ts";
import { type CopyTarget, copyFrom, copyOnce, probeCopyCondition } from "./copy.ts";
import { deleteBatch, deleteVersions } from "./delete.ts";
import { listObjects } from "./list.ts";
import { bucketKeepsVersions, lockFromHeaders } from "./lock.ts";
import { putMultipart } from "./multipart.ts";
import { putOnce } from "./put.ts";
import {
  DELETE_BATCH,
  MAX_PART_SIZE,
  MAX_PARTS,
  MAX_SINGLE_PUT,
  type S3Settings,
  type S3StoreOptions,
  s3Settings,
} from "./settings.ts";
import { documentedCopyCondition, endpointId } from "./vendor.ts";

// XML 1.0 cannot carry these (control characters are refused by validateKey).
const NOT_XML = /[\ufffe\uffff]/;

/**
 * An {@link ObjectStore} on any S3-compatible endpoint.
 *
 * - Conditional modes: `"create"` sends `If-None-Match: *` (with a writer
 *   token in `x-amz-meta-tidemark-writer`, so a retried create that finds its
 *   own object succeeds); `{ ifMatch }` sends `If-Match` with the unquoted
 *   etag (Ceph RGW 16 matches only unquoted etags; AWS and R2 take both).
 *   Conditional puts are always single PUTs (at most 5 GiB, else
 *   `NotSupported`): CompleteMultipartUpload ignores `If-None-Match` on RGW 16
 *   and has no documented condition on R2.
 * - Overwrites above `multipartThreshold` use multipart upload (parts of
 *   `partSize`, `multipartConcurrency` at once, aborted on failure).
 * - A `ReadableStream` body (with `size`) is streamed with `Content-Length`
 *   and `UNSIGNED-PAYLOAD`, and sent once: a stream cannot be replayed, so
 *   its `Transient` failures are returned, not retried. Under Deno over
 *   `fetch` (see `streamingUploads`) it is read into memory first, or sent
 *   in parts; `nodeHttpTransport` (Deno's `node:http`) streams it there too.
 * - Every other request is retried by the store itself, once, by what it is
 *   (`client.ts`, `Retry`): reads and idempotent writes on `Transient` under
 *   `retry`; a compare-and-swap only when its failure proves nothing was
 *   written (else `Transient` for the caller to re-read). Do not wrap an
 *   `S3Store` in `retrying`: that would retry twice.
 * - Requests go through `transport` (default `fetch`) signed by `signer`
 *   (default aws4fetch); `tidemark/node` has faster ones for Node.
 * - A create-only put of a `copySourceBody` of another `S3Store` on the same
 *   endpoint, region and access key is one CopyObject where the endpoint
 *   makes a copy create-only (see `serverSideCopy` and {@link canCopyFrom}).
 * - Errors: `NotFound`, `AlreadyExists`, `PreconditionFailed`,
 *   `PermissionDenied` (403, bad signature), `InvalidArgument` (bad key, bad
 *   range, stream size mismatch), `NotSupported`, `Transient` (429, 5xx,
 *   network), `Unknown`. Messages name the operation, key, HTTP status and S3
 *   error code; they never contain credentials, signatures or URLs.
 */
export class S3Store implements ObjectStore {
  readonly name: string;
  /** `s3:` + endpoint (no credentials, no query) + `/bucket` + `/prefix`. */
  readonly id: string;
  readonly capabilities: Partial<StoreCapabilities>;
  readonly #cfg: S3Settings;
  readonly #client: S3Client;
  /** The client and settings, as the request modules take them. */
  readonly #s3: S3Context;
  /** The header that makes a copy into this store create-only (`undefined`: none works); decided once. */
  #copyCondition: Promise<string | undefined> | undefined;
  /** Whether the endpoint records SHA-256 checksums (documented, or probed once at the first put asking). */
  #checksums: Promise<boolean> | undefined;
  /** Whether the bucket keeps versions (for `deleteMany` with `allVersions`); asked once. */
  #versioned: Promise<boolean> | undefined;

  /**
   * Throws `InvalidArgument` for a malformed endpoint, an empty bucket,
   * missing credentials, or a numeric option outside its range (naming it).
   */
  constructor(opts: S3StoreOptions) {
    this.#cfg = s3Settings(opts);
    this.#client = new S3Client(this.#cfg);
    this.#s3 = { client: this.#client, cfg: this.#cfg };
    const where = `${opts.bucket}${this.#cfg.prefix.suffix}`;
    this.name = `s3://${where}`;
    this.id = `s3:${endpointId(this.#cfg.endpoint)}/${where}`;
    this.capabilities = {
      write: true,
      list: true,
      compareAndSwap: this.#cfg.compareAndSwap,
      listPageSize: this.#cfg.maxKeys,
      retries: true,
      // The bucket decides: one created without Object Lock refuses a locked put (400 InvalidRequest).
      objectLock: true,
    };
  }

  /** Requests sent to the endpoint so far (see {@link ObjectStore.requestsSent}). */
  requestsSent(): number {
    return this.#client.sent;
  }

  #url(key?: string, query = ""): string {
    return this.#client.url(key === undefined ? undefined : this.#cfg.prefix.full(key), query);
  }

  /** Reads an object or a byte range of it. `NotFound`; `InvalidArgument` for a range past the end. */
  async get(key: string, opts: GetOptions = {}): Promise<ObjectBody> {
    const url = this.#url(key);
    const range = opts.range;
    if (range) checkRangeArgs(range, key);
    const headers: Record<string, string> = {};
    const rh = rangeHeader(range);
    if (rh) headers.range = rh;
    // Asked for only: on AWS, reading a KMS-encrypted object's checksum needs kms:Decrypt.
    else if (opts.checksum) headers["x-amz-checksum-mode"] = "ENABLED";
    let res: Awaited<ReturnType<S3Client["send"]>>;
    try {
      res = await this.#client.call({ op: "get", key, method: "GET", url, headers }, "idempotent");
    } catch (e) {
      if (!isTidemarkError(e, "InvalidArgument")) throw e;
      return emptyObjectOr(e, range, () => this.head(key));
    }
    const meta = metaOf(key, res.headers);
    let body = res.body ?? emptyStream();
    if (rh && range && res.status === 200) {
      // The server ignored Range and sent everything: cut the range out ourselves.
      ({ body, size: meta.size } = await sliceWhole(body, range, meta.size, key));
    }
    return objectBody(meta, body);
  }

  /** Reads an object's metadata. `NotFound` if missing. */
  async head(key: string): Promise<ObjectMeta> {
    const url = this.#url(key);
    const res = await this.#client.call({ op: "head", key, method: "HEAD", url }, "idempotent");
    return metaOf(key, res.headers);
  }

  /**
   * Writes an object. `"create"`: `AlreadyExists` if present; `{ ifMatch }`:
   * `PreconditionFailed` if the etag differs or the object is missing. A
   * stream body needs `size` (`InvalidArgument` otherwise, or when the stream
   * delivers another number of bytes).
   */
  async put(key: string, body: Body, opts: PutOptions = {}): Promise<PutResult> {
    let size: number;
    try {
      this.#cfg.prefix.full(key);
      size = bodySize(body, opts.size, key);
      metadataHeaders(opts.metadata, key); // checks metadata keys before any request
      if (opts.lock !== undefined) checkLock(opts.lock, key);
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const mode = opts.mode ?? "overwrite";
    const from = mode === "create" ? copySourceOf(body) : undefined;
    if (from !== undefined && from.size === size && size <= MAX_SINGLE_PUT) {
      const src = locate(from.store, from.key);
      if (src.store instanceof S3Store && (await this.canCopyFrom(from.store)) && claimCopySource(body)) {
        const sum = opts.sha256 !== undefined && (await this.#recordsChecksums());
        return this.#copyFrom({ ...from, store: src.store }, src.key, key, opts, sum);
      }
    }
    if (mode !== "overwrite") {
      if (size > MAX_SINGLE_PUT) {
        discardBody(body);
        throw new TidemarkError(
          "NotSupported",
          `s3 put ${JSON.stringify(key)}: a conditional put is a single PUT, at most 5 GiB (multipart uploads cannot be create-only or compare-and-swap on every S3 store)`,
          { key },
        );
      }
    } else if (size > this.#cfg.multipartThreshold) {
      if (size > MAX_PARTS * MAX_PART_SIZE) {
        discardBody(body);
        throw new TidemarkError(
          "NotSupported",
          `s3 put ${JSON.stringify(key)}: ${size} bytes do not fit in S3's 10,000 parts of at most 5 GiB`,
          { key },
        );
      }
      return putMultipart(
        {
          ...this.#s3,
          fullKey: this.#cfg.prefix.full(key),
          key,
          head: (k) => this.head(k),
        },
        body,
        size,
        opts,
      );
    }
    // A retention needs the body's Content-MD5 or checksum before it is sent (see lockedBodyHeaders).
    if (body instanceof ReadableStream && (!this.#cfg.streaming || opts.lock !== undefined)) {
      body = await collectBody(body, size, key);
    }
    // A trailing digest of a body already in memory is known now; a copy read as a stream (no
    // server-side copy here) has no digest coming: no trailer then.
    const sha256 =
      typeof opts.sha256 === "function" && !(body instanceof ReadableStream)
        ? opts.sha256()
        : typeof opts.sha256 === "function" && copySourceOf(body) !== undefined
          ? undefined
          : opts.sha256;
    if (sha256 === undefined || !(await this.#recordsChecksums())) {
      const { sha256: _, ...rest } = opts;
      opts = rest;
    } else if (sha256 !== opts.sha256) opts = { ...opts, sha256 };
    // A stream cannot be replayed: sent once.
    const retryOf = (r: "idempotent" | "cas") => (body instanceof ReadableStream ? "once" : r);
    const payload = body instanceof ReadableStream ? body : bodyBytes(body);
    if (mode === "create") {
      if (payload instanceof ReadableStream)
        return putOnce(this.#s3, key, payload, size, opts, opts.metadata, "create");
      // Retried by createWithRetry, whose attempts carry one writer token.
      return createWithRetry(
        (metadata) => putOnce(this.#s3, key, payload, size, opts, metadata, "create"),
        () => this.head(key),
        opts.metadata,
        this.#cfg.retry,
      );
    }
    if (mode === "overwrite") {
      return putOnce(
        this.#s3,
        key,
        payload,
        size,
        opts,
        opts.metadata,
        undefined,
        undefined,
        retryOf("idempotent"),
      );
    }
    if (stripEtag(mode.ifMatch) === "") {
      // RGW 16 compares If-Match as a prefix: an empty etag would match anything.
      discardBody(payload);
      throw new TidemarkError("PreconditionFailed", `s3 put ${JSON.stringify(key)}: empty ifMatch etag`, {
        key,
      });
    }
    return putOnce(this.#s3, key, payload, size, opts, opts.metadata, "ifMatch", mode, retryOf("cas"));
  }

  /**
   * Whether this endpoint records SHA-256 checksums (`PutOptions.sha256`):
   * AWS by its documentation, any other endpoint by one probe (see
   * `probeChecksums`), decided once per store.
   */
  #recordsChecksums(): Promise<boolean> {
    this.#checksums ??=
      documentedChecksums(this.#cfg.endpoint.hostname) !== undefined
        ? Promise.resolve(documentedChecksums(this.#cfg.endpoint.hostname) === true)
        : probeChecksums(
            async (k, bytes) => {
              const d = await sha256Of(bytes);
              const stream = new ReadableStream<Uint8Array>({
                start(c) {
                  c.enqueue(bytes);
                  c.close();
                },
              });
              await putOnce(this.#s3, k, stream, bytes.length, { sha256: () => d }, undefined, undefined);
            },
            async (k) => {
              const got = await this.get(k, { checksum: true });
              return { bytes: await got.bytes(), sha256: got.sha256 };
            },
            (k) => this.delete(k),
            sha256Of,
          );
    return this.#checksums;
  }

  /**
   * Whether a create-only `put` of a `copySourceBody` of `source` is a
   * server-side copy (CopyObject): `source` is (under key-renaming wrappers)
   * an `S3Store` on the same endpoint, region and access key, and this
   * endpoint makes a copy create-only (see `serverSideCopy`; probed once
   * where undocumented). At most 5 GiB per object (CopyObject's limit).
   */
  async canCopyFrom(source: ObjectStore): Promise<boolean> {
    const src = locate(source, "k").store;
    if (!(src instanceof S3Store) || this.#cfg.serverSideCopy === "off") return false;
    const [a, b] = [src.#cfg, this.#cfg];
    if (
      a.endpoint.href !== b.endpoint.href ||
      a.signing.region !== b.signing.region ||
      a.signing.accessKeyId !== b.signing.accessKeyId
    ) {
      return false;
    }
    this.#copyCondition ??=
      documentedCopyCondition(b.endpoint) !== undefined
        ? Promise.resolve(documentedCopyCondition(b.endpoint))
        : probeCopyCondition(this, (from, etag, to, condition) =>
            copyOnce(
              this.#s3,
              to,
              this.#client.copySource(this.#cfg.prefix.full(from)),
              etag,
              condition,
              undefined,
            ),
          );
    return (await this.#copyCondition) !== undefined;
  }

  /**
   * A create-only `put` of a `copySourceBody` of an object of `from.store`
   * (an `S3Store` this store can copy from, see {@link canCopyFrom}): see
   * `copyFrom` (copy.ts).
   */
  async #copyFrom(
    from: CopySource & { store: S3Store },
    fromKey: string,
    key: string,
    opts: PutOptions,
    checksum = false,
  ): Promise<PutResult> {
    const condition = await this.#copyCondition;
    if (condition === undefined) throw new TypeError("#copyFrom without a copy condition");
    const copySource = from.store.#client.copySource(from.store.#cfg.prefix.full(fromKey));
    const target: CopyTarget = { ...this.#s3, head: (k) => this.head(k) };
    return copyFrom(target, from, copySource, key, opts, condition, checksum);
  }

  /** Deletes an object; a missing key is not an error. */
  async delete(key: string): Promise<void> {
    const url = this.#url(key);
    try {
      const res = await this.#client.call({ op: "delete", key, method: "DELETE", url }, "idempotent");
      await res.discard();
    } catch (e) {
      // AWS answers 204 for a missing key; some S3-compatible stores 404 NoSuchKey.
      if (isTidemarkError(e, "NotFound") && !e.message.includes("NoSuchBucket")) return;
      throw e;
    }
  }

  /**
   * Deletes keys with DeleteObjects, 1,000 per request (with `Content-MD5`,
   * which AWS and MinIO-family stores demand). Keys the store refused are in
   * `errors` (S3 reports them per key under HTTP 200); a missing key counts as
   * deleted. `InvalidArgument` for an invalid key, before anything is deleted.
   */
  async deleteMany(
    keys: AsyncIterable<string> | Iterable<string>,
    opts: DeleteManyOptions = {},
  ): Promise<DeleteManyResult> {
    const prefix = this.#cfg.prefix;
    const all = await checkedKeys(keys, (key) => {
      encodeKeyPath(prefix.full(key));
      return key;
    });
    if (opts.allVersions && all.length > 0 && (await this.#keepsVersions()))
      return deleteVersions(this.#s3, all);
    let deleted = 0;
    const errors: DeleteError[] = [];
    for (let at = 0; at < all.length; at += DELETE_BATCH) {
      const batch = all.slice(at, at + DELETE_BATCH);
      // XML 1.0 cannot carry U+FFFE/U+FFFF: delete such keys one by one.
      for (const k of batch.filter((k) => NOT_XML.test(prefix.full(k)))) {
        try {
          await this.delete(k);
          deleted++;
        } catch (e) {
          if (!isTidemarkError(e)) throw e;
          errors.push({ key: k, code: e.code, message: e.message });
        }
      }
      const xmlSafe = batch.filter((k) => !NOT_XML.test(prefix.full(k)));
      if (xmlSafe.length === 0) continue;
      const failed = await deleteBatch(this.#s3, xmlSafe);
      deleted += xmlSafe.length - failed.length;
      errors.push(...failed);
    }
    return { deleted, errors };
  }

  /** Whether the bucket keeps versions: asked once (a failed answer is asked again next time). */
  #keepsVersions(): Promise<boolean> {
    this.#versioned ??= bucketKeepsVersions(this.#client).catch((e: unknown) => {
      this.#versioned = undefined;
      throw e;
    });
    return this.#versioned;
  }

  /**
   * Lists keys under `prefix` in UTF-8 byte order with ListObjectsV2 (see
   * `listObjects`, list.ts).
   */
  list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    return listObjects(this.#s3, prefix, opts);
  }
}

/** An object's metadata from a GET or HEAD answer's headers. */
function metaOf(key: string, h: HeadersLike): ObjectMeta & { size: number } {
  const len = h.get("content-length");
  let size = len === null ? Number.NaN : Number(len);
  if (!Number.isFinite(size)) {
    const cr = parseContentRange(h.get("content-range"));
    size = cr?.start !== undefined && cr.end !== undefined ? cr.end - cr.start + 1 : 0;
  }
  const meta: ObjectMeta & { size: number } = {
    key,
    size,
    etag: stripEtag(h.get("etag")),
    metadata: metadataFromHeaders(h),
  };
  const sha256 = checksumOf(h);
  if (sha256 !== undefined) meta.sha256 = sha256;
  const lock = lockFromHeaders(h);
  if (lock !== undefined) meta.lock = lock;
  const lm = h.get("last-modified");
  if (lm) {
    const d = new Date(lm);
    if (!Number.isNaN(d.getTime())) meta.lastModified = d;
  }
  return meta;
}
