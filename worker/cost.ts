/**
 * What a table's mirror costs: its requests per billing class (R2 class A and
 * B, S3 PUT-class and GET-class), the bytes it moves, its Durable Object's own
 * requests, duration and storage rows (counted by worker/object-meter.ts),
 * and the queue messages that woke it, projected to a month at published
 * list prices over the last one to two hours (the cost windows). The prices
 * are constants with their sources below, overridable with the `PRICES` var
 * (a JSON object of the names below to US dollars); free tiers and included
 * allowances are per account, so the projection uses the marginal list price
 * of everything.
 */
import { TidemarkError } from "../src/errors.ts";
import { checkNumber } from "../src/options.ts";
import type { RequestCounts } from "../src/store/metered.ts";
import { s3Vendor } from "../src/store/s3/vendor.ts";
import type { StoreUrl } from "../src/store/url.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";

/** List prices in US dollars. Per million requests unless the name says otherwise. */
export interface Prices {
  /** R2 Standard class A (PutObject, ListObjects, CopyObject, multipart). */
  r2ClassA: number;
  /** R2 Standard class B (GetObject, HeadObject). */
  r2ClassB: number;
  /** S3 Standard PUT, COPY, POST, LIST requests. */
  s3PutClass: number;
  /** S3 Standard GET, SELECT and all other requests (HEAD). */
  s3GetClass: number;
  /** S3 data transfer out to the internet, per GB (the first 10 TB a month). */
  s3EgressPerGB: number;
  /** Durable Object requests (RPC calls, alarm invocations). */
  doRequests: number;
  /** Durable Object duration, per million GB-s (an object is billed 128 MB while active). */
  doGBSeconds: number;
  /** Durable Object SQLite storage: rows written (each `put` key, each `setAlarm`). */
  doRowsWritten: number;
  /** Durable Object SQLite storage: rows read. */
  doRowsRead: number;
  /** Queues operations (a delivered message is 3: write, read, delete). */
  queueOperations: number;
  /** Workers Standard requests (the queue consumer's and the cron's invocations). */
  workersRequests: number;
}

/** The published list prices (Workers Paid, R2 Standard, S3 Standard in us-east-1), checked 2026-12. */
export const LIST_PRICES: Readonly<Prices> = {
  r2ClassA: 4.5,
  r2ClassB: 0.36,
  s3PutClass: 5,
  s3GetClass: 0.4,
  s3EgressPerGB: 0.09,
  doRequests: 0.15,
  doGBSeconds: 12.5,
  doRowsWritten: 1,
  doRowsRead: 0.001,
  queueOperations: 0.4,
  workersRequests: 0.3,
};

/** Where each list price is published. */
export const PRICE_SOURCES: Readonly<Record<keyof Prices, string>> = {
  r2ClassA: "https://developers.cloudflare.com/r2/pricing/",
  r2ClassB: "https://developers.cloudflare.com/r2/pricing/",
  s3PutClass: "https://aws.amazon.com/s3/pricing/",
  s3GetClass: "https://aws.amazon.com/s3/pricing/",
  s3EgressPerGB: "https://aws.amazon.com/s3/pricing/",
  doRequests: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  doGBSeconds: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  doRowsWritten: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  doRowsRead: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  queueOperations: "https://developers.cloudflare.com/queues/platform/pricing/",
  workersRequests: "https://developers.cloudflare.com/workers/platform/pricing/",
};

