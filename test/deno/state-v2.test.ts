/**
 * LaminarDB's state-v2 checkpoint layout under Deno: the roots the Python
 * generator wrote, read and verified, and the checkpoint mirror, on memory;
 * on Ceph RGW when it runs.
 */
import { MemoryStore } from "../../src/store/memory.ts";
import { prefixed } from "../../src/store/prefixed.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { checkpointMirrorContract } from "../contract/checkpoint-mirror.contract.ts";
import { STORE_CASES, stateV2Contract } from "../contract/state-v2.contract.ts";
import { uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";
import { parseBundle } from "../support/state-v2-fixtures.ts";
import { denoEnv, denoHarness } from "./harness.ts";

declare const Deno: { readTextFileSync(path: URL): string };

const bundle = parseBundle(
  Deno.readTextFileSync(new URL("../fixtures/laminardb-state-v2.json", import.meta.url)),
);

stateV2Contract(denoHarness("state-v2 on MemoryStore"), bundle, () => new MemoryStore());
checkpointMirrorContract(
  denoHarness("checkpoint mirror on MemoryStore"),
  bundle,
  // The crash sweep runs in Node (test/node/state-v2.test.ts): its logic is runtime-independent.
  () => ({ source: new MemoryStore(), target: new MemoryStore(), another: () => new MemoryStore() }),
);

const rgw = rgwConfig(denoEnv);
if (rgw) {
  const s3 = new S3Store({ ...rgw, forcePathStyle: true });
  const fresh = (): ObjectStore => prefixed(s3, uniquePrefix("state-v2"));
  stateV2Contract(denoHarness("state-v2 on S3Store (Ceph RGW)"), bundle, fresh, { cases: STORE_CASES });
  checkpointMirrorContract(
    denoHarness("checkpoint mirror on S3Store (Ceph RGW)"),
    bundle,
    () => ({ source: fresh(), target: fresh(), another: fresh }),
    { timeoutMs: 120_000 },
  );
}
