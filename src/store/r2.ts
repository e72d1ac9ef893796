import { isTidemarkError, TidemarkError } from "../errors.ts";
import { batches, DELETE_BATCH } from "./batch.ts";
import {
  bodyBytes,
  bodySize,
  checkRange,
  checkRangeArgs,
  collectBody,
  discardBody,
  emptyObjectOr,
  objectBody,
  streamOf,
} from "./body.ts";
import { toHex } from "./checksum.ts";
import { checkedKeys, compareKeys, KeyPrefix } from "./keys.ts";
import { lockNotSupported } from "./lock.ts";
import { type RetryControl, type RetryPolicy, resolvePolicy, withRetry } from "./retry.ts";
import type {
  Body,
  DeleteManyOptions,
  DeleteManyResult,
  GetOptions,
  ListOptions,
  ObjectBody,
  ObjectMeta,
  ObjectStore,
  PutOptions,
  PutResult,
  StoreCapabilities,
} from "./types.ts";
import { stripEtag } from "./wire.ts";
import { casWithRetry, createWithRetry } from "./writer-token.ts";

// The R2 binding, declared structurally: `src/` must not depend on
// @cloudflare/workers-types (the core type-checks with no ambient types), and
// a user's own binding type (or a test double) only has to match these shapes.
// https://developers.cloudflare.com/r2/api/workers/workers-api-reference/

/** The fields of an `R2Object` tidemark reads. */
export interface R2ObjectLike {
  readonly key: string;
  readonly size: number;
  /** Unquoted (`httpEtag` is the quoted form). */
  readonly etag: string;
  readonly version?: string;
  readonly uploaded?: Date;
  readonly customMetadata?: Record<string, string>;
  /** The checksums R2 keeps (SHA-256 only when a put gave one). */
  readonly checksums?: { readonly sha256?: ArrayBuffer };
}

/** An `R2ObjectBody`: an object with its body stream. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  readonly body: ReadableStream<Uint8Array>;
}

/** `R2Conditional` (etags unquoted; the binding throws a TypeError on quotes). */
export interface R2ConditionalLike {
  etagMatches?: string;
  etagDoesNotMatch?: string;
}

/** One page of `R2Bucket.list`. */
export interface R2ObjectsLike {
  objects: R2ObjectLike[];
  delimitedPrefixes: string[];
  truncated: boolean;
  cursor?: string;
}

/** The subset of the Workers `R2Bucket` binding that {@link R2Store} uses. */
export interface R2BucketLike {
  head(key: string): Promise<R2ObjectLike | null>;
  get(
    key: string,
    options?: { range?: { offset: number; length?: number } },
  ): Promise<R2ObjectBodyLike | null>;
  put(
    key: string,
    value: ReadableStream<Uint8Array> | Uint8Array | string,
    options?: {
      onlyIf?: R2ConditionalLike;
      customMetadata?: Record<string, string>;
      httpMetadata?: { contentType?: string };
      /** The body's SHA-256: R2 checks the bytes against it (error 10037) and keeps it. */
      sha256?: ArrayBuffer | Uint8Array;
    },
  ): Promise<R2ObjectLike | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: {
    prefix?: string;
    cursor?: string;
    delimiter?: string;
    startAfter?: string;
    limit?: number;
  }): Promise<R2ObjectsLike>;
}

/** Options of {@link R2Store}. */
export interface R2StoreOptions {
  /** Every key is stored under this prefix (a trailing `/` is added if missing). */
  prefix?: string;
  /** Retry policy for `Transient` errors (R2's 429 on a hot key, internal errors). */
  retry?: RetryPolicy;
  /** A name for logs and metrics (default "r2"). */
  name?: string;
}

// A `FixedLengthStream` gives a piped stream the known length the binding
// demands ("Provided readable stream must have a known length (request/response
// body or readable half of FixedLengthStream)", workerd r2-rpc.c++). It is a
// Workers global; elsewhere (a test double in Node) the body is buffered.
type FixedLengthStreamCtor = new (
  length: number,
) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

