/**
 * S3's additional checksums (`x-amz-checksum-sha256`) on `S3Store`'s puts:
 * which endpoints record them (documented, or found by a probe), the headers
 * of a put whose digest is known before the body, and the `aws-chunked` body
 * of one whose digest is known only at its end (a trailing checksum).
 *
 * What was measured (2026-12): AWS documents both forms; moto 5.2.1 records
 * the value of either form when `x-amz-sdk-checksum-algorithm` names it (it
 * does not check it) and computes one for CopyObject with
 * `x-amz-checksum-algorithm`; Ceph RGW 16 ignores the header and refuses
 * `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (400 XAmzContentSHA256Mismatch); R2
 * documents SHA-256 checksums but not trailers (probed like any other
 * endpoint). https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
 *
 * @module
 */
import { toHex } from "../checksum.ts";
import type { HeadersLike } from "../transport.ts";
import type { PutOptions } from "../types.ts";
import { base64, fromBase64 } from "../wire.ts";
import { newWriterToken } from "../writer-token.ts";

/** The response and request header of a SHA-256 checksum. */
export const CHECKSUM_HEADER = "x-amz-checksum-sha256";

/**
 * Whether an endpoint's vendor documents recording SHA-256 checksums, both
 * as a header and as an `aws-chunked` trailer: AWS S3. `undefined`: probe.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
 */
export function documentedChecksums(hostname: string): boolean | undefined {
  if (/(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname)) return true;
  return undefined;
}

/** Headers that record `digest` as the object's SHA-256 checksum (a digest known before the body). */
export function checksumHeaders(digest: Uint8Array): Record<string, string> {
  return { "x-amz-sdk-checksum-algorithm": "SHA256", [CHECKSUM_HEADER]: base64(digest) };
}

/** The SHA-256 an S3 answer says the object has (hex): a full-object checksum only, never a composite one (`...-N`). */
export function checksumOf(h: HeadersLike): string | undefined {
  const v = h.get(CHECKSUM_HEADER);
  if (!v || !/^[A-Za-z0-9+/]{43}=$/.test(v)) return undefined;
  return toHex(fromBase64(v));
}

/** The digest a put gives before its body, if it gives one then (see `PutOptions.sha256`). */
export function leadingDigest(sha256: PutOptions["sha256"]): Uint8Array | undefined {
  return sha256 instanceof Uint8Array ? sha256 : undefined;
}

/** Bytes of each `aws-chunked` chunk but the last (the AWS SDKs' 64 KiB). */
const CHUNK = 64 * 1024;

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
/** `x-amz-checksum-sha256:` + 44 base64 characters. */
const TRAILER_LENGTH = CHECKSUM_HEADER.length + 1 + 44;

/** The length of {@link awsChunked}'s encoding of `size` bytes. */
export function awsChunkedLength(size: number): number {
  let n = 0;
  for (let left = size; left > 0; left -= CHUNK) {
    const len = Math.min(CHUNK, left);
    n += len.toString(16).length + 2 + len + 2;
  }
  // "0\r\n", the trailer line, and the blank line that ends the body.
  return n + 3 + TRAILER_LENGTH + 2 + 2;
}

/**
 * `body` (`size` bytes) in the `aws-chunked` encoding of an unsigned payload
 * with a trailing checksum (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`): chunks of
 * 64 KiB (so the length is known up front, {@link awsChunkedLength}), then
 * the trailer `x-amz-checksum-sha256:<base64 of digest()>`, asked for once
 * the last byte has passed. Chunks are built from views of the body's own
 * chunks: no byte is copied. A body that ends short, runs long, or whose
 * digest is missing errors the stream (the request is aborted).
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
 */
export function awsChunked(
  body: ReadableStream<Uint8Array>,
  size: number,
  digest: () => Uint8Array | undefined,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let left = size;
  let pending: Uint8Array | undefined;
  let ended = false;
  /** Up to `n` bytes of the body: the rest of a chunk read earlier, or the next one. */
  const next = async (n: number): Promise<Uint8Array | undefined> => {
    if (pending === undefined || pending.length === 0) {
      const r = await reader.read();
      if (r.done) return undefined;
      pending = r.value;
    }
    const out = pending.length <= n ? pending : pending.subarray(0, n);
    pending = pending.length <= n ? undefined : pending.subarray(n);
    return out;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (ended) return;
        if (left === 0) {
          ended = true;
          const extra = pending?.length ? pending : (await reader.read()).value;
          const d = digest();
          if ((extra !== undefined && extra.length > 0) || d === undefined) {
            c.error(new Error(d === undefined ? "no digest for the trailer" : "the body runs past its size"));
            return;
          }
          c.enqueue(encoder.encode(`0\r\n${CHECKSUM_HEADER}:${base64(d)}\r\n\r\n`));
          c.close();
          return;
        }
        const len = Math.min(CHUNK, left);
        c.enqueue(encoder.encode(`${len.toString(16)}\r\n`));
        for (let need = len; need > 0; ) {
          const part = await next(need);
          if (part === undefined) {
            c.error(new Error(`the body ended ${left - (len - need)} bytes short`));
            return;
          }
          c.enqueue(part);
          need -= part.length;
        }
        c.enqueue(CRLF);
        left -= len;
      },
      async cancel(reason) {
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Probes whether an endpoint records a trailing SHA-256 checksum: one small
 * object put with an `aws-chunked` body and its trailer, then read back
 * with the checksum asked for; only bytes that come back intact with the
 * checksum sent prove it (a store that ignores the encoding would keep the
 * chunk framing; Ceph RGW 16 refuses the request). The probe key is deleted
 * afterwards. `false` also when the probe cannot tell.
 *
 * @param put one PUT of `bytes` with a trailing checksum; resolves with the checksum the answer echoes, if any
 * @param read the object's bytes and the checksum a read with checksum mode returns
 */
export async function probeChecksums(
  put: (key: string, bytes: Uint8Array) => Promise<unknown>,
  read: (key: string) => Promise<{ bytes: Uint8Array; sha256: string | undefined }>,
  remove: (key: string) => Promise<void>,
  digestOf: (bytes: Uint8Array) => Promise<Uint8Array>,
): Promise<boolean> {
  const key = `_tidemark-checksum-probe/${newWriterToken()}`;
  const bytes = encoder.encode(`tidemark checksum probe ${key}`);
  try {
    await put(key, bytes);
    const got = await read(key);
    return (
      got.bytes.length === bytes.length &&
      got.bytes.every((b, i) => b === bytes[i]) &&
      got.sha256 === toHex(await digestOf(bytes))
    );
  } catch {
    return false; // cannot tell: never record
  } finally {
    await remove(key).catch(() => {});
  }
}
