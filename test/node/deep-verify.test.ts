/**
 * Deep verification (`verifyMirror(store, { deep: true })`) on memory, a
 * directory, Ceph RGW and moto: the shared suite (test/contract/deep-verify.contract.ts).
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project node test/node/deep-verify.test.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { MemoryStore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { deepVerifyContract } from "../contract/deep-verify.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-deep-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("deep verification: MemoryStore", () => {
  const mem = () => new MemoryStore();
  deepVerifyContract(vitestHarness, () => ({ source: mem(), target: mem(), another: mem }));
});

describe("deep verification: FileStore", () => {
  const dir = () => new FileStore(join(root, randomId()), { durable: false });
  deepVerifyContract(vitestHarness, () => ({ source: dir(), target: dir(), another: dir }));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("deep verification: S3Store on Ceph RGW", () => {
  const s3 = () => new S3Store({ ...rgw!, prefix: uniquePrefix("deep") });
  deepVerifyContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }));
});

const moto = motoConfig((k) => process.env[k]);
describe.skipIf(!moto)("deep verification: S3Store on moto", () => {
  const s3 = () => new S3Store({ ...moto!, forcePathStyle: true, prefix: uniquePrefix("deep") });
  deepVerifyContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }));
});
