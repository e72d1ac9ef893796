/**
 * `openTable` on both of merutable's layouts: the shared table suite on
 * memory, a directory (`FileStore`, as merutable's primary is one) and S3 on
 * Ceph RGW (a copy of a primary in a bucket).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/table.test.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { MemoryStore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { tableContract } from "../contract/table.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-table-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("table reader: MemoryStore", () => {
  tableContract(vitestHarness, () => new MemoryStore());
});

describe("table reader: FileStore (a directory, as merutable's primary)", () => {
  tableContract(vitestHarness, () => new FileStore(join(root, randomId()), { durable: false }));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("table reader: S3Store on Ceph RGW", () => {
  if (!rgw) return;
  tableContract(vitestHarness, () => new S3Store({ ...rgw, prefix: uniquePrefix("table") }));
});
