/**
 * The one place an S3 request is built, signed, sent, turned into a
 * `TidemarkError`, and retried: {@link S3Client.call} decides the retry once,
 * from what the request is ({@link Retry}) and what its failure was, so no
 * layer above it retries again and no error carries a mark for a loop
 * elsewhere.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import { sanitizeCause } from "../redact.ts";
import { withRetry } from "../retry.ts";
import type { TransportResponse } from "../transport.ts";
import { encodeKeyPath, encodeRfc3986 } from "../wire.ts";
import { isAmbiguousFailure, type S3Condition, type S3Failure, s3Error } from "./errors.ts";
import type { S3Settings } from "./settings.ts";
import { parseS3Error } from "./xml.ts";

/**
 * How a request may be retried, decided by what it is:
 *
 * - `"idempotent"`: a read, a delete, an overwrite of bytes, a part, a page:
 *   retried on `Transient` under the store's policy;
 * - `"once"`: its body is a stream (a stream cannot be replayed), or its
 *   caller retries it itself (a create-only put, whose retry must carry the
 *   writer token: `createWithRetry`): never retried here;
 * - `"cas"`: a compare-and-swap: retried only when the failure proves nothing
 *   was written (429, 503, SlowDown); after a failure that may have written
 *   (500, 502, 504, a network error) a retry could fail on its own first
 *   attempt's write, so the `Transient` goes back to the caller to re-read.
 */
export type Retry = "idempotent" | "once" | "cas";

/** A store's client and settings: what its requests are made with (put.ts, copy.ts, delete.ts, list.ts, multipart.ts). */
export interface S3Context {
  client: S3Client;
  cfg: S3Settings;
}

/** One S3 request. */
export interface S3Request {
  /** What tidemark is doing, for messages: "get", "put", "complete multipart upload"... */
  op: string;
  /** The caller's key, for messages. */
  key?: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
  /** The conditional header it carries, which changes what 412/404 mean. */
  condition?: S3Condition;
}

/** What an S3 error body (or its absence) says, for {@link S3Client.fail}. */
export interface S3ErrorInfo {
  code?: string;
  message?: string;
  requestId?: string | null | undefined;
}

/** An S3 endpoint and bucket as `S3Store` talks to it. */
export class S3Client {
  readonly #cfg: S3Settings;
  #sent = 0;

  constructor(cfg: S3Settings) {
    this.#cfg = cfg;
  }

  /**
   * The URL of a stored key (or of the bucket, without `fullKey`), with a
   * query string already encoded. Not signed.
   */
  url(fullKey?: string, query = ""): string {
    const { endpoint: e, bucket, pathStyle } = this.#cfg;
    const base = e.pathname.replace(/\/+$/, "");
    const path = fullKey === undefined ? "" : encodeKeyPath(fullKey);
    const q = query ? `?${query}` : "";
    if (pathStyle) {
      const bucketPath = `${base}/${encodeRfc3986(bucket)}`;
      return `${e.protocol}//${e.host}${bucketPath}${fullKey === undefined ? "" : `/${path}`}${q}`;
    }
    return `${e.protocol}//${bucket}.${e.host}${base}/${path}${q}`;
  }

  /** The `x-amz-copy-source` of a stored key of this bucket (URL-encoded, as S3 wants it). */
  copySource(fullKey: string): string {
    return `/${encodeRfc3986(this.#cfg.bucket)}/${encodeKeyPath(fullKey)}`;
  }

  /** Requests handed to the transport so far, every attempt counted. */
  get sent(): number {
    return this.#sent;
  }

  /** Sends `r` and retries it as `retry` says (see {@link Retry}). */
  call(r: S3Request, retry: Retry): Promise<TransportResponse> {
    if (retry === "once") return this.send(r);
    // The last failure of this request, as `send` saw it: whether it may have written.
    let failure: S3Failure | undefined;
    return withRetry(
      () => {
        failure = undefined;
        return this.send(r, (f) => {
          failure = f;
        });
      },
      this.#cfg.retry,
      { retryable: () => retry !== "cas" || failure === undefined || !isAmbiguousFailure(failure) },
    );
  }

  /**
   * Runs `attempt` (which sends idempotent requests with {@link send} and
   * reads their answers) under the store's retry policy: for exchanges whose
   * answer body can fail after the status (a list page, a multipart
   * completion), so a cut-off body is retried like a failed request.
   */
  retrying<T>(attempt: (n: number) => Promise<T>): Promise<T> {
    return withRetry(attempt, this.#cfg.retry);
  }

  /**
   * One signed request; throws the mapped `TidemarkError` unless the status
   * is 2xx (after telling `onFailure` what failed).
   */
  async send(r: S3Request, onFailure?: (f: S3Failure) => void): Promise<TransportResponse> {
    const { signer, signing, transport, scrub } = this.#cfg;
    const headers: Record<string, string> = { ...r.headers };
    // UNSIGNED-PAYLOAD: the payload is not part of the signature, so we sign
    // the headers alone and hand the body to the transport ourselves.
    // (A body with a trailing checksum says STREAMING-UNSIGNED-PAYLOAD-TRAILER itself.)
    headers["x-amz-content-sha256"] ??= "UNSIGNED-PAYLOAD";
    let signed: Record<string, string>;
    try {
      signed = await signer.sign({ method: r.method, url: r.url, headers }, signing);
    } catch (e) {
      throw new TidemarkError("InvalidArgument", scrub(`s3 ${r.op}: cannot sign the request`), {
        ...(r.key === undefined ? {} : { key: r.key }),
        cause: sanitizeCause(e, scrub),
      });
    }
    let res: TransportResponse;
    try {
      this.#sent++;
      res = await transport.request({
        method: r.method,
        url: r.url,
        headers: signed,
        ...(r.body === undefined ? {} : { body: r.body }),
        ...(r.key === undefined ? {} : { key: r.key }),
        responseError: (e) =>
          this.fail(
            { op: `${r.op} body`, ...(r.key === undefined ? {} : { key: r.key }) },
            undefined,
            undefined,
            e,
          ),
      });
    } catch (e) {
      // A problem of the request's own body (wrong size, a failed source stream) as it is.
      if (isTidemarkError(e)) throw e;
      throw this.fail(r, undefined, undefined, e, onFailure);
    }
    if (res.status >= 200 && res.status < 300) return res;
    const text = r.method === "HEAD" ? "" : await res.text().catch(() => "");
    if (r.method === "HEAD") await res.discard();
    const err = parseS3Error(text);
    throw this.fail(
      r,
      res.status,
      { ...err, requestId: err?.requestId ?? res.headers.get("x-amz-request-id") },
      undefined,
      onFailure,
    );
  }

  /**
   * The `TidemarkError` of a failed exchange (code from `classifyS3Error`,
   * secrets scrubbed from the message and the cause).
   */
  fail(
    r: Pick<S3Request, "op" | "key" | "condition">,
    status: number | undefined,
    body: S3ErrorInfo | undefined,
    cause?: unknown,
    onFailure?: (f: S3Failure) => void,
  ): TidemarkError {
    const scrub = this.#cfg.scrub;
    const f: S3Failure = { op: r.op };
    if (r.key !== undefined) f.key = r.key;
    if (status !== undefined) f.status = status;
    if (body?.code) f.s3Code = body.code;
    if (body?.message) f.s3Message = body.message;
    if (body?.requestId) f.requestId = body.requestId;
    if (r.condition) f.condition = r.condition;
    onFailure?.(f);
    return s3Error(f, scrub, cause === undefined ? undefined : sanitizeCause(cause, scrub));
  }
}
