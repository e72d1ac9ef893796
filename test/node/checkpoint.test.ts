import { describe, it } from "vitest";
import { MemoryStore } from "../../src/index.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import type { Harness } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe("CheckpointStore on MemoryStore", () => {
  checkpointContract(vitestHarness, () => new MemoryStore());
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("CheckpointStore on S3Store (Ceph RGW)", () => {
  // Each test works under its own random prefix of the shared bucket.
  checkpointContract(vitestHarness, () => new S3Store({ ...rgw!, prefix: "checkpoint" }), {
    slowTimeoutMs: 180_000,
  });
});
