/**
 * `restore` into merutable's posix layout: the shared restore suite on
 * memory (with the crash sweep), into a directory (`FileStore`, what
 * merutable opens) and on S3 (Ceph RGW).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/restore.test.ts
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { MemoryStore, Mirror, type ObjectStore, restore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { wrapperOf } from "../../src/store/types.ts";
import { assertOpenable, EVENTS_SCHEMA, restoreContract } from "../contract/restore.contract.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";
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

describe("restore: server-side copies", () => {
  it("copies each file on the store's side where the target can copy from the source: no file body passes through it", async () => {
    const source = new MemoryStore();
    const primary = await Primary.open(source, { schema: EVENTS_SCHEMA });
    await primary.commit([{ path: "data/a.parquet", size: 7 }]);
    await primary.commit([{ path: "data/b.parquet", size: 9 }]);
    const mirror = new MemoryStore({ serverSideCopy: true });
    await new Mirror({ source, target: mirror }).tick();
    const reads: string[] = [];
    const from: ObjectStore = {
      ...wrapperOf(mirror),
      get: (k, o) => {
        reads.push(k);
        return mirror.get(k, o);
      },
      head: (k) => mirror.head(k),
      put: (k, b, o) => mirror.put(k, b, o),
      delete: (k) => mirror.delete(k),
      deleteMany: (ks) => mirror.deleteMany(ks),
      list: (x, o) => mirror.list(x, o),
    };
    const to = new MemoryStore({ serverSideCopy: true });
    const r = await restore({ from, to });
    assert.equal(r.files, 2);
    assert.deepEqual(
      reads.filter((k) => k.startsWith("data/")),
      [],
      "no file read through the restore",
    );
    assert.equal(await assertOpenable(to, source), 2);
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
