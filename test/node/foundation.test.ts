import assert from "node:assert/strict";
import { describe, it } from "vitest";
import {
  errorCodeOf,
  httpStatusOf,
  isTidemarkError,
  MemoryStore,
  metered,
  type ObjectStore,
  prefixed,
  type R2BucketLike,
  R2Store,
  type RetryPolicy,
  retrying,
  TidemarkError,
  toTidemarkError,
} from "../../src/index.ts";
import {
  backoffDelay,
  batches,
  compareKeys,
  forEachLimit,
  objectBody,
  streamOf,
  WRITER_TOKEN_KEY,
  withRetry,
} from "../../src/store/index.ts";
import { type FaultPlan, faulty } from "../../src/testing/index.ts";
import { assertRejectsOption, codeOf, collect } from "../support/harness.ts";

describe("TidemarkError", () => {
  it("prefixes the message with [Code] and is recognised by name", () => {
    const e = new TidemarkError("NotFound", 'no object at "k"', { key: "k" });
    assert.equal(e.message, '[NotFound] no object at "k"');
    assert.equal(e.name, "TidemarkError");
    assert.equal(e.code, "NotFound");
    assert.ok(isTidemarkError(e));
    assert.ok(isTidemarkError(e, "NotFound"));
    assert.ok(!isTidemarkError(e, "Transient"));
  });

  it("recognises an error that crossed RPC with only its message", () => {
    const plain = new Error("[SplitBrain] marker written by b");
    assert.equal(errorCodeOf(plain), "SplitBrain");
    assert.ok(isTidemarkError(plain, "SplitBrain"));
    const revived = toTidemarkError(plain);
    assert.equal(revived.code, "SplitBrain");
    assert.equal(revived.message, "[SplitBrain] marker written by b");
    assert.equal(toTidemarkError(new Error("boom")).code, "Unknown");
    assert.ok(!isTidemarkError(new Error("[Bogus] x")));
    assert.ok(!isTidemarkError("NotFound"));
  });

  it("maps codes to HTTP statuses (404, 409, 412, 400, 403, 501, 503, else 500)", () => {
    assert.deepEqual(
      (
        [
          "NotFound",
          "AlreadyExists",
          "SplitBrain",
          "PreconditionFailed",
          "InvalidArgument",
          "PermissionDenied",
          "NotSupported",
          "Transient",
          "Corrupt",
          "Unknown",
        ] as const
      ).map(httpStatusOf),
      [404, 409, 409, 412, 400, 403, 501, 503, 500, 500],
    );
  });
});

describe("keys", () => {
  it("compareKeys is UTF-8 byte order, not UTF-16 order", () => {
    // U+FFEF is EF BF AF in UTF-8; U+1F600 is F0 9F 98 80: the emoji sorts last in
    // UTF-8 although its UTF-16 surrogate (D83D) is below FFEF.
    assert.ok(compareKeys("\uffef", "😀") < 0);
    assert.ok(compareKeys("a", "b") < 0);
    assert.ok(compareKeys("ab", "a") > 0);
    assert.equal(compareKeys("x", "x"), 0);
  });
});

describe("withRetry", () => {
  const noSleep = { sleep: async () => {}, random: () => 0.5 };

  it("retries Transient errors and returns the first success", async () => {
    let calls = 0;
    const r = await withRetry(async () => {
      calls++;
      if (calls < 3) throw new TidemarkError("Transient", "flaky");
      return "ok";
    }, noSleep);
    assert.equal(r, "ok");
    assert.equal(calls, 3);
  });

  it("does not retry other codes", async () => {
    let calls = 0;
    const p = withRetry(async () => {
      calls++;
      throw new TidemarkError("PreconditionFailed", "lost");
    }, noSleep);
    assert.equal(await codeOf(p), "PreconditionFailed");
    assert.equal(calls, 1);
  });

  it("stops after maxAttempts and rethrows the last error", async () => {
    let calls = 0;
    const p = withRetry(
      async () => {
        calls++;
        throw new TidemarkError("Transient", `attempt ${calls}`);
      },
      { ...noSleep, maxAttempts: 4 },
    );
    await assert.rejects(p, /attempt 4/);
    assert.equal(calls, 4);
  });

  it("stops when the total time budget would be exceeded (injected clock)", async () => {
    let now = 0;
    const slept: number[] = [];
    let calls = 0;
    const p = withRetry(
      async () => {
        calls++;
        throw new TidemarkError("Transient", "down");
      },
      {
        maxAttempts: 100,
        baseDelayMs: 100,
        maxDelayMs: 1000,
        maxElapsedMs: 2500,
        random: () => 0.999,
        now: () => now,
        sleep: async (ms) => {
          slept.push(ms);
          now += ms;
        },
      },
    );
    await assert.rejects(p, /down/);
    assert.ok(now <= 2500, `elapsed ${now}`);
    assert.ok(calls >= 3 && calls < 100, `calls ${calls}`);
  });

  it("backoff is exponential and capped, with full jitter", () => {
    const p = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((r) => backoffDelay(r, p)),
      [99, 199, 399, 799, 999, 999],
    );
    assert.equal(backoffDelay(3, { ...p, random: () => 0 }), 0);
  });
});

