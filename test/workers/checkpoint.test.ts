import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { R2Store } from "../../src/index.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import type { Harness } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe("CheckpointStore on R2Store (workerd, local R2)", () => {
  // Each test works under its own random prefix of the MIRROR bucket.
  checkpointContract(vitestHarness, () => new R2Store(env.MIRROR, { prefix: "checkpoint" }));
});
