import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { type R2BucketLike, R2Store } from "../../src/index.ts";
import { mapR2Error } from "../../src/store/r2.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { codeOf, type Harness, uniquePrefix } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

/** The MIRROR binding with its `put` replaced (to inject R2 failures around real writes). */
function withPut(put: R2BucketLike["put"]): R2BucketLike {
  return {
    head: (k) => env.MIRROR.head(k),
    get: (k, o) => env.MIRROR.get(k, o) as ReturnType<R2BucketLike["get"]>,
    delete: (k) => env.MIRROR.delete(k),
    list: (o) => env.MIRROR.list(o),
    put,
  };
}

describe("R2Store contract (workerd, local R2)", () => {
  objectStoreContract(vitestHarness, () => new R2Store(env.MIRROR));
});

describe("R2Store with a prefix contract (workerd, local R2)", () => {
  objectStoreContract(vitestHarness, () => new R2Store(env.MIRROR, { prefix: "tenant-a/tables" }), {
    maxKeyBytes: 1024 - "tenant-a/tables/".length,
  });
});

describe("R2Store specifics (workerd, local R2)", () => {
  it("a stream longer or shorter than its declared size is InvalidArgument and nothing is stored", async () => {
    const s = new R2Store(env.MIRROR);
    const p = uniquePrefix();
    const stream = (text: string) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(text));
          c.close();
        },
      });
    assert.equal(await codeOf(s.put(`${p}long`, stream("0123456789"), { size: 4 })), "InvalidArgument");
    assert.equal(await codeOf(s.put(`${p}short`, stream("01"), { size: 4 })), "InvalidArgument");
    assert.equal(await codeOf(s.head(`${p}long`)), "NotFound");
    assert.equal(await codeOf(s.head(`${p}short`)), "NotFound");
    // And a matching one streams through FixedLengthStream.
    await s.put(`${p}ok`, stream("0123"), { size: 4, mode: "create" });
    assert.equal(await (await s.get(`${p}ok`)).text(), "0123");
  });

  it("a create retried after R2's 429 recognises its own first write by the writer token", async () => {
    const p = uniquePrefix();
    let calls = 0;
    // The first put lands, but the caller sees R2's "too many writes to one key" error.
    const flaky = withPut(async (k, v, o) => {
      const r = await env.MIRROR.put(k, v, o);
      if (++calls === 1)
        throw new Error("put: Reduce your concurrent request rate for the same object. (10058)");
      return r;
    });
    const s = new R2Store(flaky, { retry: { baseDelayMs: 1 } });
    const r = await s.put(`${p}once`, "mine", { mode: "create" });
    assert.equal(calls, 2);
    // Two puts and the HEAD that found its own token: what the budget counts.
    assert.equal(s.requestsSent(), 3);
    assert.equal(r.etag, (await s.head(`${p}once`)).etag);
    // Someone else's object is still a conflict.
    assert.equal(await codeOf(s.put(`${p}once`, "theirs", { mode: "create" })), "AlreadyExists");
  });

  it("R2's 429 on a hot key (10058) waits at least a second before each retry", async () => {
    const p = uniquePrefix();
    const slept: number[] = [];
    let calls = 0;
    // R2 takes about one write per second per key: a 50 ms backoff just burns the attempts.
    const hot = withPut(async (k, v, o) => {
      if (++calls <= 2)
        throw new Error("put: Reduce your concurrent request rate for the same object. (10058)");
      return env.MIRROR.put(k, v, o);
    });
    const s = new R2Store(hot, {
      retry: {
        sleep: async (ms) => {
          slept.push(ms);
        },
      },
    });
    await s.put(`${p}low_water.txt`, "7");
    assert.equal(calls, 3);
    assert.equal(slept.length, 2);
    for (const ms of slept) assert.ok(ms >= 1000, `slept only ${ms} ms`);
  });

  it("a compare-and-swap whose answer was lost is Transient, not PreconditionFailed", async () => {
    const p = uniquePrefix();
    let calls = 0;
    const lossy = withPut(async (k, v, o) => {
      const r = await env.MIRROR.put(k, v, o);
      if (o?.onlyIf && ++calls === 1) throw new Error("Network connection lost.");
      return r;
    });
    const s = new R2Store(lossy, { retry: { baseDelayMs: 1 } });
    const v1 = await s.put(`${p}c`, "1");
    // The first CAS landed; its retry fails on that very write.
    assert.equal(await codeOf(s.put(`${p}c`, "2", { mode: { ifMatch: v1.etag } })), "Transient");
    assert.equal(await (await s.get(`${p}c`)).text(), "2");
  });

  it("binding errors map to tidemark codes", () => {
    const code = (e: unknown) => mapR2Error(e, "put", "k").code;
    assert.equal(
      code(new Error("put: Reduce your concurrent request rate for the same object. (10058)")),
      "Transient",
    );
    assert.equal(
      code(new Error("get: We encountered an internal error. Please try again. (10001)")),
      "Transient",
    );
    assert.equal(code(Object.assign(new Error("head: Unauthorized"), { code: 10002 })), "PermissionDenied");
    assert.equal(
      code(new Error("put: Your metadata headers exceed the maximum allowed metadata size. (10012)")),
      "InvalidArgument",
    );
    assert.equal(code(new TypeError("Provided readable stream must have a known length")), "InvalidArgument");
    assert.equal(code(new Error("Network connection lost.")), "Transient");
    assert.equal(code(new Error("something else")), "Unknown");
    assert.match(mapR2Error(new Error("x (10058)"), "put").message, /^\[Transient\] r2 put failed/);
  });
});
