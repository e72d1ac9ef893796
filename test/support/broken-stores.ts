/**
 * Stores that break one promise of the contract, for proving that `doctor`
 * and `ensureSafeStore` notice: the kinds of bug S3-compatible stores have
 * shipped (SeaweedFS once let 3 of 3 concurrent creators win; MinIO once
 * accepted If-Match on a missing key).
 */
import type { ObjectStore, PutOptions } from "../../src/index.ts";

/** `store` with some methods replaced. */
export function override(store: ObjectStore, over: Partial<ObjectStore>): ObjectStore {
  return {
    name: over.name ?? store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    get: over.get ?? ((k, o) => store.get(k, o)),
    head: over.head ?? ((k) => store.head(k)),
    put: over.put ?? ((k, b, o) => store.put(k, b, o)),
    delete: over.delete ?? ((k) => store.delete(k)),
    deleteMany: over.deleteMany ?? ((ks, o) => store.deleteMany(ks, o)),
    list: over.list ?? ((p, o) => store.list(p, o)),
  };
}

function dropMode(opts: PutOptions | undefined, drop: (mode: PutOptions["mode"]) => boolean): PutOptions {
  const { mode, ...rest } = opts ?? {};
  return drop(mode) || mode === undefined ? rest : { ...rest, mode };
}

/** A store that ignores `If-None-Match: *`: a create-only put overwrites. */
export function ignoringCreateOnly(store: ObjectStore): ObjectStore {
  return override(store, {
    name: `${store.name} (ignores If-None-Match)`,
    put: (k, b, o) =>
      store.put(
        k,
        b,
        dropMode(o, (m) => m === "create"),
      ),
  });
}

/** A store that ignores `If-Match`: a compare-and-swap put overwrites, even a missing key. */
export function ignoringIfMatch(store: ObjectStore): ObjectStore {
  return override(store, {
    put: (k, b, o) =>
      store.put(
        k,
        b,
        dropMode(o, (m) => typeof m === "object"),
      ),
  });
}

/** A store that lists in JavaScript's UTF-16 order instead of UTF-8 byte order. */
export function utf16Listing(store: ObjectStore): ObjectStore {
  return override(store, {
    list: (p, o) =>
      (async function* () {
        const all = [];
        for await (const m of store.list(p, o)) all.push(m);
        yield* all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      })(),
  });
}
