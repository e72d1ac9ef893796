/**
 * The cost projection (worker/cost.ts): billing classes, list prices and
 * their overrides, the monthly arithmetic, and a table's status, which
 * projects what its mirror used.
 */
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { parseStoreUrl } from "../../src/index.ts";
import { zeroRequestCounts } from "../../src/mirror/progress.ts";
import {
  billingClasses,
  LIST_PRICES,
  MONTH_SECONDS,
  monthlyCost,
  PRICE_SOURCES,
  prices,
  providerOf,
  type Usage,
  usageSince,
} from "../../worker/cost.ts";
import type { Env } from "../../worker/env.ts";

const zeroUsage = (): Usage => ({
  source: zeroRequestCounts(),
  target: zeroRequestCounts(),
  durableObject: { requests: 0, activeMs: 0, rowsWritten: 0, rowsRead: 0 },
  queueMessages: 0,
});
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

describe("cost", () => {
  it("an idle hour of a pushed R2 table projects to its list price", () => {
    // 12 polls: 2 HEADs + 1 GET on the source, 1 HEAD on the target, 2 rows written each; one cron visit.
    const u = zeroUsage();
    Object.assign(u.source, { head: 24, get: 12, readClass: 36 });
    Object.assign(u.target, { head: 12, readClass: 12 });
    u.durableObject = { requests: 13, activeMs: 600, rowsWritten: 24, rowsRead: 0 };
    const m = monthlyCost(u, 3600, { source: "r2", target: "r2" }, LIST_PRICES);
    close(m.sourceRequests, 36 * 720 * 0.36e-6);
    close(m.targetRequests, 12 * 720 * 0.36e-6);
    close(m.durableObjectRequests, 13 * 720 * 0.15e-6);
    close(m.durableObjectDuration, 0.6 * 720 * 0.128 * 12.5e-6);
    close(m.durableObjectStorage, 24 * 720 * 1e-6);
    assert.equal(m.sourceEgress, 0);
    assert.equal(m.queue, 0);
    close(
      m.total,
      m.sourceRequests +
        m.targetRequests +
        m.durableObjectRequests +
        m.durableObjectDuration +
        m.durableObjectStorage,
    );
  });

  it("an S3 source bills PUT-class and GET-class requests and egress; queue messages are 3 operations", () => {
    const u = zeroUsage();
    Object.assign(u.source, { get: 1000, head: 1000, list: 10, bytesIn: 2e9 });
    Object.assign(u.target, { put: 500, delete: 7 });
    u.queueMessages = 1e6;
    const m = monthlyCost(u, MONTH_SECONDS, { source: "s3", target: "r2" }, LIST_PRICES);
    close(m.sourceRequests, (10 * 5 + 2000 * 0.4) * 1e-6);
    close(m.sourceEgress, 2 * 0.09);
    close(m.targetRequests, 500 * 4.5e-6);
    close(m.queue, 3 * 0.4);
    assert.deepEqual(billingClasses(u.target), { write: 500, read: 0, free: 7 });
    // An http source has no known price.
    assert.equal(
      monthlyCost(u, MONTH_SECONDS, { source: "http", target: "r2" }, LIST_PRICES).sourceRequests,
      0,
    );
  });

  it("usage over a window is the difference of two readings", () => {
    const a = zeroUsage();
    const b = zeroUsage();
    a.source.get = 10;
    b.source.get = 4;
    a.durableObject.requests = 5;
    a.queueMessages = 3;
    const d = usageSince(a, b);
    assert.equal(d.source.get, 6);
    assert.equal(d.durableObject.requests, 5);
    assert.equal(d.queueMessages, 3);
  });

  it("each list price has its source, and PRICES overrides them, checked", () => {
    assert.deepEqual(Object.keys(PRICE_SOURCES).sort(), Object.keys(LIST_PRICES).sort());
    for (const url of Object.values(PRICE_SOURCES)) assert.match(url, /^https:\/\//);
    assert.deepEqual(prices({} as Env), LIST_PRICES);
    assert.equal(prices({ PRICES: '{"s3EgressPerGB": 0.05}' } as Env).s3EgressPerGB, 0.05);
    assert.equal(prices({ PRICES: { r2ClassA: 4 } } as unknown as Env).r2ClassA, 4);
    assert.throws(() => prices({ PRICES: "{" } as Env), /PRICES must be a JSON object/);
    assert.throws(() => prices({ PRICES: '{"r2classA": 1}' } as Env), /PRICES: unknown price "r2classA"/);
    assert.throws(
      () => prices({ PRICES: '{"r2ClassA": -1}' } as Env),
      /PRICES\.r2ClassA must be a number >= 0/,
    );
    assert.throws(
      () => prices({ PRICES: '{"r2ClassA": "4.5"}' } as Env),
      /PRICES\.r2ClassA must be a number/,
    );
  });

  it("R2's S3 API is billed as R2, other S3 endpoints as S3", () => {
    const p = (u: string) => providerOf(parseStoreUrl(u));
    assert.equal(p("r2://MIRROR/x"), "r2");
    assert.equal(p("s3://b/x?endpoint=https://0123abcd.r2.cloudflarestorage.com"), "r2");
    assert.equal(p("s3://b/x?region=eu-west-1"), "s3");
    assert.equal(p("s3://b/x?endpoint=http://127.0.0.1:9000"), "s3");
    assert.equal(p("https://example.com/t"), "http");
  });

  it("a bad PRICES var fails a table's setup, naming it", async () => {
    const { tableSetup } = await import("../../worker/config.ts");
    assert.throws(
      () => tableSetup({ ...env, PRICES: '{"nope": 1}' } as Env, "demo", undefined),
      /PRICES: unknown price "nope"/,
    );
  });
});
