/**
 * `HttpStore`: a read-only store over plain HTTP `GET`/`HEAD` (a public
 * bucket, a static file server, the worker's object route). What browsers use.
 *
 * @module
 */
import { type ErrorCode, isTidemarkError, TidemarkError } from "../errors.ts";
import { checkRangeArgs, discardBody, objectBody } from "./body.ts";
import {
  emptyStream,
  encodeKeyPath,
  type FetchLike,
  globalFetch,
  guardStream,
  metadataFromHeaders,
  parseContentRange,
  rangeHeader,
  sliceStream,
  stripEtag,
} from "./http-common.ts";
import { validateKey } from "./keys.ts";
import type {
  Body,
  DeleteManyResult,
  ListOptions,
  ObjectBody,
  ObjectMeta,
  ObjectStore,
  PutOptions,
  PutResult,
  StoreCapabilities,
} from "./types.ts";

/** Options of {@link HttpStore}. */
export interface HttpStoreOptions {
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike;
  /** Headers sent with every request (e.g. `Authorization` for a private route). Never put in errors. */
  headers?: Record<string, string>;
}

/** The HTTP status → code map of the HTTP store (one place, like `classifyS3Error` for S3). */
export function httpErrorCode(status: number | undefined): ErrorCode {
  if (status === undefined) return "Transient"; // fetch threw: network error
  if (status === 404 || status === 410) return "NotFound";
  if (status === 401 || status === 403) return "PermissionDenied";
  if (status === 416 || status === 400) return "InvalidArgument";
  if (status === 412) return "PreconditionFailed";
  if (status === 405 || status === 501) return "NotSupported";
  if (status === 408 || status === 429 || status >= 500) return "Transient";
  return "Unknown";
}

/**
 * A read-only {@link ObjectStore} over HTTP: `get` (with ranges) and `head`
 * of `baseUrl + "/" + key` (each key segment percent-encoded; a query string
 * on `baseUrl` is kept). Works in browsers (web-standard globals only).
 *
 * - `get`/`head`: `NotFound` on 404/410, `PermissionDenied` on 401/403,
 *   `InvalidArgument` for a range past the end (416), `Transient` for 429,
 *   5xx and network errors, `Unknown` otherwise (a 304 included: send no
 *   conditional headers in `headers`). Not retried here: wrap it in
 *   `retrying()` for that.
 * - Ranges use `Range: bytes=a-b`; a server that ignores it (200) is sliced
 *   locally. The etag comes from `ETag` (quotes and `W/` removed), the size
 *   from `Content-Length` or `Content-Range`, user metadata from
 *   `x-amz-meta-*` headers when the server sends them.
 * - `put`, `delete`, `deleteMany` and `list` throw `NotSupported`;
 *   `capabilities` says `{ write: false, list: false, compareAndSwap: false }`.
 *
 * Errors name the key and HTTP status, never the URL (it may be presigned)
 * nor the configured headers.
 */
export class HttpStore implements ObjectStore {
  readonly name: string;
  /** The base URL without query, fragment or credentials. */
  readonly id: string;
  readonly capabilities: Partial<StoreCapabilities> = { write: false, list: false, compareAndSwap: false };
  readonly #base: URL;
  readonly #fetch: FetchLike;
  readonly #headers: Record<string, string>;

  /** Throws `InvalidArgument` when `baseUrl` is not an http(s) URL. */
  constructor(baseUrl: string, opts: HttpStoreOptions = {}) {
    let base: URL;
    try {
      base = new URL(baseUrl);
    } catch {
      throw new TidemarkError("InvalidArgument", "HttpStore base URL is not a valid URL");
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TidemarkError("InvalidArgument", "HttpStore base URL must be http: or https:");
    }
    base.hash = "";
    this.#base = base;
    this.#fetch = opts.fetch ?? globalFetch;
    this.#headers = { ...opts.headers };
    this.name = `${base.protocol}//${base.host}`;
    // Without query (a token) or credentials: an identity is never a secret.
    this.id = `${base.protocol}//${base.host}${base.pathname.replace(/\/+$/, "")}`;
  }

  /** The URL of `key` (not secret-free if the base URL carries a token: never logged by tidemark). */
  url(key: string): string {
    validateKey(key);
    const u = new URL(this.#base.href);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/${encodeKeyPath(key)}`;
    return u.href;
  }

  #error(op: string, key: string, status: number | undefined, cause?: unknown): TidemarkError {
    const code = httpErrorCode(status);
    const why = status === undefined ? "network error" : `HTTP ${status}`;
    const options: { key: string; cause?: unknown } = { key };
    // Keep only the name and message of a network error: runtimes can attach the request.
    if (cause !== undefined) {
      const c = cause as { name?: unknown; message?: unknown };
      const e = new Error(typeof c.message === "string" ? scrubUrl(c.message) : "fetch failed");
      e.name = typeof c.name === "string" ? c.name : "Error";
      options.cause = e;
    }
    return new TidemarkError(code, `http ${op} ${JSON.stringify(key)}: ${why}`, options);
  }

