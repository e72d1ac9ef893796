/**
 * Server-side copies: which header makes a CopyObject create-only on an
 * endpoint (from its vendor's documentation, or found by a probe), and the
 * probe itself.
 *
 * @module
 */
import { isTidemarkError } from "../../errors.ts";
import type { ObjectStore, PutResult } from "../types.ts";
import { newWriterToken } from "../writer-token.ts";

/**
 * The header that makes a CopyObject create-only on an endpoint, as its
 * vendor documents it; `undefined` for an endpoint whose vendor is not known.
 *
 * - AWS S3 honours `If-None-Match: *` on CopyObject (destination; 412, or
 *   409 for a racing write): https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
 * - R2 takes its own `cf-copy-destination-if-none-match: *` (beta; standard
 *   `If-None-Match` on a copy is not documented there):
 *   https://developers.cloudflare.com/r2/api/s3/extensions/#conditional-operations-in-copyobject-for-the-destination-object
 */
export function documentedCopyCondition(hostname: string): string | undefined {
  if (/(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname)) return "if-none-match";
  if (/\.r2\.cloudflarestorage\.com$/i.test(hostname)) return "cf-copy-destination-if-none-match";
  return undefined;
}

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
