/**
 * The store calls where "not there" is an answer, not an error (as
 * object_store's `ObjectStoreExt`): a missing object is `undefined` or
 * `false`, a create that finds the same bytes is success. Only `NotFound`
 * means missing: every other error (`Transient` above all) is thrown, never
 * taken for "not there". The one place a `NotFound` becomes an answer.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { sameBytes } from "./body.ts";
import type { GetOptions, ObjectBody, ObjectMeta, ObjectStore } from "./types.ts";

/**
 * What `p` resolves to, or `undefined` when it fails with `NotFound` (never
 * written, deleted, expired, pruned).
 *
 * @throws TidemarkError any other error of `p`.
 */
export async function ifExists<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) return undefined;
    throw e;
  }
}

/** `store.head(key)`, or `undefined` when there is no object at `key`. */
export function headIfExists(store: ObjectStore, key: string): Promise<ObjectMeta | undefined> {
  return ifExists(store.head(key));
}

/** `store.get(key, opts)`, or `undefined` when there is no object at `key`. */
export function getIfExists(
  store: ObjectStore,
  key: string,
  opts?: GetOptions,
): Promise<ObjectBody | undefined> {
  return ifExists(store.get(key, opts));
}

/** The bytes of the object at `key`, or `undefined` when there is none (one GET). */
export async function bytesIfExists(store: ObjectStore, key: string): Promise<Uint8Array | undefined> {
  return ifExists(store.get(key).then((b) => b.bytes()));
}

/** Whether there is an object at `key` (one HEAD). */
export async function exists(store: ObjectStore, key: string): Promise<boolean> {
  return (await headIfExists(store, key)) !== undefined;
}

/**
 * `p`, with a `NotFound` replaced by one that says what was missing (`message`,
 * `key`; the store's error kept as the cause).
 *
 * @throws TidemarkError `NotFound` with `message`; any other error of `p`.
 */
export async function explainNotFound<T>(p: Promise<T>, message: string, key: string): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isTidemarkError(e, "NotFound")) throw new TidemarkError("NotFound", message, { key, cause: e });
    throw e;
  }
}

/**
 * Writes `bytes` at `key` create-only. Losing the create is fine when the
 * store holds the same bytes (a racing writer of the same history, or our own
 * earlier attempt whose response was lost); different bytes are another
 * history: `SplitBrain` with `conflict(existing)` as its message. `sha256`:
 * the bytes' SHA-256, recorded with the object where the store can.
 *
 * @returns bytes written (0 when the identical object was there already).
 */
export async function createOrSame(
  store: ObjectStore,
  key: string,
  bytes: Uint8Array,
  conflict: (existing: Uint8Array) => string,
  sha256?: Uint8Array,
): Promise<number> {
  try {
    await store.put(key, bytes, {
      mode: "create",
      contentType: "application/octet-stream",
      ...(sha256 === undefined ? {} : { sha256 }),
    });
    return bytes.length;
  } catch (e) {
    if (!isTidemarkError(e, "AlreadyExists")) throw e;
    const existing = await (await store.get(key)).bytes();
    if (sameBytes(existing, bytes)) return 0;
    throw new TidemarkError("SplitBrain", conflict(existing), { key, cause: e });
  }
}
