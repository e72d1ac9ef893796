/**
 * `S3Store`: any S3-compatible endpoint (AWS S3, R2's S3 API, Ceph RGW,
 * MinIO-family, Tigris), signed with aws4fetch (SigV4), over `fetch` only.
 *
 * @module
 */
import { md5 } from "@noble/hashes/legacy.js";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import { bodyBytes, bodySize, checkRangeArgs, collectBody, discardBody, objectBody } from "./body.ts";
import { type CopySource, claimCopySource, copySourceOf } from "./copy-source.ts";
import {
  base64,
  emptyStream,
  encodeKeyPath,
  encodeRfc3986,
  type FetchLike,
  metadataFromHeaders,
  metadataHeaders,
  parseContentRange,
  rangeHeader,
  sliceStream,
  stripEtag,
} from "./http-common.ts";
import { compareKeys, validateKey, validatePrefix } from "./keys.ts";
import { type RetryPolicy, resolvePolicy, withRetry } from "./retry.ts";
import {
  isAmbiguousFailure,
  makeScrubber,
  parseS3Error,
  parseXml,
  type S3Condition,
  type S3Failure,
  s3Error,
  sanitizeCause,
  xmlChild,
  xmlList,
  xmlText,
} from "./s3-errors.ts";
import { type S3Signer, type SigningKey, webCryptoSigner } from "./signer.ts";
import {
  bodyFailed,
  bodyTooLong,
  bodyTooShort,
  fetchTransport,
  type HeadersLike,
  type HttpTransport,
  type TransportResponse,
} from "./transport.ts";
import {
  type Body,
  type DeleteError,
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
} from "./types.ts";
import { createWithRetry, newWriterToken, WRITER_TOKEN_KEY } from "./writer-token.ts";

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest single PUT (5 GiB). */
export const MAX_SINGLE_PUT = 5 * 1024 * MiB;
/** S3's largest part (5 GiB). https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
const MAX_PART_SIZE = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
const DELETE_BATCH = 1000;

/** Options of {@link S3Store}. */
export interface S3StoreOptions {
  /** Endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com`, `https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:7480`. */
  endpoint: string;
  bucket: string;
  /** Signing region (`auto` for R2; anything the server accepts for Ceph/MinIO, e.g. `us-east-1`). */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Key prefix inside the bucket (a `/` is appended if missing); listings strip it. */
  prefix?: string;
  /**
   * `https://endpoint/bucket/key` (true) or `https://bucket.endpoint/key` (false).
   * Default: virtual-hosted, except for IP-address or `localhost` endpoints and
   * bucket names that are not DNS labels, where only path-style can work.
   */
  forcePathStyle?: boolean;
  /** The `fetch` to use (default: the global one). Ignored when `transport` is given. */
  fetch?: FetchLike;
  /**
   * How requests are sent (default: `fetch`). `nodeHttpTransport()` from
   * `tidemark/node` moves bodies with Node streams over `node:http`: less CPU
   * and memory per byte on Node (the `tidemark` command uses it there).
   */
  transport?: HttpTransport;
  /**
   * How requests are signed (SigV4; default: aws4fetch, WebCrypto).
   * `nodeSigner()` from `tidemark/node` signs with `node:crypto` (mhart's
   * `aws4`): several times less CPU per request on Node.
   */
  signer?: S3Signer;
  /** Retry policy for `Transient` failures (see `withRetry`). */
  retry?: RetryPolicy;
  /**
   * Overwrites larger than this many bytes use multipart upload (default 100
   * MiB; at most 5 GiB, S3's largest single PUT).
   */
  multipartThreshold?: number;
  /**
   * Part size of multipart uploads (default 8 MiB; S3's limits: 5 MiB to
   * 5 GiB). Grown to stay within 10,000 parts.
   */
  partSize?: number;
  /** Parts uploaded at once (default 4, at least 1); memory use is about `(concurrency + 1) × partSize`. */
  multipartConcurrency?: number;
  /** Keys per ListObjectsV2 page (1–1000, default 1000). */
  maxKeys?: number;
  /**
   * Send `ReadableStream` bodies as streams (default: true, except with the
   * `fetch` transport under Deno, whose `fetch` drops `Content-Length` on a stream body and sends it
   * chunked, which S3 refuses with 411). When false, a stream body is read
   * into memory first (then its PUT is retried like any other), or, for an
   * overwrite above `multipartThreshold`, uploaded in parts.
   */
  streamingUploads?: boolean;
  /**
   * Server-side copies into this store (a create-only put of a
   * `copySourceBody`, as the mirror does between two buckets of one
   * endpoint: one CopyObject): `"auto"` (default) uses them only
   * where a copy can be create-only: AWS S3 (`If-None-Match: *` on
   * CopyObject) and R2 (`cf-copy-destination-if-none-match: *`), from their
   * documentation; any other endpoint is probed once, on the first copy
   * (a copy onto an existing probe key must be refused). Ceph RGW 16 and
   * moto 5.2 ignore both headers on a copy, so there the mirror streams.
   * `"off"`: never.
   */
  serverSideCopy?: "auto" | "off";
}

