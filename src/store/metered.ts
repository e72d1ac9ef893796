import { objectBody } from "./body.ts";
import {
  type Body,
  capabilitiesOf,
  type GetOptions,
  type ListOptions,
  type ObjectStore,
  type PutOptions,
  wrapperOf,
} from "./types.ts";

/** Request counts of a {@link metered} store. */
export interface RequestCounts {
  get: number;
  head: number;
  put: number;
  delete: number;
  /** List requests: one per page of `listPageSize` entries (at least one per call). */
  list: number;
  /** Bulk-delete requests: one per batch of up to 1,000 keys. */
  deleteMany: number;
  /** Bytes read from the store (bodies consumed). */
  bytesIn: number;
  /** Bytes written to the store (put bodies). */
  bytesOut: number;
  /** put + delete + list + deleteMany: the expensive class (S3 class A, R2 class A). */
  writeClass: number;
  /** get + head: the cheap class. */
  readClass: number;
}

/** A store that counts its requests; see {@link metered}. */
export interface MeteredStore extends ObjectStore {
  /** A snapshot of the counts so far. */
  counts(): RequestCounts;
  /** Zeroes the counts. */
  reset(): void;
}

const encoder = new TextEncoder();

/** Request counts of a store that has made no request yet. */
export function zeroRequestCounts(): RequestCounts {
  return {
    get: 0,
    head: 0,
    put: 0,
    delete: 0,
    list: 0,
    deleteMany: 0,
    bytesIn: 0,
    bytesOut: 0,
    writeClass: 0,
    readClass: 0,
  };
}

/** Options of {@link metered}. */
export interface MeteredOptions {
  /**
   * How `bytesIn` counts a GET: `"read"` (default) the bytes the caller
   * consumed, through a counting stream; `"requested"` the bytes the store
   * was asked for (the object, or the range), with the body passed through
   * untouched: no per-chunk transform on a copy path that moves gigabytes.
   */
  bytesIn?: "read" | "requested";
}

/**
 * Wraps `store` and counts requests by kind and class, and bytes in and out:
 * the basis of every cost figure and of `/metrics`. A request is counted when
 * it is made, whether it succeeds or not (stores bill failed requests too).
 * These are the calls made of the store; what went on the wire (retries
 * included) is the store's own `requestsSent()`, forwarded.
 */
export function metered(store: ObjectStore, opts: MeteredOptions = {}): MeteredStore {
  let c = zeroRequestCounts();
  const pageSize = Math.max(1, capabilitiesOf(store).listPageSize);
  const requested = opts.bytesIn === "requested";
  const countBytesIn = (stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> =>
    stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          c.bytesIn += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    );
  const bump = (kind: "get" | "head" | "put" | "delete" | "list" | "deleteMany", n = 1): void => {
    c[kind] += n;
    if (kind === "get" || kind === "head") c.readClass += n;
    else c.writeClass += n;
  };
  return {
    ...wrapperOf(store),
    counts: () => ({ ...c }),
    reset: () => {
      c = zeroRequestCounts();
    },
    async get(key: string, opts?: GetOptions) {
      bump("get");
      const b = await store.get(key, opts);
      if (!requested) return objectBody(b, countBytesIn(b.body));
      const from = Math.min(opts?.range?.offset ?? 0, b.size);
      c.bytesIn += Math.min(opts?.range?.length ?? b.size - from, b.size - from);
      return b;
    },
    head(key: string) {
      bump("head");
      return store.head(key);
    },
    put(key: string, body: Body, opts?: PutOptions) {
      bump("put");
      c.bytesOut +=
        typeof body === "string"
          ? encoder.encode(body).length
          : body instanceof Uint8Array
            ? body.length
            : (opts?.size ?? 0);
      return store.put(key, body, opts);
    },
    delete(key: string) {
      bump("delete");
      return store.delete(key);
    },
    async deleteMany(keys, opts) {
      let n = 0;
      const counted = (async function* () {
        for await (const k of keys) {
          if (n % 1000 === 0) bump("deleteMany");
          n++;
          yield k;
        }
      })();
      return store.deleteMany(counted, opts);
    },
    list(prefix: string, opts?: ListOptions) {
      return (async function* () {
        bump("list");
        let n = 0;
        for await (const m of store.list(prefix, opts)) {
          if (n > 0 && n % pageSize === 0) bump("list");
          n++;
          yield m;
        }
      })();
    },
  };
}
