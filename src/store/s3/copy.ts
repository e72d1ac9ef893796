/**
 * Server-side copies: CopyObject, create-only and pinned to the source's
 * etag, and the probe that finds which header makes a CopyObject create-only
 * on an endpoint whose vendor does not document one (the documented ones:
 * `documentedCopyCondition`, vendor.ts). Whether a store can copy from
 * another is `S3Store.canCopyFrom`.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import type { CopySource } from "../copy-source.ts";
import { ifExists } from "../exists.ts";
import type { ObjectLock, ObjectMeta, ObjectStore, PutOptions, PutResult } from "../types.ts";
import { metadataHeaders, stripEtag } from "../wire.ts";
import { createWithRetry, newWriterToken } from "../writer-token.ts";
import { checksumOf } from "./checksum.ts";
import type { S3Context } from "./client.ts";
import { lockHeaders } from "./lock.ts";
import { parseS3Error, parseXml, xmlChild, xmlText } from "./xml.ts";

/**
 * Probes an endpoint whose vendor is not known: copies one probe object onto
 * another existing one with `If-None-Match: *`; only a refusal that left the
 * destination as it was proves the condition is honoured (Ceph RGW 16 and
 * moto 5.2 overwrite). The probe keys are deleted afterwards. Returns the
 * header to use, or `undefined` (never copy server-side), also when the probe
 * cannot tell.
 *
 * @param copy one create-only CopyObject of `from` onto `to` with `condition`
 */
export async function probeCopyCondition(
  store: ObjectStore,
  copy: (from: string, fromEtag: string, to: string, condition: string) => Promise<PutResult>,
): Promise<string | undefined> {
  const base = `_tidemark-copy-probe/${newWriterToken()}/`;
  const [a, b] = [`${base}a`, `${base}b`];
  try {
    const made = await store.put(a, "a");
    await store.put(b, "b");
    try {
      await copy(a, made.etag, b, "if-none-match");
      return undefined;
    } catch (e) {
      if (!isTidemarkError(e, "AlreadyExists")) return undefined;
      return (await (await store.get(b)).text()) === "b" ? "if-none-match" : undefined;
    }
  } catch {
    return undefined; // cannot tell: never copy server-side
  } finally {
    await store.deleteMany([a, b]).catch(() => {});
  }
}

/** What a server-side copy needs from the store it writes into. */
export interface CopyTarget extends S3Context {
  /** The store's HEAD (a retried copy that finds its own object; a refusal told apart). */
  head(key: string): Promise<ObjectMeta>;
}

/**
 * A create-only `put` of a `copySourceBody` of an object of `from.store`
 * (an `S3Store` this store can copy from, see {@link canCopyFrom}):
 * CopyObject pinned to the source's etag (`x-amz-copy-source-if-match`),
 * with `metadata` replacing the source's. `AlreadyExists` when `key`
 * exists (a retry that finds its own copy succeeds: writer token),
 * `PreconditionFailed` when the source is no longer that version.
 */
export async function copyFrom(
  t: CopyTarget,
  from: CopySource,
  copySource: string,
  key: string,
  opts: PutOptions,
  condition: string,
  checksum = false,
): Promise<PutResult> {
  try {
    return await createWithRetry(
      (md) => copyOnce(t, key, copySource, from.etag, condition, md, opts.lock, checksum),
      () => t.head(key),
      opts.metadata,
      t.cfg.retry,
    );
  } catch (e) {
    // 412 answers both conditions: the destination exists, or the source changed.
    if (isTidemarkError(e, "AlreadyExists") && (await ifExists(t.head(key))) === undefined) {
      throw new TidemarkError(
        "PreconditionFailed",
        `s3 copy ${JSON.stringify(key)}: the source ${JSON.stringify(from.key)} is no longer etag ${from.etag}`,
        { key, cause: e },
      );
    }
    throw e;
  }
}

/** One CopyObject, create-only by `condition`, pinned to the source's etag (retried by its caller). */
export async function copyOnce(
  s3: S3Context,
  key: string,
  copySource: string,
  sourceEtag: string,
  condition: string,
  metadata: Record<string, string> | undefined,
  lock?: ObjectLock,
  checksum = false,
): Promise<PutResult> {
  const { client, cfg } = s3;
  const res = await client.send({
    op: "copy",
    key,
    method: "PUT",
    url: client.url(cfg.prefix.full(key)),
    headers: {
      "content-length": "0",
      "x-amz-copy-source": copySource,
      "x-amz-copy-source-if-match": stripEtag(sourceEtag),
      "x-amz-metadata-directive": "REPLACE",
      [condition]: "*",
      ...metadataHeaders(metadata, key),
      // The store computes the copy's checksum itself (AWS: "x-amz-checksum-algorithm").
      ...(checksum ? { "x-amz-checksum-algorithm": "SHA256" } : {}),
      ...(lock !== undefined ? lockHeaders(lock) : {}),
    },
    condition: "create",
  });
  // CopyObject can answer 200 and fail in the body.
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
  const text = await res.text();
  const err = parseS3Error(text);
  if (err) throw client.fail({ op: "copy", key, condition: "create" }, 200, err);
  const result = xmlChild(parseXml(text), "CopyObjectResult");
  const etag = xmlText(result, "ETag");
  // A cut-off answer: the outcome is unknown (a retry settles it by the writer token).
  if (!etag) throw client.fail({ op: "copy (no ETag in the answer)", key }, 503, undefined);
  const sum = checksum ? xmlText(result, "ChecksumSHA256") : undefined;
  const sha256 = sum ? checksumOf(new Headers({ "x-amz-checksum-sha256": sum })) : undefined;
  return sha256 === undefined ? { etag: stripEtag(etag) } : { etag: stripEtag(etag), sha256 };
}
