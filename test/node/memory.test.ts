import assert from "node:assert/strict";
import { describe, it } from "vitest";
import type { TidemarkError } from "../../src/errors.ts";
import { MemoryStore, prefixed, retrying } from "../../src/index.ts";
import { streamOf } from "../../src/store/body.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { assertRejectsOption, BAD_VALUES, type Harness } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe("MemoryStore contract", () => {
  objectStoreContract(vitestHarness, () => new MemoryStore());
});

describe("prefixed(MemoryStore) contract", () => {
  objectStoreContract(vitestHarness, () => prefixed(new MemoryStore(), "tenant-a/tables"), {
    maxKeyBytes: 1024 - "tenant-a/tables/".length,
  });
});

describe("retrying(MemoryStore) contract", () => {
  objectStoreContract(vitestHarness, () => retrying(new MemoryStore()));
});

describe("numeric options are validated", () => {
  const { number: BAD, count: BAD_COUNT } = BAD_VALUES;

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
