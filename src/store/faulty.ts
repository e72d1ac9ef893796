import { ERROR_CODES, type ErrorCode, TidemarkError } from "../errors.ts";
import { checkNumber, MAX_TIMER_MS, numberOption } from "../options.ts";
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
  /** From this request on (1-based), every request throws `Transient` ("the process crashed"). */
  crashAt?: number;
  /** These requests (1-based numbers) fail without effect. */
  failAt?: number[];
  /** Fraction of requests that fail without effect (0 to 1). */
  failRate?: number;
  /** Code of the injected failures (default `Transient`). */
  code?: ErrorCode;
  /** These requests (1-based numbers) take effect, but the caller gets `Transient` (a lost response). */
  lostResponseAt?: number[];
  /** Fraction of requests whose response is lost after the effect (0 to 1). */
  lostResponseRate?: number;
  /** Only these kinds of request are eligible for rate-based faults (default: all). */
  kinds?: FaultKind[];
  /** Latency added to every request, in ms (an integer, at most 2^31 - 1). */
  latencyMs?: number;
  /** Seed of the random choices, an integer (default: a random seed). */
  seed?: number;
}

const FAULT_KINDS = ["get", "head", "put", "create", "delete", "deleteMany", "list"] as const;

/** The request kinds a {@link FaultPlan} can target. */
export type FaultKind = (typeof FAULT_KINDS)[number];

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

/** Request numbers: a list of integers >= 1. */
function requestNumbers(name: string, value: unknown): Set<number> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) {
    throw new TidemarkError("InvalidArgument", `${name} must be an array of request numbers`);
  }
  return new Set(value.map((n, i) => checkNumber(`${name}[${i}]`, n, { min: 1 })));
}

/** A {@link FaultPlan} with defaults filled in and every field checked. */
interface CheckedPlan {
  crashAt: number | undefined;
  failAt: Set<number>;
  failRate: number;
  code: ErrorCode;
  lostAt: Set<number>;
  lostResponseRate: number;
  kinds: readonly FaultKind[] | undefined;
  latencyMs: number;
  seed: number;
}

/** `plan`, checked: every field is what its doc says, or `InvalidArgument` naming it. */
function checkPlan(plan: FaultPlan): CheckedPlan {
  const rate = { min: 0, max: 1, integer: false };
  // Not numbers, but a typo would as silently inject nothing.
  if (plan.code !== undefined && !(ERROR_CODES as readonly unknown[]).includes(plan.code)) {
    throw new TidemarkError("InvalidArgument", `code must be one of ${ERROR_CODES.join(", ")}`);
  }
  if (
    plan.kinds !== undefined &&
    (!Array.isArray(plan.kinds) || plan.kinds.some((k) => !(FAULT_KINDS as readonly unknown[]).includes(k)))
  ) {
    throw new TidemarkError("InvalidArgument", `kinds must be an array of ${FAULT_KINDS.join(", ")}`);
  }
  return {
    crashAt: plan.crashAt === undefined ? undefined : checkNumber("crashAt", plan.crashAt, { min: 1 }),
    failAt: requestNumbers("failAt", plan.failAt),
    failRate: numberOption("failRate", plan.failRate, 0, rate),
    code: plan.code ?? "Transient",
    lostAt: requestNumbers("lostResponseAt", plan.lostResponseAt),
    lostResponseRate: numberOption("lostResponseRate", plan.lostResponseRate, 0, rate),
    kinds: plan.kinds,
    latencyMs: numberOption("latencyMs", plan.latencyMs, 0, { min: 0, max: MAX_TIMER_MS }),
    seed: numberOption("seed", plan.seed, Math.floor(Math.random() * 2 ** 32)),
  };
}

/**
 * Wraps `store` and injects errors, latency, lost responses and crashes at
 * chosen request numbers: the basis of tidemark's fault tests, offered to
 * users for theirs.
 *
 * @throws TidemarkError `InvalidArgument` for a bad `plan` (naming the field):
 *   request numbers are integers >= 1, rates in [0, 1], `latencyMs` an integer
 *   in 0..2^31 - 1, `seed` an integer, `code` and `kinds` known names.
 */
export function faulty(store: ObjectStore, faultPlan: FaultPlan): FaultyStore {
  const plan = checkPlan(faultPlan);
  const random = seededRandom(plan.seed);
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
    if (plan.failAt.has(i) || (eligible && plan.failRate && random() < plan.failRate)) {
      injected++;
      throw new TidemarkError(plan.code, `injected failure at request ${i} (${kind})`, { key });
    }
    if (plan.lostAt.has(i) || (eligible && plan.lostResponseRate && random() < plan.lostResponseRate)) {
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
    // Its failures happen above any retries of the inner store: nobody below retries them.
    capabilities: { ...store.capabilities, retries: false },
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
    deleteMany: (keys, opts) => run("deleteMany", "", () => store.deleteMany(keys, opts)),
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
