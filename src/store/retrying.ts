import { compareKeys } from "./keys.ts";
import { type RetryPolicy, resolvePolicy, retryDelay, withRetry } from "./retry.ts";
import {
  type Body,
  capabilitiesOf,
  type GetOptions,
  type ListOptions,
  type ObjectStore,
  type PutOptions,
  wrapperOf,
} from "./types.ts";
import { casWithRetry, createWithRetry } from "./writer-token.ts";

/**
 * Wraps `store` so every request is retried on `Transient` errors under
 * `policy` (the one retry module). Creates carry a writer token, so a create
 * whose first response was lost is recognised as ours on retry (see
 * `createWithRetry`). Stream bodies are sent once (a stream cannot be
 * replayed). A listing that fails midway resumes after the last entry it gave.
 *
 * Retries have one owner: a store that retries its own failures (its
 * capabilities say `retries`: `S3Store`, `R2Store`, and wrappers of them) is
 * returned as it is, since a second layer would multiply the attempts and hide
 * them from whoever counts requests. This wrapper is for stores that do not
 * retry (memory, the HTTP store, user adapters) and for fault tests (`faulty`
 * fails above any store's own retries).
 *
 * @throws TidemarkError `InvalidArgument` for a bad `policy` (naming the field).
 */
export function retrying(store: ObjectStore, policy: RetryPolicy = {}): ObjectStore {
  // Checked now, not at the first retry; the checked copy is what every call uses.
  const p = resolvePolicy(policy);
  if (capabilitiesOf(store).retries) return store;
  return {
    ...wrapperOf(store),
    get: (key: string, opts?: GetOptions) => withRetry(() => store.get(key, opts), p),
    head: (key: string) => withRetry(() => store.head(key), p),
    put(key: string, body: Body, opts: PutOptions = {}) {
      if (body instanceof ReadableStream) return store.put(key, body, opts);
      if (opts.mode === "create") {
        return createWithRetry(
          (metadata) => store.put(key, body, { ...opts, metadata }),
          () => store.head(key),
          opts.metadata,
          p,
        );
      }
      if (typeof opts.mode === "object") return casWithRetry(() => store.put(key, body, opts), p);
      return withRetry(() => store.put(key, body, opts), p);
    },
    delete: (key: string) => withRetry(() => store.delete(key), p),
    deleteMany: async (keys, opts) => {
      const all: string[] = [];
      for await (const k of keys) all.push(k);
      return withRetry(() => store.deleteMany(all, opts), p);
    },
    list(prefix: string, opts: ListOptions = {}) {
      return (async function* () {
        const started = p.now();
        let last: string | undefined;
        for (let failures = 1; ; failures++) {
          // After a failure, resume just after the last entry handed out.
          const attemptOpts: ListOptions = last === undefined ? opts : { ...opts, startAfter: last };
          try {
            for await (const m of store.list(prefix, attemptOpts)) {
              // A resumed delimiter listing can roll up the last prefix again.
              if (last !== undefined && compareKeys(m.key, last) <= 0) continue;
              last = m.key;
              yield m;
            }
            return;
          } catch (e) {
            const delay = retryDelay(e, failures, started, p);
            if (delay === undefined) throw e;
            await p.sleep(delay);
          }
        }
      })();
    },
  };
}
