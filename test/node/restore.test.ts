/**
 * `restore` into merutable's posix layout: the shared restore suite on
 * memory (with the crash sweep), into a directory (`FileStore`, what
 * merutable opens) and on S3 (Ceph RGW).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/restore.test.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { MemoryStore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { restoreContract } from "../contract/restore.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-restore-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("restore: MemoryStore", () => {
  const mem = () => new MemoryStore();
  restoreContract(vitestHarness, () => ({ source: mem(), target: mem(), another: mem }), {
    exhaustive: true,
  });
});

describe("restore: FileStore (a merutable directory)", () => {
  const dir = () => new FileStore(join(root, randomId()), { durable: false });
  restoreContract(vitestHarness, () => ({ source: dir(), target: dir(), another: dir }));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("restore: S3Store on Ceph RGW", () => {
  if (!rgw) return;
  const s3 = () => new S3Store({ ...rgw, prefix: uniquePrefix("restore") });
  restoreContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }), { timeoutMs: 120_000 });
});
