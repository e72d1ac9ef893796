import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { MemoryStore } from "../../src/store/memory.ts";
import { metered } from "../../src/store/metered.ts";
import { collect } from "../support/harness.ts";

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
