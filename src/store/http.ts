/**
 * `HttpStore`: a read-only store over plain HTTP `GET`/`HEAD` (a public
 * bucket, a static file server, the worker's object route). What browsers use.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import {
  checkRangeArgs,
  discardBody,
  emptyObjectOr,
  emptyStream,
  guardStream,
  objectBody,
  sliceWhole,
} from "./body.ts";
import { validateKey } from "./keys.ts";
import { makeScrubber, sanitizeCause } from "./redact.ts";
import { type FetchLike, globalFetch } from "./transport.ts";
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
import {
  codeOfHttpStatus,
  encodeKeyPath,
  metadataFromHeaders,
  parseContentRange,
  rangeHeader,
  stripEtag,
} from "./wire.ts";

/** Options of {@link HttpStore}. */
export interface HttpStoreOptions {
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike;
  /**
   * Headers sent with every request (e.g. `Authorization` for a private
   * route). Never put in errors. `Accept-Encoding` is always `identity`.
   */
  headers?: Record<string, string>;
  /**
   * When a server sends a whole object without a usable length (chunked, or
   * compressed), a `get` reads up to this many bytes into memory to learn
   * the size; a longer body is streamed, its size found by {@link
   * HttpStore.head} (an integer >= 0; default 8 MiB).
   */
  maxBufferBytes?: number;
}

/** The default of {@link HttpStoreOptions.maxBufferBytes}. */
const DEFAULT_MAX_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * The object's byte length a response declares: `Content-Length`, unless
 * the body is content-encoded (then it counts compressed bytes, while
 * `fetch` hands out decoded ones). `undefined` when not declared.
 */
