import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { TidemarkError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { type R2BucketLike, R2Store } from "../../src/store/r2.ts";
import { backoffDelay, type RetryPolicy, withRetry } from "../../src/store/retry.ts";
import { retrying } from "../../src/store/retrying.ts";
import { assertRejectsOption, BAD_VALUES, codeOf } from "../support/harness.ts";

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

describe("numeric options are validated", () => {
  const { delay: BAD_DELAY } = BAD_VALUES;

  it("every RetryPolicy number is InvalidArgument naming it, when the policy is given", async () => {
    const policies: Array<[string, readonly unknown[], (v: never) => RetryPolicy]> = [
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
});