describe("metered", () => {
  it("counts requests by kind and class, and bytes in and out", async () => {
    const m = metered(new MemoryStore());
    await m.put("a", "hello");
    await m.put("b", new Uint8Array(10));
    await (await m.get("a")).bytes();
    await m.head("b");
    await m.delete("b");
    await collect(m.list(""));
    await m.deleteMany(Array.from({ length: 2500 }, (_, i) => `k${i}`));
    const c = m.counts();
    assert.deepEqual(
      { get: c.get, head: c.head, put: c.put, delete: c.delete, list: c.list, deleteMany: c.deleteMany },
      { get: 1, head: 1, put: 2, delete: 1, list: 1, deleteMany: 3 },
    );
    assert.equal(c.bytesOut, 15);
    assert.equal(c.bytesIn, 5);
    assert.equal(c.readClass, 2);
    assert.equal(c.writeClass, 2 + 1 + 1 + 3);
    m.reset();
    assert.equal(m.counts().writeClass, 0);
  });

  it("counts one list request per 1,000 entries", async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 2001; i++) await inner.put(`k/${i}`, "");
    const m = metered(inner);
    assert.equal((await collect(m.list("k/"))).length, 2001);
    assert.equal(m.counts().list, 3);
  });
});

describe("faulty", () => {
  it("fails chosen requests without effect", async () => {
    const inner = new MemoryStore();
    const f = faulty(inner, { failAt: [2] });
    await f.put("a", "1");
    assert.equal(await codeOf(f.put("b", "2")), "Transient");
    await assert.rejects(inner.head("b"), /NotFound/);
    await f.put("c", "3");
    assert.equal(f.requests(), 3);
    assert.equal(f.injected(), 1);
  });

  it("a lost response takes effect but reports Transient", async () => {
    const inner = new MemoryStore();
    const f = faulty(inner, { lostResponseAt: [1] });
    assert.equal(await codeOf(f.put("a", "1", { mode: "create" })), "Transient");
    assert.equal(await (await inner.get("a")).text(), "1");
  });

  it("a lost get response cancels the body it drops (no leaked stream or connection)", async () => {
    const inner = new MemoryStore();
    await inner.put("a", "1");
    let cancelled = false;
    const tracked = {
      ...inner,
      name: "tracked",
      head: inner.head.bind(inner),
      put: inner.put.bind(inner),
      delete: inner.delete.bind(inner),
      deleteMany: inner.deleteMany.bind(inner),
      list: inner.list.bind(inner),
      get: async (key: string) => {
        const b = await inner.get(key);
        const body = new ReadableStream<Uint8Array>({
          cancel() {
            cancelled = true;
          },
        });
        return objectBody(b, body);
      },
    };
    const f = faulty(tracked, { lostResponseAt: [1] });
    assert.equal(await codeOf(f.get("a")), "Transient");
    assert.ok(cancelled, "the dropped body was cancelled");
  });

  it("crashAt fails every request from N on", async () => {
    const f = faulty(new MemoryStore(), { crashAt: 3 });
    await f.put("a", "1");
    await f.head("a");
    for (let i = 0; i < 5; i++) assert.equal(await codeOf(f.head("a")), "Transient");
  });

  it("a seeded failRate is deterministic and uses the given code", async () => {
    const run = async () => {
      const f = faulty(new MemoryStore(), { failRate: 0.3, seed: 42, code: "PermissionDenied" });
      const out: string[] = [];
      for (let i = 0; i < 40; i++) {
        try {
          await f.put(`k${i}`, "x");
          out.push("ok");
        } catch (e) {
          out.push(errorCodeOf(e) ?? "?");
        }
      }
      return out;
    };
    const a = await run();
    assert.deepEqual(a, await run());
    assert.ok(a.includes("PermissionDenied") && a.includes("ok"));
  });

  it("adds latency", async () => {
    const f = faulty(new MemoryStore(), { latencyMs: 30 });
    const t0 = performance.now();
    await f.put("a", "1");
    assert.ok(performance.now() - t0 >= 25);
  });
});