function declaredLength(h: Headers): number | undefined {
  const encoding = h.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return undefined;
  const text = h.get("content-length");
  if (text === null || !/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
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
 *   locally. The etag comes from `ETag` (quotes and `W/` removed), user
 *   metadata from `x-amz-meta-*` headers when the server sends them.
 * - Sizes: every request sends `Accept-Encoding: identity` (a re-compressing
 *   proxy would otherwise replace `Content-Length` with the compressed size).
 *   The size is `Content-Range`'s for a 206, else `Content-Length` unless the
 *   body is content-encoded. A whole-object response without either
 *   (chunked, compressed anyway) is read into memory up to `maxBufferBytes`
 *   and measured; a longer one streams, its size from {@link head} (HEAD, a
 *   one-byte range, or as a last resort a second read, counted). A body
 *   that turns out longer or shorter than the size given is `Corrupt`, never
 *   handed out under a wrong size.
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
  #sent = 0;
  readonly #headers: Record<string, string>;
  readonly #maxBuffer: number;

  /** Throws `InvalidArgument` when `baseUrl` is not an http(s) URL or `maxBufferBytes` is not an integer >= 0. */
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
    this.#maxBuffer = numberOption("maxBufferBytes", opts.maxBufferBytes, DEFAULT_MAX_BUFFER_BYTES, {
      min: 0,
    });
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
    const code = codeOfHttpStatus(status);
    const why = status === undefined ? "network error" : `HTTP ${status}`;
    const options: { key: string; cause?: unknown } = { key };
    // Names and messages only (runtimes can attach the request), without URLs
    // (a presigned URL's query is a credential).
    if (cause !== undefined) options.cause = sanitizeCause(cause, SCRUB_URLS);
    return new TidemarkError(code, `http ${op} ${JSON.stringify(key)}: ${why}`, options);
  }

  /** Requests sent so far (see {@link ObjectStore.requestsSent}). */
  requestsSent(): number {
    return this.#sent;
  }

  async #request(op: string, key: string, method: string, extra: Record<string, string>): Promise<Response> {
    const url = this.url(key);
    const headers = new Headers(this.#headers);
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    // A proxy that re-compresses a response replaces Content-Length with the
    // compressed size (and drops Range support); identity asks it not to.
    // Browsers refuse to let a script set this header and drop it: there the
    // size checks below still hold.
    headers.set("accept-encoding", "identity");
    let res: Response;
    try {
      this.#sent++;
      res = await this.#fetch(url, { method, headers });
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

  #guard(key: string, res: Response): ReadableStream<Uint8Array> {
    return res.body
      ? guardStream(res.body, (e) => this.#error("get body", key, undefined, e))
      : emptyStream();
  }

  /**
   * Reads an object or a byte range of it (see the class notes for the codes
   * and for how the size is found when the server does not declare it).
   */
  async get(key: string, opts: { range?: { offset: number; length?: number } } = {}): Promise<ObjectBody> {
    validateKey(key);
    const range = opts.range;
    if (range) checkRangeArgs(range, key);
    const rh = rangeHeader(range);
    let res: Response;
    try {
      res = await this.#request("get", key, "GET", rh ? { range: rh } : {});
    } catch (e) {
      if (!isTidemarkError(e, "InvalidArgument")) throw e;
      return emptyObjectOr(e, range, () => this.head(key));
    }
    const h = res.headers;
    let body = this.#guard(key, res);
    if (res.status === 206) {
      const cr = parseContentRange(h.get("content-range"));
      let size = cr?.start !== undefined && cr.end !== undefined ? cr.end - cr.start + 1 : declaredLength(h);
      if (size === undefined) {
        const part = await readUpTo(body, Number.POSITIVE_INFINITY);
        size = part.length;
        body = part.stream;
      }
      return objectBody(this.#meta(key, h, size), exactLength(body, size, key));
    }
    // 200: the whole object (no range asked, or the server ignores Range).
    let total = declaredLength(h);
    if (total === undefined) {
      // No usable length: the bytes themselves tell, within maxBufferBytes;
      // past that the body streams on and the size comes from a HEAD.
      const read = await readUpTo(body, this.#maxBuffer);
      body = read.stream;
      if (read.complete) total = read.length;
      else {
        const meta = await this.head(key).catch(async (e: unknown) => {
          await body.cancel().catch(() => {});
          throw e;
        });
        const etag = stripEtag(h.get("etag"));
        if (etag !== "" && meta.etag !== "" && meta.etag !== etag) {
          await body.cancel().catch(() => {});
          throw new TidemarkError(
            "Transient",
            `http get ${JSON.stringify(key)}: object changed while reading`,
            {
              key,
            },
          );
        }
        total = meta.size;
      }
    }
    body = exactLength(body, total, key);
    if (rh && range) {
      const cut = await sliceWhole(body, range, total, key);
      return objectBody(this.#meta(key, h, cut.size), cut.body);
    }
    return objectBody(this.#meta(key, h, total), body);
  }

  /**
   * Reads an object's metadata with `HEAD`. When the server declares no
   * usable length (none, or a content-encoded one), a one-byte range `GET`
   * gives it from `Content-Range`; a server that ignores the range and
   * declares no length either has the whole body counted (read and dropped,
   * never held).
   */
  async head(key: string): Promise<ObjectMeta> {
    validateKey(key);
    const res = await this.#request("head", key, "HEAD", {});
    const len = declaredLength(res.headers);
    if (len !== undefined) return this.#meta(key, res.headers, len);
    const probe = await this.#request("head", key, "GET", { range: "bytes=0-0" }).catch((e: unknown) => {
      // An empty object cannot satisfy bytes=0-0.
      if (isTidemarkError(e, "InvalidArgument")) return undefined;
      throw e;
    });
    if (!probe) return this.#meta(key, res.headers, 0);
    const size =
      probe.status === 206
        ? parseContentRange(probe.headers.get("content-range"))?.total
        : declaredLength(probe.headers);
    if (size !== undefined) {
      await probe.body?.cancel().catch(() => {});
      return this.#meta(key, res.headers, size);
    }
    let whole = probe;
    if (probe.status === 206) {
      await probe.body?.cancel().catch(() => {});
      whole = await this.#request("head", key, "GET", {});
    }
    return this.#meta(key, res.headers, await countBytes(this.#guard(key, whole)));
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

/** A stream's first bytes, up to `limit` (or all of it), and the stream itself, still whole. */
async function readUpTo(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<{ complete: boolean; length: number; stream: ReadableStream<Uint8Array> }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let complete = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        complete = true;
        break;
      }
      chunks.push(value);
      length += value.length;
      if (length > limit) break;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = chunks.shift();
      if (next !== undefined) return c.enqueue(next);
      if (complete) return c.close();
      const { done, value } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { complete, length, stream };
}

/** Reads `body` to its end, keeping nothing, and returns its length. */
async function countBytes(body: ReadableStream<Uint8Array>): Promise<number> {
  const reader = body.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.length;
  }
}

/** `body`, failing with `Corrupt` when it delivers more or fewer than `size` bytes. */
function exactLength(
  body: ReadableStream<Uint8Array>,
  size: number,
  key: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = 0;
  const wrong = () =>
    new TidemarkError(
      "Corrupt",
      `http get ${JSON.stringify(key)}: the body is not the ${size} bytes the server declared (${seen > size ? "more" : `only ${seen}`}; re-compressed by a proxy?)`,
      { key },
    );
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { done, value } = await reader.read();
      if (done) {
        if (seen !== size) c.error(wrong());
        else c.close();
        return;
      }
      seen += value.length;
      if (seen > size) {
        c.error(wrong());
        await reader.cancel().catch(() => {});
        return;
      }
      c.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

// A network error message could quote the URL (and a presigned URL's query).
const SCRUB_URLS = makeScrubber([], { urls: true });
