/**
 * LaminarDB's state-v2 checkpoint layout on R2 inside workerd: the roots the
 * Python generator wrote, read and verified (the cases that exercise the
 * store), and the checkpoint mirror from the SOURCE bucket to MIRROR.
 */
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { R2Store } from "../../src/store/r2.ts";
import { checkpointMirrorContract, SERVICE_SKIPS } from "../contract/checkpoint-mirror.contract.ts";
import { HEADERS_ONLY_CASES, STORE_CASES, stateV2Contract } from "../contract/state-v2.contract.ts";
import bundleText from "../fixtures/laminardb-state-v2.json?raw";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { parseBundle } from "../support/state-v2-fixtures.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const bundle = parseBundle(bundleText);
const r2 = (bucket: "SOURCE" | "MIRROR") => () =>
  new R2Store(env[bucket], { prefix: uniquePrefix("checkpoints") });

describe("state-v2 on R2Store (workerd, local R2)", () => {
  stateV2Contract(vitestHarness, bundle, r2("MIRROR"), {
    cases: STORE_CASES,
    headersOnlyCases: HEADERS_ONLY_CASES,
  });
});

describe("checkpoint mirror from R2 to R2 (workerd, local R2)", () => {
  checkpointMirrorContract(
    vitestHarness,
    bundle,
    () => ({ source: r2("SOURCE")(), target: r2("MIRROR")(), another: r2("MIRROR") }),
    { skip: SERVICE_SKIPS },
  );
});
