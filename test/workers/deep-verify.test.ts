/**
 * Deep verification on R2 inside workerd: the shared suite
 * (test/contract/deep-verify.contract.ts) on R2Store, the table written by
 * the suite's own Parquet writer (hyparquet-writer: no Python here).
 */
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { R2Store } from "../../src/index.ts";
import { deepVerifyContract } from "../contract/deep-verify.contract.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const r2 = (bucket: "SOURCE" | "MIRROR") => () => new R2Store(env[bucket], { prefix: uniquePrefix("deep") });

describe("deep verification on R2Store (workerd, local R2)", () => {
  deepVerifyContract(vitestHarness, () => ({
    source: r2("SOURCE")(),
    target: r2("MIRROR")(),
    another: r2("MIRROR"),
  }));
});