describe("retrying + writer token", () => {
  it("a create whose response was lost is recognised as ours on retry", async () => {
    const inner = new MemoryStore();
    const store = retrying(faulty(inner, { lostResponseAt: [1] }), { sleep: async () => {} });
    const r = await store.put("m", "mine", { mode: "create" });
    assert.equal(r.etag, (await inner.head("m")).etag);
    assert.equal((await inner.head("m")).metadata?.[WRITER_TOKEN_KEY]?.length, 32);
  });

  it("a create that lost to another writer is still AlreadyExists after a retry", async () => {
    const inner = new MemoryStore();
    await inner.put("m", "theirs", { mode: "create" });
    const store = retrying(faulty(inner, { failAt: [1] }), { sleep: async () => {} });
    assert.equal(await codeOf(store.put("m", "mine", { mode: "create" })), "AlreadyExists");
    assert.equal(await (await inner.get("m")).text(), "theirs");
  });

  it("a compare-and-swap whose response was lost is not reported as a lost race", async () => {
    const inner = new MemoryStore();
    const v1 = await inner.put("c", "1");
    const store = retrying(faulty(inner, { lostResponseAt: [1] }), { sleep: async () => {} });
    // The write landed; the retry's PreconditionFailed is its own doing. Claiming
    // "someone else changed it" would make a CAS loop apply its update twice.
    assert.equal(await codeOf(store.put("c", "2", { mode: { ifMatch: v1.etag } })), "Transient");
    assert.equal(await (await inner.get("c")).text(), "2");
    // A failure without effect is still retried to success.
    const v2 = await inner.head("c");
    const flaky = retrying(faulty(inner, { failAt: [1] }), { sleep: async () => {} });
    await flaky.put("c", "3", { mode: { ifMatch: v2.etag } });
    assert.equal(await (await inner.get("c")).text(), "3");
  });

  it("a listing that fails midway resumes after the last entry", async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 5; i++) await inner.put(`k${i}`, "");
    let lists = 0;
    const flaky = {
      ...inner,
      name: "flaky",
      get: inner.get.bind(inner),
      head: inner.head.bind(inner),
      put: inner.put.bind(inner),
      delete: inner.delete.bind(inner),
      deleteMany: inner.deleteMany.bind(inner),
      list(prefix: string, opts?: { startAfter?: string }) {
        const n = ++lists;
        return (async function* () {
          let i = 0;
          for await (const m of inner.list(prefix, opts)) {
            if (n === 1 && i === 2) throw new TidemarkError("Transient", "connection reset");
            i++;
            yield m;
          }
        })();
      },
    };
    const keys = (await collect(retrying(flaky, { sleep: async () => {} }).list(""))).map((m) => m.key);
    assert.deepEqual(keys, ["k0", "k1", "k2", "k3", "k4"]);
    assert.equal(lists, 2);
  });
});

describe("prefixed", () => {
  it("stores under the prefix and strips it from listings and results", async () => {
    const inner = new MemoryStore();
    const p = prefixed(inner, "tables/t1");
    await p.put("metadata/v1.manifest.bin", "m");
    assert.equal((await inner.head("tables/t1/metadata/v1.manifest.bin")).size, 1);
    assert.equal((await p.head("metadata/v1.manifest.bin")).key, "metadata/v1.manifest.bin");
    assert.deepEqual(
      (await collect(p.list("metadata/"))).map((m) => m.key),
      ["metadata/v1.manifest.bin"],
    );
    assert.throws(() => prefixed(inner, "/abs"), /InvalidArgument/);
  });

  it("a put refused for an empty key cancels its stream body", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    assert.equal(
      await codeOf(prefixed(new MemoryStore(), "t").put("", body, { size: 1 })),
      "InvalidArgument",
    );
    assert.ok(cancelled);
  });
});