function fixedLengthStream(): FixedLengthStreamCtor | undefined {
  const g = globalThis as { FixedLengthStream?: FixedLengthStreamCtor };
  return typeof g.FixedLengthStream === "function" ? g.FixedLengthStream : undefined;
}

// R2 error codes come at the end of the message, "put: ... (10058)", and as
// `.code` on R2Error. https://developers.cloudflare.com/r2/api/error-codes/
const TRANSIENT_R2 = new Set([
  10001, // InternalError
  10043, // ServiceUnavailable
  10054, // ClientDisconnect
  10058, // TooManyRequests: more than ~1 write per second to one key
]);
const HOT_KEY = 10058;
const R2_CODES: Record<number, TidemarkError["code"]> = {
  10002: "PermissionDenied", // Unauthorized
  10003: "PermissionDenied", // AccessDenied
  10007: "NotFound", // NoSuchKey
  10006: "NotFound", // NoSuchBucket
  10031: "PreconditionFailed",
  10039: "InvalidArgument", // InvalidRange
  10012: "InvalidArgument", // MetadataTooLarge
  10020: "InvalidArgument", // InvalidObjectName
  10004: "NotSupported", // NotImplemented
  10037: "Corrupt", // BadDigest: the body is not the checksum the put gave
};

/**
 * Maps an error thrown by the binding to a `TidemarkError` (the one place R2
 * quirks are normalised). Messages come from the runtime and carry no secrets.
 */
export function mapR2Error(e: unknown, op: string, key?: string): TidemarkError {
  if (isTidemarkError(e)) return e as TidemarkError;
  const message = e instanceof Error ? e.message : String(e);
  const raw = (e as { code?: unknown }).code;
  const fromMessage = /\((\d{5})\)\s*$/.exec(message)?.[1];
  const r2code = typeof raw === "number" ? raw : fromMessage !== undefined ? Number(fromMessage) : undefined;
  const opts = { cause: e, ...(key === undefined ? {} : { key }) };
  const text = `r2 ${op} failed: ${message}`;
  if (r2code !== undefined) {
    if (TRANSIENT_R2.has(r2code)) return new TidemarkError("Transient", text, opts);
    const mapped = R2_CODES[r2code];
    if (mapped) return new TidemarkError(mapped, text, opts);
  }
  // workerd raises TypeError/RangeError for arguments it refuses (a stream of
  // unknown length, a quoted etag): caller bugs, not retryable.
  if (e instanceof TypeError || e instanceof RangeError) {
    return new TidemarkError("InvalidArgument", text, opts);
  }
  // "Network connection lost", overload, timeouts: the request may be retried.
  if (/network|connection|overloaded|timed? ?out|reset|try again/i.test(message)) {
    return new TidemarkError("Transient", text, opts);
  }
  return new TidemarkError("Unknown", text, opts);
}

