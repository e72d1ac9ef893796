import { TidemarkError } from "../errors.ts";
import { discardBody } from "./body.ts";
import {
  type Body,
  copyMembers,
  type GetOptions,
  type ListOptions,
  type ObjectMeta,
  type ObjectStore,
  type PutOptions,
  storeId,
  wrapperOf,
} from "./types.ts";

/**
 * A view of `store` under `prefix`: every key is stored as `prefix + key`, and
 * listings strip it again. A non-empty prefix gets a trailing `/` if it lacks one.
 */
export function prefixed(store: ObjectStore, prefix: string): ObjectStore {
  if (prefix.startsWith("/")) {
    throw new TidemarkError("InvalidArgument", "a store prefix must not start with '/'");
  }
  const p = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const strip = <T extends ObjectMeta>(m: T): T => ({ ...m, key: m.key.slice(p.length) });
  // Keys are validated by the inner store on the full key; an empty relative
  // key must still be refused, or it would name the prefix itself.
  const full = (key: string): string => {
    if (key === "") throw new TidemarkError("InvalidArgument", "object key must be a non-empty string");
    return p + key;
  };
  return {
    ...wrapperOf(store),
    ...copyMembers(store, full),
    name: p ? `${store.name}/${p.slice(0, -1)}` : store.name,
    id: p ? `${storeId(store)}/${p.slice(0, -1)}` : storeId(store),
    get: async (key: string, opts?: GetOptions) => strip(await store.get(full(key), opts)),
    head: async (key: string) => strip(await store.head(full(key))),
    put: async (key: string, body: Body, opts?: PutOptions) => {
      let k: string;
      try {
        k = full(key);
      } catch (e) {
        discardBody(body); // refused before the inner store could own the stream
        throw e;
      }
      return store.put(k, body, opts);
    },
    delete: async (key: string) => store.delete(full(key)),
    deleteMany: async (keys) =>
      store.deleteMany(
        (async function* () {
          for await (const k of keys) yield full(k);
        })(),
      ),
    list: (listPrefix: string, opts?: ListOptions) =>
      (async function* () {
        const inner: ListOptions = {};
        if (opts?.delimiter !== undefined) inner.delimiter = opts.delimiter;
        if (opts?.startAfter !== undefined) inner.startAfter = p + opts.startAfter;
        for await (const m of store.list(p + listPrefix, inner)) yield strip(m);
      })(),
  };
}
