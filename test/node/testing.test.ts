/**
 * `tidemark/testing` itself: its assertions behave like node:assert/strict's
 * for what the contract uses, and the store contract catches a broken store
 * (a store that ignores If-None-Match fails exactly the create tests).
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { MemoryStore, TidemarkError } from "../../src/index.ts";
import {
  AssertionError,
  codeOf,
  assert as contractAssert,
  type Harness,
  isDeepEqual,
  objectStoreContract,
} from "../../src/testing/index.ts";
import { ignoringCreateOnly } from "../support/broken-stores.ts";

/** A harness that collects the contract's tests so this test can run them itself. */
function collecting(): Harness & { tests: { name: string; fn: () => Promise<void> }[] } {
  const tests: { name: string; fn: () => Promise<void> }[] = [];
  return { tests, test: (name, fn) => tests.push({ name, fn }) };
}

async function failures(h: ReturnType<typeof collecting>): Promise<string[]> {
  const failed: string[] = [];
  for (const t of h.tests) {
    try {
      await t.fn();
    } catch {
      failed.push(t.name);
    }
  }
  return failed;
}

describe("tidemark/testing", () => {
  it("isDeepEqual compares bytes, arrays, dates and plain objects structurally", () => {
    assert.equal(isDeepEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
    assert.equal(isDeepEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
    assert.equal(isDeepEqual(new Uint8Array([1]), [1]), false, "a byte array is not an array");
    assert.equal(isDeepEqual([["a", 1], { b: [true] }], [["a", 1], { b: [true] }]), true);
    assert.equal(isDeepEqual({ a: 1, b: undefined }, { a: 1 }), false);
    assert.equal(isDeepEqual(new Date(5), new Date(5)), true);
    assert.equal(isDeepEqual(Number.NaN, Number.NaN), true);
    assert.equal(isDeepEqual(0, -0), false);
  });

  it("a failed assertion is an AssertionError naming both values and the message", () => {
    const e = (() => {
      try {
        contractAssert.deepEqual([1, 2], [1, 3], "listing");
      } catch (x) {
        return x;
      }
    })();
    assert.ok(e instanceof AssertionError);
    assert.equal((e as Error).name, "AssertionError");
    assert.equal((e as Error).message, "listing: expected [1,3], got [1,2]");
    assert.throws(() => contractAssert.equal("a", "b"), /expected "b", got "a"/);
    assert.throws(() => contractAssert.ok(0, "zero"), /zero: expected a truthy value, got 0/);
    assert.throws(() => contractAssert.match("abc", /^x/), /expected "abc" to match \/\^x\//);
    assert.throws(() => contractAssert.notEqual(1, 1), /expected anything but 1/);
    contractAssert.equal(1, 1);
    contractAssert.match("abc", /b/);
  });

  it("codeOf reads the code by name or from the [Code] prefix, and fails on anything else", async () => {
    assert.equal(await codeOf(Promise.reject(new TidemarkError("NotFound", "x"))), "NotFound");
    assert.equal(await codeOf(Promise.reject(new Error("[AlreadyExists] over RPC"))), "AlreadyExists");
    await assert.rejects(codeOf(Promise.reject(new Error("plain"))), /expected a TidemarkError/);
    await assert.rejects(codeOf(Promise.resolve(1)), /expected a rejection/);
  });

  it("the store contract passes on MemoryStore, every test run by a custom harness", async () => {
    const h = collecting();
    objectStoreContract(h, () => new MemoryStore());
    assert.ok(h.tests.length >= 19, `${h.tests.length} tests`);
    assert.deepEqual(await failures(h), []);
  });

  it("the store contract fails a store that ignores If-None-Match, on exactly the create tests", async () => {
    const h = collecting();
    objectStoreContract(h, () => ignoringCreateOnly(new MemoryStore()));
    assert.deepEqual(await failures(h), [
      "create twice throws AlreadyExists and keeps the first body",
      "concurrent creates of one key: exactly one wins",
    ]);
  });
});