/** R2's code of the error behind a mapped `TidemarkError`, if it had one. */
function r2CodeOf(e: unknown): number | undefined {
  const cause = (e as { cause?: unknown }).cause;
  const raw = (cause as { code?: unknown } | undefined)?.code;
  if (typeof raw === "number") return raw;
  const m = /\((\d{5})\)\s*$/.exec(cause instanceof Error ? cause.message : "");
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * How R2's answers are retried: R2 allows about one write per second per key
 * (10058, 429), so after one a retry waits a second; sooner only meets
 * another 429. https://developers.cloudflare.com/r2/api/error-codes/
 */
const R2_RETRY: RetryControl = { minDelayMs: (e) => (r2CodeOf(e) === HOT_KEY ? 1000 : 0) };

function toMeta(o: R2ObjectLike, key: string): ObjectMeta {
  const meta: ObjectMeta = { key, size: o.size, etag: o.etag };
  if (o.uploaded) meta.lastModified = o.uploaded;
  if (o.customMetadata) meta.metadata = { ...o.customMetadata };
  const sha256 = sha256Of(o);
  if (sha256 !== undefined) meta.sha256 = sha256;
  return meta;
}

/** The SHA-256 R2 keeps for an object (hex), if a put gave one. */
function sha256Of(o: R2ObjectLike): string | undefined {
  const d = o.checksums?.sha256;
  return d === undefined ? undefined : toHex(new Uint8Array(d));
}

/**
 * An {@link ObjectStore} over a Cloudflare R2 bucket binding (`env.MY_BUCKET`).
 *
 * - create-only puts use `onlyIf: { etagDoesNotMatch: "*" }`; the binding
 *   answers `null` (it does not throw) when the key exists → `AlreadyExists`.
 *   Every create carries a writer token, so a retried create that finds its
 *   own first attempt succeeds.
 * - `{ ifMatch }` puts use `onlyIf: { etagMatches }`; `null` (changed or
 *   missing key) → `PreconditionFailed`.
 * - `deleteMany` sends up to 1,000 keys per call; R2 reports no per-key result,
 *   so `errors` is always empty and every key counts as deleted.
 * - stream bodies need `PutOptions.size`: inside Workers they are passed through
 *   a `FixedLengthStream` (streamed, never buffered); where that global is
 *   missing they are buffered in memory. Stream puts are not retried (a stream
 *   cannot be replayed).
 * - R2 allows about one write per second per key; beyond that it answers 429
 *   (10058), mapped to `Transient` and retried under `retry`.
 *
 * Throws `TidemarkError`: NotFound, AlreadyExists, PreconditionFailed,
 * InvalidArgument, PermissionDenied, Transient, Unknown.
 */
export class R2Store implements ObjectStore {
  readonly name: string;
  /** `r2:` and the name (a binding cannot tell which bucket it is bound to). */
  readonly id: string;
  readonly capabilities: Partial<StoreCapabilities> = { listPageSize: 1000, retries: true };
  readonly #bucket: R2BucketLike;
  readonly #prefix: KeyPrefix;
  readonly #retry: RetryPolicy;
  #sent = 0;

  /** Throws `InvalidArgument` for a prefix starting with `/` or a bad `retry` policy. */
  constructor(bucket: R2BucketLike, opts: R2StoreOptions = {}) {
    this.#prefix = new KeyPrefix(opts.prefix ?? "");
    this.#bucket = bucket;
    this.#retry = resolvePolicy(opts.retry); // a bad policy fails here, not at the first retry
    this.name = opts.name ?? `r2${this.#prefix.suffix}`;
    this.id = `r2:${this.name}`;
  }

  /** Calls made on the binding so far (see {@link ObjectStore.requestsSent}). */
  requestsSent(): number {
    return this.#sent;
  }

  #full(key: string): string {
    return this.#prefix.full(key);
  }

  #rel(full: string): string {
    return this.#prefix.strip(full);
  }

  #call<T>(op: string, key: string | undefined, fn: () => Promise<T>, policy = this.#retry): Promise<T> {
    return withRetry(
      async () => {
        try {
          this.#sent++;
          return await fn();
        } catch (e) {
          throw mapR2Error(e, op, key);
        }
      },
      policy,
      R2_RETRY,
    );
  }

  async get(key: string, opts: GetOptions = {}): Promise<ObjectBody> {
    const full = this.#full(key);
    const range = opts.range;
    if (range) {
      // Local checks first: workerd's messages for bad ranges vary by version.
      checkRangeArgs(range, key);
    }
    // A range from 0 to the end is the whole object; asking R2 for it would
    // fail on a zero-byte object (no byte 0 to start at).
    const r2range =
      range && !(range.offset === 0 && range.length === undefined)
        ? range.length === undefined
          ? { offset: range.offset }
          : { offset: range.offset, length: range.length }
        : undefined;
    let o: R2ObjectBodyLike | null;
    try {
      o = await this.#call("get", key, () =>
        this.#bucket.get(full, r2range ? { range: r2range } : undefined),
      );
    } catch (e) {
      if (!r2range) throw e;
      // A bounded range at offset 0 of an empty object fails ("Unspecified
      // error (0)" in workerd), where the contract reads it as empty.
      if (r2range.offset === 0) return emptyObjectOr(e, r2range, () => this.head(key));
      // R2 refuses a range starting past the end with InvalidRange; report it
      // as the contract's InvalidArgument with the size, like other stores.
      if (isTidemarkError(e, "InvalidArgument")) checkRange(r2range, (await this.head(key)).size, key);
      throw e;
    }
    if (!o) throw new TidemarkError("NotFound", `no object at ${JSON.stringify(key)}`, { key });
    let size = o.size;
    if (range) {
      try {
        const { start, end } = checkRange(range, o.size, key);
        size = end - start;
      } catch (e) {
        o.body.cancel().catch(() => {});
        throw e;
      }
    }
    return objectBody({ ...toMeta(o, key), size }, o.body);
  }

  async head(key: string): Promise<ObjectMeta> {
    const full = this.#full(key);
    const o = await this.#call("head", key, () => this.#bucket.head(full));
    if (!o) throw new TidemarkError("NotFound", `no object at ${JSON.stringify(key)}`, { key });
    return toMeta(o, key);
  }

  async put(key: string, body: Body, opts: PutOptions = {}): Promise<PutResult> {
    let full: string;
    let size: number;
    try {
      full = this.#full(key);
      // R2 locks by bucket rules, not per object: a locked put is never written unlocked.
      if (opts.lock !== undefined) throw lockNotSupported(this.name, key);
      size = bodySize(body, opts.size, key);
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const mode = opts.mode ?? "overwrite";
    const isStream = body instanceof ReadableStream;
    // A stream is sent once; bytes and strings may be retried.
    const policy: RetryPolicy = isStream ? { ...this.#retry, maxAttempts: 1 } : this.#retry;
    const httpMetadata = opts.contentType === undefined ? undefined : { contentType: opts.contentType };

    const attempt = async (
      metadata: Record<string, string> | undefined,
      onlyIf: R2ConditionalLike | undefined,
    ): Promise<PutResult | null> => {
      const value = await this.#streamValue(body, size, key);
      const options: Parameters<R2BucketLike["put"]>[2] = {};
      if (onlyIf) options.onlyIf = onlyIf;
      if (metadata) options.customMetadata = metadata;
      if (httpMetadata) options.httpMetadata = httpMetadata;
      // R2 takes a digest before the body only: a trailing one (a body hashed as it streams) is not recorded.
      const sha256 = typeof opts.sha256 === "function" ? (isStream ? undefined : opts.sha256()) : opts.sha256;
      if (sha256 !== undefined) options.sha256 = sha256;
      try {
        this.#sent++;
        const o = await this.#bucket.put(full, value.stream, options);
        // A refused conditional put may leave the pipe unfinished: do not wait on it.
        if (!o) return null;
        await value.done;
        const sha256 = sha256Of(o);
        return {
          etag: o.etag,
          ...(o.version ? { version: o.version } : {}),
          ...(sha256 === undefined ? {} : { sha256 }),
        };
      } catch (e) {
        // A length mismatch surfaces from the pipe into the FixedLengthStream.
        const pipeError = await value.done.then(
          () => undefined,
          (err: unknown) => err,
        );
        throw mapR2Error(pipeError ?? e, "put", key);
      }
    };

    if (mode === "create") {
      return createWithRetry(
        async (metadata) => {
          const r = await attempt(metadata, { etagDoesNotMatch: "*" });
          if (!r) {
            throw new TidemarkError("AlreadyExists", `object ${JSON.stringify(key)} already exists`, { key });
          }
          return r;
        },
        () => this.head(key),
        opts.metadata,
        policy,
        R2_RETRY,
      );
    }
    if (typeof mode === "object") {
      // The binding refuses quoted etags in R2Conditional (a TypeError): strip
      // them, as the other adapters accept both forms. An empty etag matches nothing.
      const want = stripEtag(mode.ifMatch);
      if (want === "") {
        discardBody(body);
        throw new TidemarkError("PreconditionFailed", `etag of ${JSON.stringify(key)} changed`, { key });
      }
      return casWithRetry(
        async () => {
          const r = await attempt(opts.metadata, { etagMatches: want });
          // null: the etag changed, or the key is missing (R2 does not tell which).
          if (!r) {
            throw new TidemarkError("PreconditionFailed", `etag of ${JSON.stringify(key)} did not match`, {
              key,
            });
          }
          return r;
        },
        policy,
        R2_RETRY,
      );
    }
    return withRetry(
      async () => {
        const r = await attempt(opts.metadata, undefined);
        if (!r) throw new TidemarkError("Unknown", "r2 put returned no object", { key });
        return r;
      },
      policy,
      R2_RETRY,
    );
  }

  /** The value to hand the binding for a body, and a promise of the pipe's end. */
  async #streamValue(
    body: Body,
    size: number,
    key: string,
  ): Promise<{ stream: ReadableStream<Uint8Array> | Uint8Array; done: Promise<void> }> {
    if (!(body instanceof ReadableStream)) return { stream: bodyBytes(body), done: Promise.resolve() };
    const Fixed = fixedLengthStream();
    if (!Fixed) {
      const bytes = await collectBody(body, size, key);
      return { stream: size === 0 ? streamOf(bytes) : bytes, done: Promise.resolve() };
    }
    const fixed = new Fixed(size);
    const done = body.pipeTo(fixed.writable).catch((e: unknown) => {
      throw new TidemarkError("InvalidArgument", `stream body does not match its declared size ${size}`, {
        key,
        cause: e,
      });
    });
    // Observed by the caller; avoid an unhandled rejection if put fails first.
    done.catch(() => {});
    return { stream: fixed.readable, done };
  }

  async delete(key: string): Promise<void> {
    const full = this.#full(key);
    await this.#call("delete", key, () => this.#bucket.delete(full));
  }

  /** Deletes `keys` (R2 keeps no versions: `allVersions` changes nothing). */
  async deleteMany(
    keys: AsyncIterable<string> | Iterable<string>,
    _opts?: DeleteManyOptions,
  ): Promise<DeleteManyResult> {
    const all = await checkedKeys(keys, (k) => this.#full(k));
    let deleted = 0;
    for await (const batch of batches(all, DELETE_BATCH)) {
      await this.#call("delete", undefined, () => this.#bucket.delete(batch));
      deleted += batch.length;
    }
    return { deleted, errors: [] };
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    const full = this.#prefix.fullPrefix(prefix);
    const { delimiter } = opts;
    const startAfter = opts.startAfter === undefined ? undefined : this.#prefix.value + opts.startAfter;
    let cursor: string | undefined;
    let lastPrefix: string | undefined;
    for (;;) {
      const listOpts: Parameters<R2BucketLike["list"]>[0] = { prefix: full, limit: 1000 };
      if (cursor !== undefined) listOpts.cursor = cursor;
      if (delimiter) listOpts.delimiter = delimiter;
      if (startAfter !== undefined && cursor === undefined) listOpts.startAfter = startAfter;
      const page = await this.#call("list", undefined, () => this.#bucket.list(listOpts));
      // The binding returns objects and rolled-up prefixes in two arrays; the
      // contract wants one sequence in key order. A prefix can reappear on the
      // next page, so remember the last one handed out.
      const entries: ObjectMeta[] = page.objects.map((o) => toMeta(o, this.#rel(o.key)));
      for (const p of page.delimitedPrefixes) {
        entries.push({ key: this.#rel(p), size: 0, etag: "", isPrefix: true });
      }
      entries.sort((a, b) => compareKeys(a.key, b.key));
      for (const m of entries) {
        if (m.isPrefix) {
          if (m.key === lastPrefix) continue;
          lastPrefix = m.key;
        }
        yield m;
      }
      if (!page.truncated || page.cursor === undefined) return;
      cursor = page.cursor;
    }
  }
}
