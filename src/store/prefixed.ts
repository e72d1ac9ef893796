import { discardBody } from "./body.ts";
import { KeyPrefix } from "./keys.ts";
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
  const kp = new KeyPrefix(prefix);
  const p = kp.value;
  const strip = <T extends ObjectMeta>(m: T): T => ({ ...m, key: kp.strip(m.key) });
  const full = (key: string): string => kp.full(key);
  return {
    ...wrapperOf(store),
    ...copyMembers(store, full),
    name: `${store.name}${kp.suffix}`,
    id: `${storeId(store)}${kp.suffix}`,
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
    deleteMany: async (keys, opts) =>
      store.deleteMany(
        (async function* () {
          for await (const k of keys) yield full(k);
        })(),
        opts,
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
