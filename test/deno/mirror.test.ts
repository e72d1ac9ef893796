/**
 * The mirror suite under Deno: memory (with the crash-point sweep) and, when
 * RGW is running, two RGW buckets through S3Store. Plus one test with Deno's
 * op and resource sanitizers on: a shut-down Mirror leaves no timer behind.
 */
import assert from "node:assert/strict";
import { MemoryStore, Mirror } from "../../src/index.ts";
import { mirrorContract } from "../contract/mirror.contract.ts";
import { bucketMirrorContract } from "../support/bucket-mirror.ts";
import { Primary } from "../support/mirror-fixture.ts";
import { rgwConfig } from "../support/rgw.ts";
import { denoEnv, denoHarness } from "./harness.ts";

declare const Deno: {
  test(def: {
    name: string;
    fn: () => Promise<void>;
    sanitizeOps?: boolean;
    sanitizeResources?: boolean;
  }): void;
};

mirrorContract(
  denoHarness("mirror on MemoryStore"),
  () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
  { exhaustive: true },
);

Deno.test({
  name: "mirror > a started, then shut-down mirror leaves no timers or ops behind (sanitizers on)",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    await (await Primary.open(source)).commitMany(2, 2);
    const m = new Mirror({ source, target, pollIntervalMs: 3_600_000 });
    m.start();
    assert.equal(await m.awaitMirror(2, { timeoutMs: 5_000 }), 2);
    await m.shutdown();
    await m.shutdown();
  },
});

const cfg = rgwConfig(denoEnv);
if (cfg) bucketMirrorContract(denoHarness("mirror between two RGW buckets"), cfg);
