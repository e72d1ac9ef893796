/**
 * Server-side copies: the probe that finds which header makes a CopyObject
 * create-only on an endpoint whose vendor does not document one (the
 * documented ones: `documentedCopyCondition`, vendor.ts).
 *
 * @module
 */
import { isTidemarkError } from "../../errors.ts";
import type { ObjectStore, PutResult } from "../types.ts";
import { newWriterToken } from "../writer-token.ts";

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
