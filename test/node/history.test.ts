/**
 * The history suite (two histories never meet on a mirror) on memory, a
 * directory (`FileStore`: merutable's primary is one) and S3 on Ceph RGW.
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/history.test.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { FileStore } from "../../src/node/fs-store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { historyContract } from "../contract/history.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-history-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("history: MemoryStore", () => {
  const mem = () => new MemoryStore();
  historyContract(vitestHarness, () => ({ source: mem(), target: mem(), another: mem }));
});

describe("history: FileStore (directories)", () => {
  const dir = () => new FileStore(join(root, randomId()), { durable: false });
  historyContract(vitestHarness, () => ({ source: dir(), target: dir(), another: dir }));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("history: S3Store on Ceph RGW", () => {
  if (!rgw) return;
  const s3 = () => new S3Store({ ...rgw, prefix: uniquePrefix("history") });
  historyContract(vitestHarness, () => ({ source: s3(), target: s3(), another: s3 }), { timeoutMs: 120_000 });
});