/** GB-s per second of an active Durable Object: billed for 128 MB whatever it uses. */
export const DO_GB = 0.128;
/** Queues operations per delivered message of up to 64 KB (write, read, delete). */
export const QUEUE_OPS_PER_MESSAGE = 3;
/** The month of a projection: 30 days, as Cloudflare's and AWS's examples count it. */
export const MONTH_SECONDS = 30 * 24 * 3600;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The prices in force: the list prices, each overridden by the `PRICES` var
 * (a JSON object, as a string or a table in wrangler.toml's `[vars]`), e.g.
 * `{"s3EgressPerGB": 0.05}` for a negotiated rate. Once per `env`
 * (worker/per-env.ts).
 *
 * @throws TidemarkError `InvalidArgument` naming the var or the price.
 */
export const prices = perEnv((env: Pick<Env, "PRICES">): Readonly<Prices> => {
  const raw = env.PRICES;
  if (raw === undefined || raw === "") return LIST_PRICES;
  let parsed: unknown = raw;
  if (typeof raw === "string") {
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
  }
  if (!isObject(parsed)) {
    throw new TidemarkError(
      "InvalidArgument",
      'PRICES must be a JSON object of prices, e.g. {"r2ClassA": 4.5}',
    );
  }
  const out: Prices = { ...LIST_PRICES };
  for (const [k, v] of Object.entries(parsed)) {
    if (!Object.hasOwn(LIST_PRICES, k)) {
      throw new TidemarkError(
        "InvalidArgument",
        `PRICES: unknown price ${JSON.stringify(k)} (known: ${Object.keys(LIST_PRICES).join(", ")})`,
      );
    }
    out[k as keyof Prices] = checkNumber(`PRICES.${k}`, v, { min: 0, integer: false });
  }
  return out;
});

/** Who bills a store's requests: R2 (a binding, or R2's S3 API), S3 (any other `s3://`), or nobody known (`http`). */
export type Provider = "r2" | "s3" | "http";

/** The provider of a store URL: `r2://`, and an `s3://` URL whose endpoint is R2's S3 API, are R2. */
export function providerOf(url: StoreUrl): Provider {
  if (url.kind === "r2") return "r2";
  if (url.kind === "s3") return url.endpoint !== undefined && s3Vendor(url.endpoint) === "r2" ? "r2" : "s3";
  return "http";
}

/** Requests of one store by billing class. */
export interface ClassCounts {
  /** R2 class A or S3 PUT-class (PUT, COPY, LIST). */
  write: number;
  /** R2 class B or S3 GET-class (GET, HEAD). */
  read: number;
  /** Free on R2 and S3 (DELETE). */
  free: number;
}

/** A store's requests by billing class: the classes R2 and S3 publish coincide for what the mirror does. */
export function billingClasses(c: RequestCounts): ClassCounts {
  return { write: c.put + c.list, read: c.get + c.head, free: c.delete + c.deleteMany };
}

/** The class names a provider publishes, for labels: R2 "class_a"/"class_b", S3 "put"/"get". */
export function classNames(p: Provider): { write: string; read: string } {
  return p === "r2" ? { write: "class_a", read: "class_b" } : { write: "put", read: "get" };
}

/** A Durable Object's own use, as it counts it. */
export interface DurableObjectUsage {
  /** Requests it received: RPC calls and alarm invocations. */
  requests: number;
  /** Wall time it was active (handling at least one request), ms. */
  activeMs: number;
  /** Storage rows it wrote (a `put` per key, a `delete` per key, a `setAlarm`). */
  rowsWritten: number;
  /** Storage rows it read. */
  rowsRead: number;
}

/** What a table's mirror used, cumulative. */
export interface Usage {
  source: RequestCounts;
  target: RequestCounts;
  durableObject: DurableObjectUsage;
  /** Queue messages (R2 event notifications) routed to the table. */
  queueMessages: number;
}

/** A projection's lines, US dollars per month. */
export interface MonthlyCost {
  sourceRequests: number;
  /** Bytes read from an S3 source leave AWS (R2 egress is free). */
  sourceEgress: number;
  targetRequests: number;
  durableObjectRequests: number;
  durableObjectDuration: number;
  durableObjectStorage: number;
  queue: number;
  total: number;
}

const PER_MILLION = 1e-6;

/** The price of one store's requests and egress. `http`: no known price (0). */
function storeCost(c: RequestCounts, p: Provider, price: Prices): { requests: number; egress: number } {
  const k = billingClasses(c);
  if (p === "r2")
    return { requests: (k.write * price.r2ClassA + k.read * price.r2ClassB) * PER_MILLION, egress: 0 };
  if (p === "s3") {
    return {
      requests: (k.write * price.s3PutClass + k.read * price.s3GetClass) * PER_MILLION,
      egress: (c.bytesIn / 1e9) * price.s3EgressPerGB,
    };
  }
  return { requests: 0, egress: 0 };
}

/** `a - b`, field by field (a usage over a window). */
export function usageSince(a: Usage, b: Usage): Usage {
  const sub = <T extends object>(x: T, y: T): T =>
    Object.fromEntries(
      Object.entries(x).map(([k, v]) => [k, (v as number) - ((y as Record<string, number>)[k] ?? 0)]),
    ) as T;
  return {
    source: sub(a.source, b.source),
    target: sub(a.target, b.target),
    durableObject: sub(a.durableObject, b.durableObject),
    queueMessages: a.queueMessages - b.queueMessages,
  };
}

/**
 * The monthly cost of using `used` every `seconds`: each line at its list
 * price, scaled to {@link MONTH_SECONDS}.
 *
 * @throws TidemarkError `InvalidArgument` unless `seconds` > 0.
 */
export function monthlyCost(
  used: Usage,
  seconds: number,
  providers: { source: Provider; target: Provider },
  price: Prices,
): MonthlyCost {
  checkNumber("seconds", seconds, { min: 0.001, integer: false });
  const scale = MONTH_SECONDS / seconds;
  const src = storeCost(used.source, providers.source, price);
  const dst = storeCost(used.target, providers.target, price);
  const d = used.durableObject;
  const lines = {
    sourceRequests: src.requests * scale,
    sourceEgress: src.egress * scale,
    targetRequests: dst.requests * scale,
    durableObjectRequests: d.requests * price.doRequests * PER_MILLION * scale,
    durableObjectDuration: (d.activeMs / 1000) * DO_GB * price.doGBSeconds * PER_MILLION * scale,
    durableObjectStorage:
      (d.rowsWritten * price.doRowsWritten + d.rowsRead * price.doRowsRead) * PER_MILLION * scale,
    queue: used.queueMessages * QUEUE_OPS_PER_MESSAGE * price.queueOperations * PER_MILLION * scale,
  };
  return { ...lines, total: Object.values(lines).reduce((a, b) => a + b, 0) };
}

/** How long one cost window runs before the next starts; a projection covers one to two of them. */
export const COST_WINDOW_MS = 3_600_000;

/** Cumulative usage at the start of a cost window. */
export interface CostMark {
  atMs: number;
  usage: Usage;
}

/**
 * The cost windows after a reading at `nowMs`: a new window starts (with
 * `usage()`, the use so far) once the last is {@link COST_WINDOW_MS} old;
 * the starts of the current and the previous window are kept, oldest first.
 */
export function advanceCostWindows(
  marks: readonly CostMark[],
  nowMs: number,
  usage: () => Usage,
): CostMark[] {
  const last = marks.at(-1);
  if (last !== undefined && nowMs - last.atMs < COST_WINDOW_MS) return [...marks];
  return [...marks, { atMs: nowMs, usage: usage() }].slice(-2);
}

/** What a table's mirror used and costs (the cost part of its status). */
export interface MirrorObjectCost {
  /** Who bills each store; `null` when the configuration is bad. */
  providers: { source: Provider; target: Provider } | null;
  /** Cumulative use since the object started counting. */
  usage: Usage;
  /** The window of the projection: from the start of the previous cost window (one to two hours) to now. */
  window: { fromMs: number; toMs: number };
  /** The window's use projected to 30 days at the prices in force, US dollars; `null` before any time passed or for a bad configuration. */
  monthlyUsd: MonthlyCost | null;
}

/**
 * The cost of `usage` (cumulative, now) since the oldest of `marks`,
 * projected to a month with `billing` (who bills each store, the prices in
 * force; `undefined` for a bad configuration: no projection).
 */
export function costSince(
  usage: Usage,
  marks: readonly CostMark[],
  billing: { providers: { source: Provider; target: Provider }; prices: Prices } | undefined,
  nowMs: number,
): MirrorObjectCost {
  const base = marks[0] ?? { atMs: nowMs, usage };
  const seconds = (nowMs - base.atMs) / 1000;
  return {
    providers: billing?.providers ?? null,
    usage,
    window: { fromMs: base.atMs, toMs: nowMs },
    monthlyUsd:
      billing && seconds > 0
        ? monthlyCost(usageSince(usage, base.usage), seconds, billing.providers, billing.prices)
        : null,
  };
}
