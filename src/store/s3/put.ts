/**
 * One PUT of an object: conditions (`If-None-Match`, `If-Match`), its
 * SHA-256 as a header or, for a stream, as an aws-chunked trailer, and an
 * Object Lock's headers. Multipart uploads are `multipart.ts`; server-side
 * copies `copy.ts`.
 *
 * @module
 */
import type { PutOptions, PutResult } from "../types.ts";
import { metadataHeaders, stripEtag } from "../wire.ts";
import { awsChunked, awsChunkedLength, checksumHeaders, checksumOf, leadingDigest } from "./checksum.ts";
import type { S3Context, S3Request } from "./client.ts";
import type { S3Condition } from "./errors.ts";
import { lockedBodyHeaders, lockHeaders } from "./lock.ts";

/** One PUT of `body`, retried as `retry` says (a create is retried by its caller). */
export async function putOnce(
  s3: S3Context,
  key: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  size: number,
  opts: PutOptions,
  metadata: Record<string, string> | undefined,
  condition: S3Condition | undefined,
  mode?: { ifMatch: string },
  retry: "idempotent" | "cas" | "once" = "once",
): Promise<PutResult> {
  const { client, cfg } = s3;
  const headers: Record<string, string> = {
    "content-length": String(size),
    ...metadataHeaders(metadata, key),
  };
  if (opts.contentType) headers["content-type"] = opts.contentType;
  if (condition === "create") headers["if-none-match"] = "*";
  // RGW 16 matches only an unquoted etag (a quoted one always fails, measured
  // on 16.2.15); AWS and R2 accept it unquoted too.
  if (mode) headers["if-match"] = stripEtag(mode.ifMatch);
  // Checksums (opts.sha256 is set only where the endpoint records them): a
  // digest known up front is a header; one known at the end a trailer.
  const leading = leadingDigest(opts.sha256);
  if (leading) Object.assign(headers, checksumHeaders(leading));
  else if (typeof opts.sha256 === "function" && body instanceof ReadableStream) {
    body = awsChunked(body, size, opts.sha256);
    Object.assign(headers, {
      "content-length": String(awsChunkedLength(size)),
      "content-encoding": "aws-chunked",
      "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      "x-amz-decoded-content-length": String(size),
      "x-amz-sdk-checksum-algorithm": "SHA256",
      "x-amz-trailer": "x-amz-checksum-sha256",
    });
  }
  // After the checksum: a locked body (always in memory) that carries its
  // x-amz-checksum-sha256 already meets Object Lock's integrity requirement
  // and is sent without Content-MD5 (see lockedBodyHeaders).
  if (opts.lock !== undefined) {
    Object.assign(headers, lockHeaders(opts.lock));
    if (body instanceof Uint8Array) Object.assign(headers, lockedBodyHeaders(headers, body));
  }
  const r: S3Request = {
    op: "put",
    key,
    method: "PUT",
    url: client.url(cfg.prefix.full(key)),
    headers,
    body,
  };
  if (condition) r.condition = condition;
  const res = await client.call(r, retry);
  await res.discard();
  const sha256 = opts.sha256 === undefined ? undefined : checksumOf(res.headers);
  return sha256 === undefined
    ? { etag: stripEtag(res.headers.get("etag")) }
    : { etag: stripEtag(res.headers.get("etag")), sha256 };
}
