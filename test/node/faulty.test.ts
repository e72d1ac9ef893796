import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { errorCodeOf, isTidemarkError } from "../../src/errors.ts";
import { objectBody } from "../../src/store/body.ts";
import { type FaultPlan, faulty } from "../../src/store/faulty.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { assertRejectsOption, BAD_VALUES, codeOf } from "../support/harness.ts";

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

describe("numeric options are validated", () => {
  const { count: BAD_COUNT, delay: BAD_DELAY, list: BAD_LIST, rate: BAD_RATE } = BAD_VALUES;
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
});
