/**
 * Multipart uploads of big overwrites: parts read from the body (a stream is
 * read part by part), `multipartConcurrency` in flight, a completion that
 * recognises its own earlier success, and an abort on failure.
 *
 * @module
 */
import { isTidemarkError } from "../../errors.ts";
import { bodyBytes, discardBody } from "../body.ts";
import { bodyFailed, bodyTooLong, bodyTooShort } from "../transport.ts";
import type { Body, ObjectMeta, PutOptions, PutResult } from "../types.ts";
import { encodeRfc3986, metadataHeaders, stripEtag } from "../wire.ts";
import { newWriterToken, WRITER_TOKEN_KEY } from "../writer-token.ts";
import type { S3Context } from "./client.ts";
import { lockedBodyHeaders, lockHeaders } from "./lock.ts";
import { MAX_PARTS } from "./settings.ts";
import { parseS3Error, parseXml, xmlChild, xmlEscape, xmlText } from "./xml.ts";

/** What a multipart upload needs from its store. */
export interface MultipartTarget extends S3Context {
  /** The stored key. */
  fullKey: string;
  /** The caller's key (messages, and the HEAD of a completion whose answer was lost). */
  key: string;
  head(key: string): Promise<ObjectMeta>;
}

/**
 * Uploads `body` (`size` bytes) in parts of `cfg.partSize` (grown to stay
 * within 10,000 parts), then completes the upload. Not create-only (S3
 * stores do not honour conditions on CompleteMultipartUpload): overwrites only.
 */
export async function putMultipart(
  t: MultipartTarget,
  body: Body,
  size: number,
  opts: PutOptions,
): Promise<PutResult> {
  const { client, cfg, fullKey, key } = t;
  const partSize = Math.max(cfg.partSize, Math.ceil(size / MAX_PARTS));
  // A token lets a retried CompleteMultipartUpload that finds the upload gone
  // (its first attempt completed it) recognise the object as its own.
  const token = newWriterToken();
  const headers: Record<string, string> = metadataHeaders(
    { ...opts.metadata, [WRITER_TOKEN_KEY]: token },
    key,
  );
  if (opts.contentType) headers["content-type"] = opts.contentType;
  if (opts.lock !== undefined) Object.assign(headers, lockHeaders(opts.lock));
  let uploadId: string;
  try {
    uploadId = await client.retrying(async () => {
      const res = await client.send({
        op: "create multipart upload",
        key,
        method: "POST",
        url: client.url(fullKey, "uploads="),
        headers,
      });
      const id = xmlText(xmlChild(parseXml(await res.text()), "InitiateMultipartUploadResult"), "UploadId");
      if (!id)
        throw client.fail({ op: "create multipart upload (no UploadId in the answer)", key }, 200, undefined);
      return id;
    });
  } catch (e) {
    discardBody(body);
    throw e;
  }
  const q = (extra: string) => `${extra}uploadId=${encodeRfc3986(uploadId)}`;
  try {
    const etags: string[] = [];
    await uploadParts(parts(body, size, partSize, key), cfg.multipartConcurrency, async (n, bytes) => {
      const res = await client.call(
        {
          op: `upload part ${n}`,
          key,
          method: "PUT",
          url: client.url(fullKey, q(`partNumber=${n}&`)),
          headers: {
            "content-length": String(bytes.length),
            // A locked upload's parts each need their Content-MD5 on AWS.
            ...(opts.lock !== undefined ? lockedBodyHeaders({}, bytes) : {}),
          },
          body: bytes,
        },
        "idempotent",
      );
      await res.discard();
      const etag = res.headers.get("etag");
      if (!etag)
        throw client.fail({ op: `upload part ${n} (no ETag in the answer)`, key }, res.status, undefined);
      etags[n - 1] = etag;
    });
    const xml = `<CompleteMultipartUpload>${etags
      .map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(e)}</ETag></Part>`)
      .join("")}</CompleteMultipartUpload>`;
    const payload = new TextEncoder().encode(xml);
    return await client.retrying(async (attempt) => {
      try {
        const res = await client.send({
          op: "complete multipart upload",
          key,
          method: "POST",
          url: client.url(fullKey, q("")),
          headers: { "content-type": "application/xml" },
          body: payload,
        });
        // CompleteMultipartUpload can answer 200 and then fail in the body.
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
        const text = await res.text().catch(() => "");
        const err = parseS3Error(text);
        if (err) throw client.fail({ op: "complete multipart upload", key }, 200, err);
        const etag = xmlText(xmlChild(parseXml(text), "CompleteMultipartUploadResult"), "ETag");
        if (etag) return { etag: stripEtag(etag) };
        if (!text.trim() || parseXml(text) === undefined) {
          // An empty or cut-off 200 body: the outcome is unknown.
          throw client.fail({ op: "complete multipart upload (truncated answer)", key }, 503, undefined);
        }
        return { etag: (await t.head(key)).etag };
      } catch (e) {
        if (attempt > 1 && isTidemarkError(e, "NotFound")) {
          const meta = await t.head(key);
          if (meta.metadata?.[WRITER_TOKEN_KEY] === token) return { etag: meta.etag };
        }
        throw e;
      }
    });
  } catch (e) {
    // Abort, so the parts do not linger (and cost) until a lifecycle rule.
    await client
      .send({ op: "abort multipart upload", key, method: "DELETE", url: client.url(fullKey, q("")) })
      .then((res) => res.discard())
      .catch(() => {});
    throw e;
  }
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
        if (total + chunk.length > size) throw bodyTooLong(size, key);
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
    if (total !== size) throw bodyTooShort(total, size, key);
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
