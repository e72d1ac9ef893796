/**
 * `S3Store`'s options, S3's limits, and the settings a store resolves them to
 * (validated once, in the constructor).
 *
 * @module
 */
import { TidemarkError } from "../../errors.ts";
import { numberOption } from "../../options.ts";
import { KeyPrefix } from "../keys.ts";
import { makeScrubber } from "../redact.ts";
import { type RetryPolicy, resolvePolicy } from "../retry.ts";
import { type S3Signer, type SigningKey, webCryptoSigner } from "../signer.ts";
import type { FetchLike } from "../transport.ts";
import { fetchTransport, type HttpTransport } from "../transport.ts";
import { defaultPathStyle, parseS3Endpoint } from "./vendor.ts";

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last). */
const MIN_PART_SIZE = 5 * MiB;
/** S3's largest single PUT (5 GiB). */
export const MAX_SINGLE_PUT = 5 * 1024 * MiB;
/** S3's largest part (5 GiB). https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** S3's most parts per upload. */
export const MAX_PARTS = 10_000;
/** DeleteObjects takes at most 1,000 keys. */
export const DELETE_BATCH = 1000;

/** Options of `S3Store`. */
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
   * chunked, which S3 refuses with 411: give `nodeHttpTransport()` from
   * `tidemark/node` there to stream). When false, a stream body is read
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
  /**
   * Whether the bucket honours `If-Match` (default true). False for a bucket
   * that does not: Ceph RGW 16 refuses `If-Match` on a versioned bucket (one
   * with Object Lock) even with the current etag (measured; it also ignores
   * `If-None-Match: *` there). The store then declares no
   * `compareAndSwap` capability, and tidemark's pointers (low_water, the
   * retention boundary) are replaced by an overwrite and read back, which is
   * safe for one writer.
   */
  compareAndSwap?: boolean;
}

/** What an `S3Store` runs with: its options checked, defaults filled in. */
export interface S3Settings {
  endpoint: URL;
  bucket: string;
  prefix: KeyPrefix;
  pathStyle: boolean;
  transport: HttpTransport;
  signer: S3Signer;
  signing: SigningKey;
  retry: Required<RetryPolicy>;
  scrub: (s: string) => string;
  multipartThreshold: number;
  partSize: number;
  multipartConcurrency: number;
  maxKeys: number;
  streaming: boolean;
  serverSideCopy: "auto" | "off";
  compareAndSwap: boolean;
}

/**
 * Checks `opts` and fills in defaults.
 *
 * @throws TidemarkError `InvalidArgument` for a malformed endpoint, an empty
 *   bucket or region, missing credentials, a bad prefix, or a numeric option
 *   outside its range (naming it).
 */
export function s3Settings(opts: S3StoreOptions): S3Settings {
  const endpoint = parseS3Endpoint(opts.endpoint, "S3Store endpoint");
  if (!opts.bucket) throw new TidemarkError("InvalidArgument", "S3Store needs a bucket");
  if (!opts.region)
    throw new TidemarkError("InvalidArgument", "S3Store needs a region (e.g. us-east-1, auto)");
  // Typically an unset environment variable; a signer would throw a bare
  // TypeError for undefined and sign with an empty key for "".
  if (typeof opts.accessKeyId !== "string" || opts.accessKeyId === "")
    throw new TidemarkError("InvalidArgument", "S3Store needs an accessKeyId");
  if (typeof opts.secretAccessKey !== "string" || opts.secretAccessKey === "")
    throw new TidemarkError("InvalidArgument", "S3Store needs a secretAccessKey");
  if (opts.serverSideCopy !== undefined && opts.serverSideCopy !== "auto" && opts.serverSideCopy !== "off") {
    throw new TidemarkError("InvalidArgument", 'serverSideCopy must be "auto" or "off"');
  }
  if (opts.compareAndSwap !== undefined && typeof opts.compareAndSwap !== "boolean") {
    throw new TidemarkError("InvalidArgument", "compareAndSwap must be true or false");
  }
  // Signers guess service and region from AWS/R2 host names only; any other
  // host (Ceph, MinIO, loopback) would be signed for service "" and
  // "us-east-1": both are always given.
  const signing: SigningKey = {
    accessKeyId: opts.accessKeyId,
    secretAccessKey: opts.secretAccessKey,
    service: "s3",
    region: opts.region,
  };
  if (opts.sessionToken !== undefined) signing.sessionToken = opts.sessionToken;
  return {
    endpoint,
    bucket: opts.bucket,
    prefix: new KeyPrefix(opts.prefix ?? ""),
    pathStyle: opts.forcePathStyle ?? defaultPathStyle(endpoint, opts.bucket),
    transport: opts.transport ?? fetchTransport(opts.fetch),
    signer: opts.signer ?? webCryptoSigner(),
    signing,
    retry: resolvePolicy(opts.retry), // a bad policy fails here, not at the first retry
    scrub: makeScrubber([opts.secretAccessKey, opts.sessionToken, opts.accessKeyId]),
    multipartThreshold: numberOption("multipartThreshold", opts.multipartThreshold, 100 * MiB, {
      min: 0,
      max: MAX_SINGLE_PUT,
    }),
    partSize: numberOption("partSize", opts.partSize, 8 * MiB, { min: MIN_PART_SIZE, max: MAX_PART_SIZE }),
    multipartConcurrency: numberOption("multipartConcurrency", opts.multipartConcurrency, 4, { min: 1 }),
    maxKeys: numberOption("maxKeys", opts.maxKeys, 1000, { min: 1, max: 1000 }),
    streaming: opts.streamingUploads ?? (opts.transport !== undefined || !("Deno" in globalThis)),
    serverSideCopy: opts.serverSideCopy ?? "auto",
    compareAndSwap: opts.compareAndSwap ?? true,
  };
}
