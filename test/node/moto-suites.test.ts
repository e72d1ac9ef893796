/**
 * The catalog and checkpoint suites on moto (a second S3 implementation,
 * beside Ceph RGW): what tidemark builds on S3 holds on a server that answers
 * like AWS (404 NoSuchKey to If-Match on a missing key, no 409s, its own XML
 * and etags). The mirror suite on moto is mirror-moto.test.ts.
 * Run: npx node scripts/with-moto.ts -- npx vitest run --project node test/node/moto-suites.test.ts
 */
import { describe, it } from "vitest";
import { S3Store } from "../../src/index.ts";
import { catalogContract } from "../contract/catalog.contract.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";

const cfg = motoConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("catalog contract: S3Store on moto", () => {
  catalogContract(vitestHarness, () => new S3Store({ ...cfg!, prefix: uniquePrefix("catalog") }), {
    slowTimeoutMs: 300_000,
  });
});

describe.skipIf(!cfg)("CheckpointStore on S3Store (moto)", () => {
  checkpointContract(vitestHarness, () => new S3Store({ ...cfg!, prefix: "checkpoint" }), {
    slowTimeoutMs: 180_000,
  });
});
