import { afterAll, describe, it } from "vitest";
import { MemoryStore } from "../../src/index.ts";
import { mirrorContract } from "../contract/mirror.contract.ts";
import type { Harness } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
let crashPoints = 0;

describe("mirror on MemoryStore", () => {
  mirrorContract(
    vitestHarness,
    () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
    { exhaustive: true, onCrashPoints: (n) => (crashPoints = n) },
  );
  afterAll(() => {
    if (crashPoints) console.log(`mirror crash-point sweep: ${crashPoints} crash points`);
  });
});
