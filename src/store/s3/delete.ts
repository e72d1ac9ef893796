/**
 * DeleteObjects: one batch of keys (or of versions), and every version of
 * keys in a versioned bucket. `S3Store.deleteMany` drives them.
 *
 * @module
 */
import { md5 } from "@noble/hashes/legacy.js";
import { compareKeys } from "../keys.ts";
import type { DeleteError, DeleteManyResult } from "../types.ts";
import { base64 } from "../wire.ts";
import type { S3Context } from "./client.ts";
import { listVersions } from "./lock.ts";
import { DELETE_BATCH } from "./settings.ts";
import { deleteRequestXml, parseDeleteResult, parseS3Error } from "./xml.ts";

/**
 * Deletes every version and delete marker of `keys` (a versioned bucket):
 * their versions listed in key order (`listVersions`), then DeleteObjects
 * naming each version, 1,000 per request. A key counts as deleted when
 * none of its versions was refused (an Object Lock retention not yet
 * released is refused per version); a key without versions was absent.
 */
export async function deleteVersions(s3: S3Context, keys: string[]): Promise<DeleteManyResult> {
  const { client, cfg } = s3;
  const prefix = cfg.prefix;
  const sorted = [...new Set(keys)].sort(compareKeys);
  const refused = new Map<string, DeleteError>();
  for (let at = 0; at < sorted.length; at += DELETE_BATCH) {
    const batch = sorted.slice(at, at + DELETE_BATCH).map((k) => prefix.full(k));
    const versions = await listVersions(client, batch, cfg.maxKeys);
    for (let v = 0; v < versions.length; v += DELETE_BATCH) {
      for (const e of await deleteBatch(s3, versions.slice(v, v + DELETE_BATCH))) refused.set(e.key, e);
    }
  }
  return { deleted: sorted.length - refused.size, errors: [...refused.values()] };
}

/** One DeleteObjects of `keys` (at most 1,000, with `Content-MD5`); returns the keys the store refused. */
export async function deleteBatch(
  s3: S3Context,
  keys: Array<string | { key: string; versionId: string }>,
): Promise<DeleteError[]> {
  const { client, cfg } = s3;
  const { prefix, scrub } = cfg;
  const payload = new TextEncoder().encode(
    deleteRequestXml(keys.map((k) => (typeof k === "string" ? prefix.full(k) : k))),
  );
  const headers = { "content-type": "application/xml", "content-md5": base64(md5(payload)) };
  return client.retrying(async () => {
    const res = await client.send({
      op: "delete many",
      method: "POST",
      url: client.url(undefined, "delete="),
      headers,
      body: payload,
    });
    const text = await res.text();
    const err = parseS3Error(text);
    if (err) throw client.fail({ op: "delete many" }, res.status, err);
    const failed = parseDeleteResult(text);
    if (!failed) throw client.fail({ op: "delete many (unreadable answer)" }, 503, undefined);
    return failed.map((e) => ({
      key: e.key.startsWith(prefix.value) ? prefix.strip(e.key) : e.key,
      code: e.code,
      message: scrub(e.message),
    }));
  });
}