describe("numeric options are validated", () => {
  // The same bad values for every option, plus each option's own range.
  const BAD = [Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, "8"];
  const BAD_DELAY = [...BAD, 2 ** 31]; // above setTimeout's maximum, a delay fires at once
  const BAD_COUNT = [...BAD, 0];
  const BAD_RATE = [Number.NaN, Number.POSITIVE_INFINITY, -0.1, 1.5, "0.5"];
  const BAD_LIST = [[Number.NaN], [Number.POSITIVE_INFINITY], [-1], [0], [1.5], ["8"], 3, "3"];
  // Each use makes one request, so an option validated lazily (or not at all) is caught too.
  const probe = (s: ObjectStore) =>
    s.head("k").catch((e: unknown) => (isTidemarkError(e, "NotFound") ? 0 : Promise.reject(e)));

  it("every FaultPlan number is InvalidArgument naming it", async () => {
    const use = (plan: FaultPlan) => probe(faulty(new MemoryStore(), plan));
    await assertRejectsOption("crashAt", BAD_COUNT, (v) => use({ crashAt: v }));
    await assertRejectsOption("failAt", BAD_LIST, (v) => use({ failAt: v }));
    await assertRejectsOption("lostResponseAt", BAD_LIST, (v) => use({ lostResponseAt: v }));
    await assertRejectsOption("failRate", BAD_RATE, (v) => use({ failRate: v }));
    await assertRejectsOption("lostResponseRate", BAD_RATE, (v) => use({ lostResponseRate: v }));
    await assertRejectsOption("latencyMs", BAD_DELAY, (v) => use({ latencyMs: v }));
    await assertRejectsOption("seed", [Number.NaN, Number.POSITIVE_INFINITY, 1.5, "8"], (v) =>
      use({ seed: v }),
    );
    // Not numbers, but a typo there would silently never inject anything either.
    await assertRejectsOption("kinds", ["get", ["gets"]], (v) => use({ kinds: v }));
    await assertRejectsOption("code", ["Bogus"], (v) => use({ code: v }));
    // The bounds themselves are fine: rates 0 and 1, request 1, no latency.
    const f = faulty(new MemoryStore(), {
      failRate: 0,
      lostResponseRate: 1,
      crashAt: 1e9,
      failAt: [1],
      latencyMs: 0,
      seed: -5,
    });
    assert.equal(await codeOf(f.head("k")), "Transient");
  });

  it("every RetryPolicy number is InvalidArgument naming it, when the policy is given", async () => {
    const policies: Array<[string, unknown[], (v: never) => RetryPolicy]> = [
      ["retry.maxAttempts", [Number.NaN, 0, -1, 1.5, "8"], (v) => ({ maxAttempts: v })],
      ["retry.baseDelayMs", BAD_DELAY, (v) => ({ baseDelayMs: v })],
      ["retry.maxDelayMs", BAD_DELAY, (v) => ({ maxDelayMs: v })],
      ["retry.maxElapsedMs", [Number.NaN, -1, 1.5, "8"], (v) => ({ maxElapsedMs: v })],
      ["retry.random", [0.5, "x"], (v) => ({ random: v })],
      ["retry.sleep", [0, "x"], (v) => ({ sleep: v })],
      ["retry.now", [0, "x"], (v) => ({ now: v })],
    ];
    const bucket = {} as R2BucketLike; // never called: the constructor refuses first
    for (const [name, values, policy] of policies) {
      await assertRejectsOption(name, values, (v) => withRetry(async () => 1, policy(v)));
      // Wrappers and adapters refuse it when constructed, not at their first retry.
      await assertRejectsOption(name, values, (v) => void retrying(new MemoryStore(), policy(v)));
      await assertRejectsOption(name, values, (v) => void new R2Store(bucket, { retry: policy(v) }));
    }
    await assertRejectsOption("retry.baseDelayMs", [Number.NaN], (v) => backoffDelay(1, { baseDelayMs: v }));
    // Infinity means "no limit" for attempts and total time; the clock still ends it.
    let now = 0;
    let calls = 0;
    const p = withRetry(
      async () => {
        calls++;
        throw new TidemarkError("Transient", "down");
      },
      {
        maxAttempts: Number.POSITIVE_INFINITY,
        maxElapsedMs: 1000,
        now: () => now,
        sleep: async (ms) => {
          now += ms + 100;
        },
      },
    );
    assert.equal(await codeOf(p), "Transient");
    assert.ok(calls > 1 && calls <= 11, `calls ${calls}`);
  });

  it("forEachLimit refuses a limit that would run nothing, and an Infinity or huge limit runs each item once", async () => {
    await assertRejectsOption(
      "limit",
      BAD_COUNT.filter((v) => v !== Number.POSITIVE_INFINITY),
      (v) => forEachLimit([1, 2, 3], v, async () => {}),
    );
    for (const limit of [Number.POSITIVE_INFINITY, 2 ** 32]) {
      const seen: number[] = [];
      let inFlight = 0;
      let most = 0;
      await forEachLimit([1, 2, 3], limit, async (n) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(n);
        inFlight--;
      });
      assert.deepEqual(seen.sort(), [1, 2, 3], String(limit));
      assert.equal(most, 3);
    }
    await assertRejectsOption("size", [...BAD_COUNT], (v) => collect(batches([1, 2, 3], v)));
  });

  it("a put's size and a get's range are InvalidArgument naming the field, with the key", async () => {
    const s = new MemoryStore();
    await s.put("k", "abc");
    await assertRejectsOption("size", BAD, (v) => s.put("k2", streamOf(new Uint8Array(1)), { size: v }));
    await assertRejectsOption("size", BAD, (v) => s.put("k2", "x", { size: v }));
    await assertRejectsOption("range.offset", BAD, (v) => s.get("k", { range: { offset: v } }));
    await assertRejectsOption("range.length", [...BAD_COUNT], (v) =>
      s.get("k", { range: { offset: 0, length: v } }),
    );
    const e = await s.get("k", { range: { offset: Number.NaN } }).catch((x: unknown) => x);
    assert.equal((e as TidemarkError).key, "k");
  });
});
