import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { TidemarkError } from "../../src/errors.ts";
import { faulty } from "../../src/store/faulty.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { retrying } from "../../src/store/retrying.ts";
import { WRITER_TOKEN_KEY } from "../../src/store/writer-token.ts";
import { codeOf, collect } from "../support/harness.ts";

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