  async #request(
    op: string,
    key: string,
    method: string,
    headers: Record<string, string>,
  ): Promise<Response> {
    const url = this.url(key);
    let res: Response;
    try {
      res = await this.#fetch(url, { method, headers: { ...this.#headers, ...headers } });
    } catch (e) {
      throw this.#error(op, key, undefined, e);
    }
    if (res.status >= 200 && res.status < 300) return res;
    await res.body?.cancel().catch(() => {});
    throw this.#error(op, key, res.status);
  }

  #meta(key: string, h: Headers, size: number): ObjectMeta {
    const meta: ObjectMeta = { key, size, etag: stripEtag(h.get("etag")) };
    const lm = h.get("last-modified");
    if (lm) {
      const d = new Date(lm);
      if (!Number.isNaN(d.getTime())) meta.lastModified = d;
    }
    const md = metadataFromHeaders(h);
    if (Object.keys(md).length > 0) meta.metadata = md;
    return meta;
  }

  /** Reads an object or a byte range of it (see the class notes for the codes). */
  async get(key: string, opts: { range?: { offset: number; length?: number } } = {}): Promise<ObjectBody> {
    validateKey(key);
    const range = opts.range;
    if (range) checkRangeArgs(range, key);
    const rh = rangeHeader(range);
    let res: Response;
    try {
      res = await this.#request("get", key, "GET", rh ? { range: rh } : {});
    } catch (e) {
      // A range of an empty object is unsatisfiable (416); the contract reads
      // an empty object at offset 0 as empty.
      if (range?.offset === 0 && isTidemarkError(e, "InvalidArgument")) {
        const meta = await this.head(key);
        if (meta.size === 0) return objectBody(meta, emptyStream());
      }
      throw e;
    }
    const h = res.headers;
    let body = res.body
      ? guardStream(res.body, (e) => this.#error("get body", key, undefined, e))
      : emptyStream();
    const length = Number(h.get("content-length") ?? Number.NaN);
    if (res.status === 206) {
      const cr = parseContentRange(h.get("content-range"));
      const size =
        cr?.start !== undefined && cr.end !== undefined
          ? cr.end - cr.start + 1
          : Number.isFinite(length)
            ? length
            : 0;
      return objectBody(this.#meta(key, h, size), body);
    }
    // 200: the whole object (no range asked, or the server ignores Range).
    const total = Number.isFinite(length) ? length : undefined;
    if (rh && range) {
      // Offset 0 of an empty object is an empty read (the contract), not past the end.
      if (total !== undefined && range.offset >= total && !(range.offset === 0 && total === 0)) {
        await body.cancel().catch(() => {});
        throw new TidemarkError(
          "InvalidArgument",
          `range offset ${range.offset} is past the end (${total} bytes)`,
          {
            key,
          },
        );
      }
      const end =
        range.length === undefined ? (total ?? Number.MAX_SAFE_INTEGER) : range.offset + range.length;
      const stop = total === undefined ? end : Math.min(end, total);
      body = sliceStream(body, range.offset, stop);
      return objectBody(this.#meta(key, h, total === undefined ? 0 : stop - range.offset), body);
    }
    return objectBody(this.#meta(key, h, total ?? 0), body);
  }

  /**
   * Reads an object's metadata with `HEAD`; when the server sends no
   * `Content-Length`, a one-byte range `GET` gives the size from `Content-Range`.
   */
  async head(key: string): Promise<ObjectMeta> {
    validateKey(key);
    const res = await this.#request("head", key, "HEAD", {});
    const len = res.headers.get("content-length");
    if (len !== null && Number.isFinite(Number(len))) return this.#meta(key, res.headers, Number(len));
    const probe = await this.#request("head", key, "GET", { range: "bytes=0-0" }).catch((e: unknown) => {
      // An empty object cannot satisfy bytes=0-0.
      if (isTidemarkError(e, "InvalidArgument")) return undefined;
      throw e;
    });
    if (!probe) return this.#meta(key, res.headers, 0);
    await probe.body?.cancel().catch(() => {});
    const total = parseContentRange(probe.headers.get("content-range"))?.total;
    const plen = probe.headers.get("content-length");
    return this.#meta(key, res.headers, total ?? (plen === null ? 0 : Number(plen)));
  }

  /** Always `NotSupported`: the HTTP store is read-only. */
  async put(key: string, body?: Body, _opts?: PutOptions): Promise<PutResult> {
    if (body !== undefined) discardBody(body);
    throw notSupported("put", key);
  }

  /** Always `NotSupported`: the HTTP store is read-only. */
  async delete(key: string): Promise<void> {
    throw notSupported("delete", key);
  }

  /** Always `NotSupported`: the HTTP store is read-only. */
  async deleteMany(_keys?: AsyncIterable<string> | Iterable<string>): Promise<DeleteManyResult> {
    throw notSupported("deleteMany");
  }

  /** Always `NotSupported`: plain HTTP has no listing (tidemark reads by known names). */
  list(_prefix?: string, _opts?: ListOptions): AsyncIterable<ObjectMeta> {
    return {
      [Symbol.asyncIterator]() {
        return {
          next: () => Promise.reject(notSupported("list")),
        };
      },
    };
  }
}

function notSupported(op: string, key?: string): TidemarkError {
  return new TidemarkError(
    "NotSupported",
    `http ${op}${key === undefined ? "" : ` ${JSON.stringify(key)}`}: the HTTP store is read-only`,
    key === undefined ? {} : { key },
  );
}

// A network error message could quote the URL (and a presigned URL's query).
function scrubUrl(s: string): string {
  return s.replace(/https?:\/\/\S+/g, "<url>");
}