/**
 * The header that makes a CopyObject create-only on an endpoint, as its
 * vendor documents it; `undefined` for an endpoint whose vendor is not known.
 *
 * - AWS S3 honours `If-None-Match: *` on CopyObject (destination; 412, or
 *   409 for a racing write): https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
 * - R2 takes its own `cf-copy-destination-if-none-match: *` (beta; standard
 *   `If-None-Match` on a copy is not documented there):
 *   https://developers.cloudflare.com/r2/api/s3/extensions/#conditional-operations-in-copyobject-for-the-destination-object
 */
function documentedCopyCondition(hostname: string): string | undefined {
  if (/(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname)) return "if-none-match";
  if (/\.r2\.cloudflarestorage\.com$/i.test(hostname)) return "cf-copy-destination-if-none-match";
  return undefined;
}

interface Request0 {
  op: string;
  /** The caller's key, for messages. */
  key?: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
  condition?: S3Condition;
}

/** Thrown inside a retry loop to stop it: carries an error that must not be retried. */
class Stop {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

const IP_OR_LOCAL = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\]|localhost)$/i;
const DNS_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
// XML 1.0 cannot carry these (control characters are refused by validateKey).
const NOT_XML = /[\ufffe\uffff]/;

/** An endpoint URL as an identity: scheme, host, port and path; never user info or query. */
function endpointId(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return "invalid-endpoint";
  }
}

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
 *   its `Transient` failures are returned, not retried. Under Deno (see
 *   `streamingUploads`) it is read into memory first, or sent in parts.
 * - Other requests are retried on `Transient` under `retry` (tidemark's own
 *   policy, the only one). A compare-and-swap whose failure is ambiguous
 *   (500, network error) is not retried: it throws `Transient` for the
 *   caller to re-read.
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
  readonly #signing: SigningKey;
  readonly #signer: S3Signer;
  readonly #transport: HttpTransport;
  readonly #scrub: (s: string) => string;
  readonly #bucket: string;
  readonly #endpoint: URL;
  readonly #pathStyle: boolean;
  readonly #prefix: string;
  readonly #retry: RetryPolicy;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #concurrency: number;
  readonly #maxKeys: number;
  readonly #streaming: boolean;
  readonly #copyOption: "auto" | "off";
  /** The header that makes a copy into this store create-only (`undefined`: none works); decided once. */
  #copyCondition: Promise<string | undefined> | undefined;

  /**
   * Throws `InvalidArgument` for a malformed endpoint, an empty bucket,
   * missing credentials, or a numeric option outside its range (naming it).
   */
  constructor(opts: S3StoreOptions) {
    let endpoint: URL;
    try {
      endpoint = new URL(opts.endpoint);
    } catch {
      throw new TidemarkError("InvalidArgument", "S3Store endpoint is not a valid URL");
    }
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new TidemarkError("InvalidArgument", "S3Store endpoint must be an http: or https: URL");
    }
    if (!opts.bucket) throw new TidemarkError("InvalidArgument", "S3Store needs a bucket");
    if (!opts.region)
      throw new TidemarkError("InvalidArgument", "S3Store needs a region (e.g. us-east-1, auto)");
    // Typically an unset environment variable; aws4fetch would throw a bare
    // TypeError for undefined and sign with an empty key for "".
    if (typeof opts.accessKeyId !== "string" || opts.accessKeyId === "")
      throw new TidemarkError("InvalidArgument", "S3Store needs an accessKeyId");
    if (typeof opts.secretAccessKey !== "string" || opts.secretAccessKey === "")
      throw new TidemarkError("InvalidArgument", "S3Store needs a secretAccessKey");
    const prefix = opts.prefix ?? "";
    if (prefix.startsWith("/"))
      throw new TidemarkError("InvalidArgument", "a store prefix must not start with '/'");
    this.#prefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
    this.#bucket = opts.bucket;
    endpoint.search = "";
    endpoint.hash = "";
    this.#endpoint = endpoint;
    this.#pathStyle =
      opts.forcePathStyle ?? (IP_OR_LOCAL.test(endpoint.hostname) || !DNS_BUCKET.test(opts.bucket));
    this.#transport = opts.transport ?? fetchTransport(opts.fetch);
    if (
      opts.serverSideCopy !== undefined &&
      opts.serverSideCopy !== "auto" &&
      opts.serverSideCopy !== "off"
    ) {
      throw new TidemarkError("InvalidArgument", 'serverSideCopy must be "auto" or "off"');
    }
    this.#copyOption = opts.serverSideCopy ?? "auto";
    this.#retry = resolvePolicy(opts.retry); // a bad policy fails here, not at the first retry
    this.#threshold = numberOption("multipartThreshold", opts.multipartThreshold, 100 * MiB, {
      min: 0,
      max: MAX_SINGLE_PUT,
    });
    this.#partSize = numberOption("partSize", opts.partSize, 8 * MiB, {
      min: MIN_PART_SIZE,
      max: MAX_PART_SIZE,
    });
    this.#concurrency = numberOption("multipartConcurrency", opts.multipartConcurrency, 4, { min: 1 });
    this.#maxKeys = numberOption("maxKeys", opts.maxKeys, 1000, { min: 1, max: 1000 });
    this.#streaming = opts.streamingUploads ?? (opts.transport !== undefined || !("Deno" in globalThis));
    // Signers guess service and region from AWS/R2 host names only; any
    // other host (Ceph, MinIO, loopback) would be signed for service "" and
    // "us-east-1": both are always given.
    this.#signing = {
      accessKeyId: opts.accessKeyId,
      secretAccessKey: opts.secretAccessKey,
      service: "s3",
      region: opts.region,
    };
    this.#signer = opts.signer ?? webCryptoSigner();
    if (opts.sessionToken !== undefined) this.#signing.sessionToken = opts.sessionToken;
    this.#scrub = makeScrubber([opts.secretAccessKey, opts.sessionToken, opts.accessKeyId]);
    this.name = `s3://${opts.bucket}${this.#prefix ? `/${this.#prefix.slice(0, -1)}` : ""}`;
    this.id = `s3:${endpointId(opts.endpoint)}/${opts.bucket}${this.#prefix ? `/${this.#prefix.slice(0, -1)}` : ""}`;
    this.capabilities = { write: true, list: true, compareAndSwap: true, listPageSize: this.#maxKeys };
  }

  /**
   * The URL of an object (or of the bucket, without `key`), with a query
   * string already encoded. Exposed for tests and diagnostics; it is not signed.
   */
  url(key?: string, query = ""): string {
    const e = this.#endpoint;
    const base = e.pathname.replace(/\/+$/, "");
    const path = key === undefined ? "" : encodeKeyPath(this.#full(key));
    const q = query ? `?${query}` : "";
    if (this.#pathStyle) {
      const bucketPath = `${base}/${encodeRfc3986(this.#bucket)}`;
      return `${e.protocol}//${e.host}${bucketPath}${key === undefined ? "" : `/${path}`}${q}`;
    }
    return `${e.protocol}//${this.#bucket}.${e.host}${base}/${path}${q}`;
  }

  #full(key: string): string {
    if (key === "") throw new TidemarkError("InvalidArgument", "object key must be a non-empty string");
    const full = this.#prefix + key;
    validateKey(full);
    return full;
  }

  /** One signed request; throws the mapped `TidemarkError` unless the status is 2xx. */
  async #send(r: Request0): Promise<TransportResponse> {
    const headers: Record<string, string> = { ...r.headers };
    // UNSIGNED-PAYLOAD: the payload is not part of the signature, so we sign
    // the headers alone and hand the body to the transport ourselves.
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
    let signed: Record<string, string>;
    try {
      signed = await this.#signer.sign({ method: r.method, url: r.url, headers }, this.#signing);
    } catch (e) {
      throw new TidemarkError("InvalidArgument", this.#scrub(`s3 ${r.op}: cannot sign the request`), {
        ...(r.key === undefined ? {} : { key: r.key }),
        cause: sanitizeCause(e, this.#scrub),
      });
    }
    let res: TransportResponse;
    try {
      res = await this.#transport.request({
        method: r.method,
        url: r.url,
        headers: signed,
        ...(r.body === undefined ? {} : { body: r.body }),
        ...(r.key === undefined ? {} : { key: r.key }),
        responseError: (e) =>
          this.#fail(
            { op: `${r.op} body`, ...(r.key === undefined ? {} : { key: r.key }) },
            undefined,
            undefined,
            e,
          ),
      });
    } catch (e) {
      // A problem of the request's own body (wrong size, a failed source stream) as it is.
      if (isTidemarkError(e)) throw e;
      throw this.#fail(r, undefined, undefined, e);
    }
    if (res.status >= 200 && res.status < 300) return res;
    const text = r.method === "HEAD" ? "" : await res.text().catch(() => "");
    if (r.method === "HEAD") await res.discard();
    const err = parseS3Error(text);
    throw this.#fail(r, res.status, {
      ...err,
      requestId: err?.requestId ?? res.headers.get("x-amz-request-id"),
    });
  }

  #fail(
    r: Pick<Request0, "op" | "key" | "condition">,
    status: number | undefined,
    body: { code?: string; message?: string; requestId?: string | null | undefined } | undefined,
    cause?: unknown,
  ): TidemarkError {
    const f: S3Failure = { op: r.op };
    if (r.key !== undefined) f.key = r.key;
    if (status !== undefined) f.status = status;
    if (body?.code) f.s3Code = body.code;
    if (body?.message) f.s3Message = body.message;
    if (body?.requestId) f.requestId = body.requestId;
    if (r.condition) f.condition = r.condition;
    const err = s3Error(f, this.#scrub, cause === undefined ? undefined : sanitizeCause(cause, this.#scrub));
    if (isAmbiguousFailure(f)) AMBIGUOUS.add(err);
    return err;
  }

  #retrying<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.#retry);
  }

  /** Reads an object or a byte range of it. `NotFound`; `InvalidArgument` for a range past the end. */
  async get(key: string, opts: GetOptions = {}): Promise<ObjectBody> {
    this.#full(key);
    const range = opts.range;
    if (range) checkRangeArgs(range, key);
    const headers: Record<string, string> = {};
    const rh = rangeHeader(range);
    if (rh) headers.range = rh;
    let res: TransportResponse;
    try {
      res = await this.#retrying(() =>
        this.#send({ op: "get", key, method: "GET", url: this.url(key), headers }),
      );
    } catch (e) {
      // `bytes=0-N` of an empty object is unsatisfiable (416) on S3, but the
      // contract reads an empty object's range at offset 0 as empty.
      if (range?.offset === 0 && isTidemarkError(e, "InvalidArgument")) {
        const meta = await this.head(key);
        if (meta.size === 0) return objectBody(meta, emptyStream());
      }
      throw e;
    }
    const meta = this.#metaOf(key, res.headers);
    let body = res.body ?? emptyStream();
    if (rh && res.status === 200) {
      // The server ignored Range and sent everything: cut the range out ourselves.
      const total = meta.size;
      const offset = range?.offset ?? 0;
      if (offset >= total && !(offset === 0 && total === 0)) {
        await body.cancel().catch(() => {});
        throw new TidemarkError(
          "InvalidArgument",
          `range offset ${offset} is past the end (${total} bytes)`,
          { key },
        );
      }
      const end = range?.length === undefined ? total : Math.min(total, offset + range.length);
      body = sliceStream(body, offset, end);
      meta.size = end - offset;
    }
    return objectBody(meta, body);
  }

  #metaOf(key: string, h: HeadersLike): ObjectMeta & { size: number } {
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
    const lm = h.get("last-modified");
    if (lm) {
      const d = new Date(lm);
      if (!Number.isNaN(d.getTime())) meta.lastModified = d;
    }
    return meta;
  }

  /** Reads an object's metadata. `NotFound` if missing. */
  async head(key: string): Promise<ObjectMeta> {
    this.#full(key);
    const res = await this.#retrying(() =>
      this.#send({ op: "head", key, method: "HEAD", url: this.url(key) }),
    );
    return this.#metaOf(key, res.headers);
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
      this.#full(key);
      size = bodySize(body, opts.size, key);
      metadataHeaders(opts.metadata, key); // checks metadata keys before any request
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const mode = opts.mode ?? "overwrite";
    const from = mode === "create" ? copySourceOf(body) : undefined;
    if (from !== undefined && from.size === size && size <= MAX_SINGLE_PUT) {
      const src = locate(from.store, from.key);
      if (src.store instanceof S3Store && (await this.canCopyFrom(from.store)) && claimCopySource(body)) {
        return this.#copyFrom({ ...from, store: src.store }, src.key, key, opts.metadata);
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
    } else if (size > this.#threshold) {
      if (size > MAX_PARTS * MAX_PART_SIZE) {
        discardBody(body);
        throw new TidemarkError(
          "NotSupported",
          `s3 put ${JSON.stringify(key)}: ${size} bytes do not fit in S3's 10,000 parts of at most 5 GiB`,
          { key },
        );
      }
      return this.#putMultipart(key, body, size, opts);
    }
    if (body instanceof ReadableStream && !this.#streaming) body = await collectBody(body, size, key);
    if (mode === "create") {
      if (body instanceof ReadableStream)
        return this.#putOnce(key, body, size, opts, opts.metadata, "create");
      const bytes = bodyBytes(body);
      return createWithRetry(
        (metadata) => this.#putOnce(key, bytes, size, opts, metadata, "create"),
        () => this.head(key),
        opts.metadata,
        this.#retry,
      );
    }
    if (mode === "overwrite") {
      if (body instanceof ReadableStream)
        return this.#putOnce(key, body, size, opts, opts.metadata, undefined);
      const bytes = bodyBytes(body);
      return this.#retrying(() => this.#putOnce(key, bytes, size, opts, opts.metadata, undefined));
    }
    if (stripEtag(mode.ifMatch) === "") {
      // RGW 16 compares If-Match as a prefix: an empty etag would match anything.
      discardBody(body);
      throw new TidemarkError("PreconditionFailed", `s3 put ${JSON.stringify(key)}: empty ifMatch etag`, {
        key,
      });
    }
    if (body instanceof ReadableStream)
      return this.#putOnce(key, body, size, opts, opts.metadata, "ifMatch", mode);
    const bytes = bodyBytes(body);
    // A CAS retried after an ambiguous failure (500, network) could fail on
    // its own first attempt's write: give that back as Transient to re-read.
    try {
      return await this.#retrying(async () => {
        try {
          return await this.#putOnce(key, bytes, size, opts, opts.metadata, "ifMatch", mode);
        } catch (e) {
          if (AMBIGUOUS.has(e as object)) throw new Stop(e);
          throw e;
        }
      });
    } catch (e) {
      throw e instanceof Stop ? e.error : e;
    }
  }

  async #putOnce(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    size: number,
    opts: PutOptions,
    metadata: Record<string, string> | undefined,
    condition: S3Condition | undefined,
    mode?: { ifMatch: string },
  ): Promise<PutResult> {
    const headers: Record<string, string> = {
      "content-length": String(size),
      ...metadataHeaders(metadata, key),
    };
    if (opts.contentType) headers["content-type"] = opts.contentType;
    if (condition === "create") headers["if-none-match"] = "*";
    // RGW 16 matches only an unquoted etag (a quoted one always fails); AWS
    // and R2 accept it unquoted too. See TOOLCHAIN.md, "Ceph RGW".
    if (mode) headers["if-match"] = stripEtag(mode.ifMatch);
    const r: Request0 = { op: "put", key, method: "PUT", url: this.url(key), headers };
    if (condition) r.condition = condition;
    r.body = body;
    const res = await this.#send(r);
    await res.discard();
    return { etag: stripEtag(res.headers.get("etag")) };
  }

  async #putMultipart(key: string, body: Body, size: number, opts: PutOptions): Promise<PutResult> {
    // Grow parts to stay within S3's 10,000-part limit.
    const partSize = Math.max(this.#partSize, Math.ceil(size / MAX_PARTS));
    // A token lets a retried CompleteMultipartUpload that finds the upload gone
    // (its first attempt completed it) recognise the object as its own.
    const token = newWriterToken();
    const headers: Record<string, string> = metadataHeaders(
      { ...opts.metadata, [WRITER_TOKEN_KEY]: token },
      key,
    );
    if (opts.contentType) headers["content-type"] = opts.contentType;
    let uploadId: string;
    try {
      uploadId = await this.#retrying(async () => {
        const res = await this.#send({
          op: "create multipart upload",
          key,
          method: "POST",
          url: this.url(key, "uploads="),
          headers,
        });
        const id = xmlText(xmlChild(parseXml(await res.text()), "InitiateMultipartUploadResult"), "UploadId");
        if (!id)
          throw this.#fail(
            { op: "create multipart upload (no UploadId in the answer)", key },
            200,
            undefined,
          );
        return id;
      });
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const q = (extra: string) => `${extra}uploadId=${encodeRfc3986(uploadId)}`;
    try {
      const etags: string[] = [];
      await uploadParts(parts(body, size, partSize, key), this.#concurrency, async (n, bytes) => {
        etags[n - 1] = await this.#retrying(async () => {
          const res = await this.#send({
            op: `upload part ${n}`,
            key,
            method: "PUT",
            url: this.url(key, q(`partNumber=${n}&`)),
            headers: { "content-length": String(bytes.length) },
            body: bytes,
          });
          await res.discard();
          const etag = res.headers.get("etag");
          if (!etag)
            throw this.#fail({ op: `upload part ${n} (no ETag in the answer)`, key }, res.status, undefined);
          return etag;
        });
      });
      const xml = `<CompleteMultipartUpload>${etags
        .map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(e)}</ETag></Part>`)
        .join("")}</CompleteMultipartUpload>`;
      const payload = new TextEncoder().encode(xml);
      return await withRetry(async (attempt) => {
        try {
          const res = await this.#send({
            op: "complete multipart upload",
            key,
            method: "POST",
            url: this.url(key, q("")),
            headers: { "content-type": "application/xml" },
            body: payload,
          });
          // CompleteMultipartUpload can answer 200 and then fail in the body.
          // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
          const text = await res.text().catch(() => "");
          const err = parseS3Error(text);
          if (err) throw this.#fail({ op: "complete multipart upload", key }, 200, err);
          const etag = xmlText(xmlChild(parseXml(text), "CompleteMultipartUploadResult"), "ETag");
          if (etag) return { etag: stripEtag(etag) };
          if (!text.trim() || parseXml(text) === undefined) {
            // An empty or cut-off 200 body: the outcome is unknown.
            throw this.#fail({ op: "complete multipart upload (truncated answer)", key }, 503, undefined);
          }
          return { etag: (await this.head(key)).etag };
        } catch (e) {
          if (attempt > 1 && isTidemarkError(e, "NotFound")) {
            const meta = await this.head(key);
            if (meta.metadata?.[WRITER_TOKEN_KEY] === token) return { etag: meta.etag };
          }
          throw e;
        }
      }, this.#retry);
    } catch (e) {
      // Abort, so the parts do not linger (and cost) until a lifecycle rule.
      await this.#send({ op: "abort multipart upload", key, method: "DELETE", url: this.url(key, q("")) })
        .then((res) => res.discard())
        .catch(() => {});
      throw e;
    }
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
    if (!(src instanceof S3Store) || this.#copyOption === "off") return false;
    if (
      src.#endpoint.href !== this.#endpoint.href ||
      src.#signing.region !== this.#signing.region ||
      src.#signing.accessKeyId !== this.#signing.accessKeyId
    ) {
      return false;
    }
    this.#copyCondition ??= this.#decideCopyCondition();
    return (await this.#copyCondition) !== undefined;
  }

  async #decideCopyCondition(): Promise<string | undefined> {
    const documented = documentedCopyCondition(this.#endpoint.hostname);
    if (documented !== undefined) return documented;
    // Undocumented: copy onto an existing probe key; only a refusal that left
    // the key as it was proves the condition is honoured.
    const base = `_tidemark-copy-probe/${newWriterToken()}/`;
    const [a, b] = [`${base}a`, `${base}b`];
    try {
      const made = await this.put(a, "a");
      await this.put(b, "b");
      try {
        await this.#copyOnce(b, this.#copySource(this.#full(a)), made.etag, "if-none-match", undefined);
        return undefined;
      } catch (e) {
        if (!isTidemarkError(e, "AlreadyExists")) return undefined;
        return (await (await this.get(b)).text()) === "b" ? "if-none-match" : undefined;
      }
    } catch {
      return undefined; // cannot tell: never copy server-side
    } finally {
      await this.deleteMany([a, b]).catch(() => {});
    }
  }

  /** The `x-amz-copy-source` of a full key of this store (URL-encoded, as S3 wants it). */
  #copySource(fullKey: string): string {
    return `/${encodeRfc3986(this.#bucket)}/${encodeKeyPath(fullKey)}`;
  }

  /**
   * A create-only `put` of a `copySourceBody` of an object of `source.store`
   * (an `S3Store` this store can copy from, see {@link canCopyFrom}):
   * CopyObject pinned to the source's etag (`x-amz-copy-source-if-match`),
   * with `metadata` replacing the source's. `AlreadyExists` when `key`
   * exists (a retry that finds its own copy succeeds: writer token),
   * `PreconditionFailed` when the source is no longer that version.
   */
  async #copyFrom(
    from: CopySource & { store: S3Store },
    fromKey: string,
    key: string,
    metadata: Record<string, string> | undefined,
  ): Promise<PutResult> {
    const condition = await this.#copyCondition;
    if (condition === undefined) throw new TypeError("#copyFrom without a copy condition");
    const copySource = from.store.#copySource(from.store.#full(fromKey));
    try {
      return await createWithRetry(
        (md) => this.#copyOnce(key, copySource, from.etag, condition, md),
        () => this.head(key),
        metadata,
        this.#retry,
      );
    } catch (e) {
      // 412 answers both conditions: the destination exists, or the source changed.
      if (isTidemarkError(e, "AlreadyExists")) {
        try {
          await this.head(key);
        } catch (h) {
          if (!isTidemarkError(h, "NotFound")) throw h;
          throw new TidemarkError(
            "PreconditionFailed",
            `s3 copy ${JSON.stringify(key)}: the source ${JSON.stringify(from.key)} is no longer etag ${from.etag}`,
            { key, cause: e },
          );
        }
      }
      throw e;
    }
  }

  async #copyOnce(
    key: string,
    copySource: string,
    sourceEtag: string,
    condition: string,
    metadata: Record<string, string> | undefined,
  ): Promise<PutResult> {
    const res = await this.#send({
      op: "copy",
      key,
      method: "PUT",
      url: this.url(key),
      headers: {
        "content-length": "0",
        "x-amz-copy-source": copySource,
        "x-amz-copy-source-if-match": stripEtag(sourceEtag),
        "x-amz-metadata-directive": "REPLACE",
        [condition]: "*",
        ...metadataHeaders(metadata, key),
      },
      condition: "create",
    });
    // CopyObject can answer 200 and fail in the body.
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
    const text = await res.text();
    const err = parseS3Error(text);
    if (err) throw this.#fail({ op: "copy", key, condition: "create" }, 200, err);
    const etag = xmlText(xmlChild(parseXml(text), "CopyObjectResult"), "ETag");
    // A cut-off answer: the outcome is unknown (a retry settles it by the writer token).
    if (!etag) throw this.#fail({ op: "copy (no ETag in the answer)", key }, 503, undefined);
    return { etag: stripEtag(etag) };
  }

  /** Deletes an object; a missing key is not an error. */
  async delete(key: string): Promise<void> {
    this.#full(key);
    try {
      const res = await this.#retrying(() =>
        this.#send({ op: "delete", key, method: "DELETE", url: this.url(key) }),
      );
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
   * deleted. `InvalidArgument` for an invalid key (checked per batch, before
   * that batch is sent).
   */
  async deleteMany(keys: AsyncIterable<string> | Iterable<string>): Promise<DeleteManyResult> {
    let deleted = 0;
    const errors: DeleteError[] = [];
    let batch: string[] = [];
    const flush = async () => {
      const b = batch;
      batch = [];
      const xmlSafe = b.filter((k) => !NOT_XML.test(this.#prefix + k));
      for (const k of b) {
        if (NOT_XML.test(this.#prefix + k)) {
          // XML 1.0 cannot carry U+FFFE/U+FFFF: delete such keys one by one.
          try {
            await this.delete(k);
            deleted++;
          } catch (e) {
            if (!isTidemarkError(e)) throw e;
            errors.push({ key: k, code: e.code, message: e.message });
          }
        }
      }
      if (xmlSafe.length === 0) return;
      const res = await this.#deleteBatch(xmlSafe);
      deleted += xmlSafe.length - res.length;
      errors.push(...res);
    };
    // Validate every key before deleting anything, as every adapter does: a
    // bad key late in a long sequence must not leave earlier batches deleted.
    const all: string[] = [];
    for await (const key of keys) {
      this.#full(key);
      encodeKeyPath(this.#prefix + key);
      all.push(key);
    }
    for (const key of all) {
      batch.push(key);
      if (batch.length >= DELETE_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    return { deleted, errors };
  }

  async #deleteBatch(keys: string[]): Promise<DeleteError[]> {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>${keys
      .map((k) => `<Object><Key>${xmlEscape(this.#prefix + k)}</Key></Object>`)
      .join("")}</Delete>`;
    const payload = new TextEncoder().encode(xml);
    const headers = { "content-type": "application/xml", "content-md5": base64(md5(payload)) };
    return this.#retrying(async () => {
      const res = await this.#send({
        op: "delete many",
        method: "POST",
        url: this.url(undefined, "delete="),
        headers,
        body: payload,
      });
      const text = await res.text();
      const err = parseS3Error(text);
      if (err) throw this.#fail({ op: "delete many" }, res.status, err);
      const doc = parseXml(text);
      const result = xmlChild(doc, "DeleteResult");
      if (!result) {
        // Quiet mode with nothing to report may send an empty <DeleteResult/>,
        // which parses as text; a body that is not XML at all is cut off.
        if (doc && typeof doc.DeleteResult === "string") return [];
        throw this.#fail({ op: "delete many (unreadable answer)" }, 503, undefined);
      }
      return xmlList(result, "Error").map((e) => {
        const full = xmlText(e, "Key") ?? "";
        const key = full.startsWith(this.#prefix) ? full.slice(this.#prefix.length) : full;
        const code = xmlText(e, "Code") ?? "Unknown";
        const message = this.#scrub(xmlText(e, "Message") ?? "");
        return { key, code, message };
      });
    });
  }

  /**
   * Lists keys under `prefix` in UTF-8 byte order with ListObjectsV2 (pages of
   * `maxKeys`, `encoding-type=url` so any key survives XML), lazily, one page
   * request at a time. With a delimiter, common prefixes come as `isPrefix`
   * entries in order among the keys. Listings carry no user metadata.
   */
  list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    return this.#list(prefix, opts);
  }

  async *#list(prefix: string, opts: ListOptions): AsyncGenerator<ObjectMeta> {
    // Checked on the first next(), like every other failure of a listing.
    validatePrefix(prefix);
    const fullPrefix = this.#prefix + prefix;
    if (fullPrefix !== "") validateKey(fullPrefix);
    if (opts.startAfter !== undefined && opts.startAfter !== "") validateKey(this.#prefix + opts.startAfter);
    let token: string | undefined;
    let startAfter = opts.startAfter === undefined ? undefined : this.#prefix + opts.startAfter;
    const strip = (k: string) => k.slice(this.#prefix.length);
    for (;;) {
      const params: [string, string][] = [
        ["list-type", "2"],
        ["encoding-type", "url"],
        ["max-keys", String(this.#maxKeys)],
        ["prefix", fullPrefix],
      ];
      if (opts.delimiter) params.push(["delimiter", opts.delimiter]);
      if (token !== undefined) params.push(["continuation-token", token]);
      else if (startAfter !== undefined) params.push(["start-after", startAfter]);
      const query = params.map(([k, v]) => `${k}=${encodeRfc3986(v)}`).join("&");
      const page = await this.#retrying(async () => {
        const res = await this.#send({
          op: "list",
          key: strip(fullPrefix),
          method: "GET",
          url: this.url(undefined, query),
        });
        // A body cut off mid-page rejects with Transient (the transport's `responseError`).
        const text = await res.text();
        const err = parseS3Error(text);
        if (err) throw this.#fail({ op: "list" }, res.status, err);
        const result = xmlChild(parseXml(text), "ListBucketResult");
        // "A 200 OK response can contain valid or invalid XML": a cut-off page.
        if (!result) throw this.#fail({ op: "list (unreadable page)" }, 503, undefined);
        return result;
      });
      const urlEncoded = xmlText(page, "EncodingType")?.toLowerCase() === "url";
      const dec = (s: string) => (urlEncoded ? decodeS3Url(s) : s);
      const objects: ObjectMeta[] = xmlList(page, "Contents").map((c) => {
        const meta: ObjectMeta = {
          key: strip(dec(xmlText(c, "Key") ?? "")),
          size: Number(xmlText(c, "Size") ?? "0"),
          etag: stripEtag(xmlText(c, "ETag")),
        };
        const lm = xmlText(c, "LastModified");
        if (lm) {
          const d = new Date(lm);
          if (!Number.isNaN(d.getTime())) meta.lastModified = d;
        }
        return meta;
      });
      const prefixes: ObjectMeta[] = xmlList(page, "CommonPrefixes").map((c) => ({
        key: strip(dec(xmlText(c, "Prefix") ?? "")),
        size: 0,
        etag: "",
        isPrefix: true,
      }));
      // Contents and CommonPrefixes are each sorted; interleave them.
      const merged =
        prefixes.length === 0 ? objects : [...objects, ...prefixes].sort((a, b) => compareKeys(a.key, b.key));
      for (const m of merged) yield m;
      const truncated = xmlText(page, "IsTruncated") === "true";
      if (!truncated) return;
      const next = xmlText(page, "NextContinuationToken");
      if (next) {
        token = next;
      } else {
        // Truncated without a token (old or odd servers): continue after the last entry.
        const last = merged.at(-1);
        if (!last) return;
        token = undefined;
        startAfter = this.#prefix + last.key;
      }
    }
  }
}

/** Errors whose write may have happened (see `isAmbiguousFailure`). */
const AMBIGUOUS = new WeakSet<object>();

/** Decodes an `encoding-type=url` value: `+` is a space, then percent-decoding (AWS encodes a space as `+`). */
export function decodeS3Url(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

/** Splits a body into parts of `partSize` (the last shorter), reading a stream part by part. */
async function* parts(body: Body, size: number, partSize: number, key: string): AsyncGenerator<Uint8Array> {
  if (!(body instanceof ReadableStream)) {
    const bytes = bodyBytes(body);
    for (let at = 0; at < bytes.length; at += partSize) yield bytes.subarray(at, at + partSize);
    return;
  }
  const reader = body.getReader();
  let total = 0;
  let buf = new Uint8Array(Math.min(partSize, size));
  let fill = 0;
  let finished = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        finished = true; // the stream is errored already; nothing to cancel
        throw bodyFailed(e, key);
      }
      if (r.done) break;
      let chunk = r.value;
      while (chunk.length > 0) {
        if (total + chunk.length > size) {
          throw bodyTooLong(size, key);
        }
        const n = Math.min(chunk.length, buf.length - fill);
        buf.set(chunk.subarray(0, n), fill);
        fill += n;
        total += n;
        chunk = chunk.subarray(n);
        if (fill === buf.length) {
          yield buf;
          buf = new Uint8Array(Math.min(partSize, size - total));
          fill = 0;
        }
      }
    }
    finished = true;
    if (total !== size) {
      throw bodyTooShort(total, size, key);
    }
  } finally {
    // Stopped early (a part failed, or too many bytes): the rest is not wanted.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Uploads parts from `source` with at most `limit` in flight (so at most
 * `limit + 1` parts are in memory); on the first failure stops reading and
 * waits for the in-flight parts before rethrowing.
 */
async function uploadParts(
  source: AsyncGenerator<Uint8Array>,
  limit: number,
  upload: (partNumber: number, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const inflight = new Set<Promise<void>>();
  let failed: { e: unknown } | undefined;
  let n = 0;
  try {
    for await (const bytes of source) {
      if (failed) break;
      const partNumber = ++n;
      const p: Promise<void> = upload(partNumber, bytes)
        .catch((e: unknown) => {
          failed ??= { e };
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= limit) await Promise.race(inflight);
    }
  } catch (e) {
    failed ??= { e };
  } finally {
    await Promise.allSettled(inflight);
  }
  if (failed) throw failed.e;
}
