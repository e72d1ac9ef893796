import { isTidemarkError } from "../errors.ts";
import { type RetryPolicy, withRetry } from "./retry.ts";
import type { ObjectMeta, PutResult } from "./types.ts";

/**
 * The user-metadata key of the writer token every create carries
 * (`x-amz-meta-tidemark-writer` on S3, custom metadata on R2).
 */
export const WRITER_TOKEN_KEY = "tidemark-writer";

/** A fresh random token (128 bits, hex). */
export function newWriterToken(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * A create-only put made safe to retry. A retried conditional PUT can be
 * answered `AlreadyExists` because its own first attempt landed and only the
 * response was lost; so every attempt carries the same writer token, and an
 * `AlreadyExists` after a failed attempt HEADs the object: a matching token
 * means the create was ours and succeeded.
 * (SlateDB does the same with its `slatedbputid` attribute.)
 *
 * @param put one attempt, with the metadata (token included) to store
 * @param head reads the object's metadata
 */
export async function createWithRetry(
  put: (metadata: Record<string, string>) => Promise<PutResult>,
  head: () => Promise<ObjectMeta>,
  metadata: Record<string, string> | undefined,
  policy: RetryPolicy | undefined,
): Promise<PutResult> {
  const token = newWriterToken();
  const withToken = { ...metadata, [WRITER_TOKEN_KEY]: token };
  return withRetry(async (attempt) => {
    try {
      return await put(withToken);
    } catch (e) {
      if (attempt > 1 && isTidemarkError(e, "AlreadyExists")) {
        const meta = await head();
        if (meta.metadata?.[WRITER_TOKEN_KEY] === token) {
          return { etag: meta.etag };
        }
      }
      throw e;
    }
  }, policy);
}
