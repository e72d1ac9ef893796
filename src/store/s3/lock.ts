/**
 * S3 Object Lock and versions, in one place: the headers of a write with a
 * retention (and the `Content-MD5` S3 requires beside them), the retention
 * an object reports, whether a bucket keeps versions, and deletes that free
 * every version of a key (`ListObjectVersions`, then `DeleteObjects` naming
 * each version): on a versioned bucket, which Object Lock requires, a plain
 * delete only adds a delete marker and frees nothing.
 *
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
 *
 * @module
 */
import { md5 } from "@noble/hashes/legacy.js";
import { commonPrefix, compareKeys } from "../keys.ts";
import type { HeadersLike } from "../transport.ts";
import type { ObjectLock } from "../types.ts";
import { base64, encodeRfc3986 } from "../wire.ts";
import type { S3Client } from "./client.ts";
import { decodeS3Url, parseS3Error, parseXml, xmlChild, xmlList, xmlText } from "./xml.ts";

/**
 * The headers of a PUT (or a copy, or the start of a multipart upload) that
 * stores the object under `lock`.
 */
export function lockHeaders(lock: ObjectLock): Record<string, string> {
  return {
    "x-amz-object-lock-mode": lock.mode.toUpperCase(),
    "x-amz-object-lock-retain-until-date": lock.retainUntil.toISOString(),
  };
}

/**
 * The `Content-MD5` of a body written with a retention: AWS requires
 * `Content-MD5` or a checksum header on any upload with an Object Lock
 * retention (the PutObject reference, under `Content-MD5`; each part of such
 * a multipart upload too). Computed only for those writes, and only when no
 * `x-amz-checksum-*` header is already there. Ceph RGW 16 and moto 5.2 do
 * not require it.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
 */
export function lockedBodyHeaders(
  headers: Record<string, string>,
  bytes: Uint8Array,
): Record<string, string> {
  if (Object.keys(headers).some((h) => h.toLowerCase().startsWith("x-amz-checksum-"))) return {};
  return { "content-md5": base64(md5(bytes)) };
}

/** The retention an S3 answer's headers report (HEAD, GET), if any. */
export function lockFromHeaders(h: HeadersLike): ObjectLock | undefined {
  const mode = h.get("x-amz-object-lock-mode")?.toLowerCase();
  const until = h.get("x-amz-object-lock-retain-until-date");
  if ((mode !== "governance" && mode !== "compliance") || !until) return undefined;
  const retainUntil = new Date(until);
  return Number.isNaN(retainUntil.getTime()) ? undefined : { mode, retainUntil };
}

/**
 * Whether the bucket keeps versions (versioning `Enabled` or `Suspended`:
 * either way older versions stay until deleted by id). One
 * `GetBucketVersioning`.
 */
export async function bucketKeepsVersions(client: S3Client): Promise<boolean> {
  const text = await client.retrying(async () => {
    const res = await client.send({
      op: "get bucket versioning",
      method: "GET",
      url: client.url(undefined, "versioning="),
    });
    return res.text();
  });
  // AWS's root is VersioningConfiguration; moto 5.2 answers GetBucketVersioningResponse.
  const doc = parseXml(text);
  const root = xmlChild(doc, "VersioningConfiguration") ?? xmlChild(doc, "GetBucketVersioningResponse");
  const status = xmlText(root, "Status");
  return status === "Enabled" || status === "Suspended";
}

/** One stored version (or delete marker) of a key, the key as stored. */
export interface StoredVersion {
  key: string;
  versionId: string;
}

/**
 * Every version and delete marker of the stored keys `fullKeys` (sorted,
 * as stored): `ListObjectVersions` over their common prefix, up to past the
 * last, one page per 1,000 versions. The listing starts at the prefix, not
 * at a `key-marker` just before the first key: moto 5.2 skips keys after
 * such a marker that AWS returns.
 */
export async function listVersions(
  client: S3Client,
  fullKeys: string[],
  maxKeys: number,
): Promise<StoredVersion[]> {
  const wanted = new Set(fullKeys);
  const first = fullKeys[0] as string;
  const last = fullKeys[fullKeys.length - 1] as string;
  const prefix = commonPrefix(first, last);
  const out: StoredVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const params: [string, string][] = [
      ["encoding-type", "url"],
      ["max-keys", String(maxKeys)],
      ["prefix", prefix],
    ];
    if (keyMarker !== undefined) params.push(["key-marker", keyMarker]);
    if (versionMarker !== undefined) params.push(["version-id-marker", versionMarker]);
    params.push(["versions", ""]);
    const query = params.map(([k, v]) => `${k}=${encodeRfc3986(v)}`).join("&");
    const page = await client.retrying(async () => {
      const res = await client.send({
        op: "list object versions",
        method: "GET",
        url: client.url(undefined, query),
      });
      const text = await res.text();
      const err = parseS3Error(text);
      if (err) throw client.fail({ op: "list object versions" }, res.status, err);
      const p = parseVersionsPage(text);
      if (!p) throw client.fail({ op: "list object versions (unreadable page)" }, 503, undefined);
      return p;
    });
    let past = false;
    for (const v of page.versions) {
      if (compareKeys(v.key, last) > 0) {
        past = true;
        break;
      }
      if (wanted.has(v.key)) out.push(v);
    }
    if (past || !page.truncated || page.nextKeyMarker === undefined) return out;
    keyMarker = page.nextKeyMarker;
    versionMarker = page.nextVersionIdMarker;
  }
}

/** A `ListObjectVersions` page: versions and delete markers in key order; `undefined` when cut off. */
export function parseVersionsPage(text: string):
  | {
      versions: StoredVersion[];
      truncated: boolean;
      nextKeyMarker: string | undefined;
      nextVersionIdMarker: string | undefined;
    }
  | undefined {
  const page = xmlChild(parseXml(text), "ListVersionsResult");
  if (!page) return undefined;
  const urlEncoded = xmlText(page, "EncodingType")?.toLowerCase() === "url";
  const dec = (s: string) => (urlEncoded ? decodeS3Url(s) : s);
  const versions = [...xmlList(page, "Version"), ...xmlList(page, "DeleteMarker")]
    .map((v) => ({ key: dec(xmlText(v, "Key") ?? ""), versionId: xmlText(v, "VersionId") ?? "null" }))
    .sort((a, b) => compareKeys(a.key, b.key));
  const next = xmlText(page, "NextKeyMarker");
  return {
    versions,
    truncated: xmlText(page, "IsTruncated") === "true",
    nextKeyMarker: next ? dec(next) : undefined,
    nextVersionIdMarker: xmlText(page, "NextVersionIdMarker") || undefined,
  };
}
