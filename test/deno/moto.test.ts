/**
 * The store contract and the catalog, checkpoint and mirror suites on moto
 * (a second S3 implementation, beside Ceph RGW), under Deno.
 * Run: npx node scripts/with-moto.ts -- env DENO_NO_UPDATE_CHECK=1 npx deno test -A --no-check test/deno/moto.test.ts
 */
import { S3Store } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { catalogContract } from "../contract/catalog.contract.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import { bucketMirrorContract } from "../support/bucket-mirror.ts";
import { uniquePrefix } from "../support/harness.ts";
import { MOTO_STORE_SKIPS, motoConfig } from "../support/moto.ts";
import { denoEnv, denoHarness } from "./harness.ts";

/**
 * Heavy tests of a server's concurrency and paging, not of the runtime: they
 * run on moto in Node (test/node/moto-suites.test.ts) and on RGW under Deno.
 */
const SERVER_ONLY = "a server's concurrency and paging: run on moto in Node and on RGW in Deno";

const cfg = motoConfig(denoEnv);
if (cfg) {
  objectStoreContract(denoHarness("S3Store (moto)"), () => new S3Store({ ...cfg, forcePathStyle: true }), {
    skip: MOTO_STORE_SKIPS,
  });
  catalogContract(
    denoHarness("catalog: S3Store on moto"),
    () => new S3Store({ ...cfg, prefix: uniquePrefix("catalog") }),
    {
      skip: {
        "8 concurrent committers x 25 commits: versions 1..200, all files live, no manifest overwritten":
          SERVER_ONLY,
      },
    },
  );
  checkpointContract(
    denoHarness("CheckpointStore on S3Store (moto)"),
    () => new S3Store({ ...cfg, prefix: "checkpoint" }),
    {
      slowTimeoutMs: 180_000,
      skip: { "sealEpoch with 1,000 vnodes: one listing and one create": SERVER_ONLY },
    },
  );
  bucketMirrorContract(denoHarness("mirror between two moto buckets"), cfg);
}
