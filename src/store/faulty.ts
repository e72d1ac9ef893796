import { type ErrorCode, TidemarkError } from "../errors.ts";
import { discardBody } from "./body.ts";
import { sleep } from "./retry.ts";
import {
  type Body,
  type GetOptions,
  type ListOptions,
  type ObjectStore,
  type PutOptions,
  wrapperOf,
} from "./types.ts";

/**
 * Which requests of a {@link faulty} store fail, and how. Requests are
 * numbered from 1 in the order they are made (a `list` or `deleteMany` call is
 * one request). With a `seed`, the random choices are deterministic.
 */
export interface FaultPlan {
  /** From this request on, every request throws `Transient` ("the process crashed"). */
  crashAt?: number;
  /** These requests fail without effect. */
  failAt?: number[];
  /** Fraction of requests that fail without effect. */
  failRate?: number;
  /** Code of the injected failures (default `Transient`). */
  code?: ErrorCode;
  /** These requests take effect, but the caller gets `Transient` (a lost response). */
  lostResponseAt?: number[];
  /** Fraction of requests whose response is lost after the effect. */
  lostResponseRate?: number;
  /** Only these kinds of request are eligible for rate-based faults (default: all). */
  kinds?: FaultKind[];
  /** Latency added to every request, in ms. */
  latencyMs?: number;
  /** Seed of the random choices (default: a random seed). */
  seed?: number;
}

/** The request kinds a {@link FaultPlan} can target. */
export type FaultKind = "get" | "head" | "put" | "create" | "delete" | "deleteMany" | "list";

/** A store with injected faults; see {@link faulty}. */
export interface FaultyStore extends ObjectStore {
  /** Requests made so far (the next one is number `requests() + 1`). */
  requests(): number;
  /** Faults injected so far. */
  injected(): number;
}

/** mulberry32: a small seeded PRNG, enough for fault schedules. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Wraps `store` and injects errors, latency, lost responses and crashes at
 * chosen request numbers: the basis of tidemark's fault tests, offered to
 * users for theirs.
 */
export function faulty(store: ObjectStore, plan: FaultPlan): FaultyStore {
  const random = seededRandom(plan.seed ?? Math.floor(Math.random() * 2 ** 32));
  const failAt = new Set(plan.failAt);
  const lostAt = new Set(plan.lostResponseAt);
  let n = 0;
  let injected = 0;

  // Decides the fate of the next request, before it is made.
  const begin = async (kind: FaultKind, key: string): Promise<"ok" | "lose"> => {
    const i = ++n;
    if (plan.latencyMs) await sleep(plan.latencyMs);
    const eligible = !plan.kinds || plan.kinds.includes(kind);
    if (plan.crashAt !== undefined && i >= plan.crashAt) {
      injected++;
      throw new TidemarkError("Transient", `injected crash at request ${i} (${kind})`, { key });
    }
    if (failAt.has(i) || (eligible && plan.failRate && random() < plan.failRate)) {
      injected++;
      const code = plan.code ?? "Transient";
      throw new TidemarkError(code, `injected failure at request ${i} (${kind})`, { key });
    }
    if (lostAt.has(i) || (eligible && plan.lostResponseRate && random() < plan.lostResponseRate)) {
      return "lose";
    }
    return "ok";
  };
  const run = async <T>(kind: FaultKind, key: string, op: () => Promise<T>): Promise<T> => {
    const fate = await begin(kind, key);
    const result = await op();
    if (fate === "lose") {
      injected++;
      // The caller never sees this body: cancel it, or an HTTP store's
      // connection stays checked out until garbage collection.
      const body = (result as { body?: unknown } | undefined)?.body;
      if (body instanceof ReadableStream) await body.cancel().catch(() => {});
      throw new TidemarkError("Transient", `injected lost response at request ${n} (${kind})`, { key });
    }
    return result;
  };

  return {
    ...wrapperOf(store),
    requests: () => n,
    injected: () => injected,
    get: (key: string, opts?: GetOptions) => run("get", key, () => store.get(key, opts)),
    head: (key: string) => run("head", key, () => store.head(key)),
    async put(key: string, body: Body, opts?: PutOptions) {
      try {
        return await run(opts?.mode === "create" ? "create" : "put", key, () => store.put(key, body, opts));
      } catch (e) {
        discardBody(body);
        throw e;
      }
    },
    delete: (key: string) => run("delete", key, () => store.delete(key)),
    deleteMany: (keys) => run("deleteMany", "", () => store.deleteMany(keys)),
    list(prefix: string, opts?: ListOptions) {
      return (async function* () {
        const fate = await begin("list", prefix);
        yield* store.list(prefix, opts);
        if (fate === "lose") {
          injected++;
          throw new TidemarkError("Transient", "injected lost response (list)", { key: prefix });
        }
      })();
    },
  };
}
