import { describe, it } from "vitest";
import { MemoryStore, prefixed, retrying } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import type { Harness } from "../support/harness.ts";

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
