import { isTidemarkError } from "../errors.ts";
import { type RetryControl, type RetryPolicy, withRetry } from "./retry.ts";
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
  control: RetryControl = {},
): Promise<PutResult> {
  // A token already in `metadata` comes from an outer layer doing the same
  // (`retrying(s3Store)`): keep it, or the object would carry our token and the
  // outer retry would take its own landed create for someone else's.
  const token = metadata?.[WRITER_TOKEN_KEY] || newWriterToken();
  const withToken = { ...metadata, [WRITER_TOKEN_KEY]: token };
  return withRetry(
    async (attempt) => {
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
    },
    policy,
    control,
  );
}

/**
 * A compare-and-swap (`{ ifMatch }`) put retried on `Transient` errors. A
 * retry answered `PreconditionFailed` after a `Transient` failure cannot tell
 * a lost race from its own first attempt having landed (the etag it matched
 * is gone because of that very write): the earlier `Transient` is thrown
 * instead, so the caller re-reads rather than believing the write was refused
 * (a CAS loop would then apply its update twice). Same outcome as `S3Store`,
 * which does not retry an ambiguous CAS failure at all.
 */
export async function casWithRetry(
  put: () => Promise<PutResult>,
  policy: RetryPolicy | undefined,
  control: RetryControl = {},
): Promise<PutResult> {
  let transient: unknown;
  try {
    return await withRetry(
      async () => {
        try {
          return await put();
        } catch (e) {
          if (isTidemarkError(e, "Transient")) transient = e;
          throw e;
        }
      },
      policy,
      control,
    );
  } catch (e) {
    // PreconditionFailed is never retried, so it ends the loop: after a
    // Transient it may be our own landed write, and the caller must re-read.
    throw transient !== undefined && isTidemarkError(e, "PreconditionFailed") ? transient : e;
  }
}
