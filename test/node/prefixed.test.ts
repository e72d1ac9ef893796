import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { MemoryStore } from "../../src/store/memory.ts";
import { prefixed } from "../../src/store/prefixed.ts";
import { codeOf, collect } from "../support/harness.ts";

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
