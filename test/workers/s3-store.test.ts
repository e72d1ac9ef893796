/**
 * S3Store inside workerd, against the Ceph RGW that scripts/test.ts starts:
 * proves the adapter's Workers paths (fetch with `redirect: "manual"`, stream
 * bodies through FixedLengthStream, WebCrypto signing by aws4fetch) on a real
 * S3 server, not only in Node and Deno.
 */
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { Catalog, Mirror, S3Store, verifyMirror } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import type { Env } from "../../worker/env.ts";
import { mirrorStore, sourceStore } from "../../worker/tables.ts";
import type { Harness } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const vars = env as unknown as Record<string, string | undefined>;
const cfg = rgwConfig((k) => (k === "CI" ? vars.CI || undefined : vars[`TEST_${k}`]));

describe.skipIf(!cfg)("S3Store inside workerd on Ceph RGW: contract", () => {
  objectStoreContract(vitestHarness, () => new S3Store({ ...cfg!, forcePathStyle: true }), {
    slowTimeoutMs: 120_000,
  });
});

describe.skipIf(!cfg)("the worker's S3 mirror target (MIRROR_S3_* secrets)", () => {
  it("mirrors a table from the SOURCE R2 binding into S3 on RGW; verifyMirror agrees", async () => {
    const table = `s3t-${crypto.randomUUID().slice(0, 8)}`;
    const source = sourceStore(env as unknown as Env, table);
    const catalog = await Catalog.open(source);
    for (let i = 0; i < 3; i++) {
      const path = `data/L0/f${i}.parquet`;
      await source.put(path, new Uint8Array(1000 + i).fill(i), { mode: "create" });
      await catalog.commit({ add: [{ path, fileSize: 1000 + i, numRows: 10 }] });
    }
    const s3env = {
      ...(env as unknown as Env),
      MIRROR_S3_ENDPOINT: cfg!.endpoint,
      MIRROR_S3_BUCKET: cfg!.bucket,
      MIRROR_S3_REGION: cfg!.region,
      MIRROR_S3_ACCESS_KEY_ID: cfg!.accessKeyId,
      MIRROR_S3_SECRET_ACCESS_KEY: cfg!.secretAccessKey,
      MIRROR_S3_PATH_STYLE: "1",
      MIRROR_S3_PREFIX: "worker-test/",
    };
    const target = mirrorStore(s3env, table);
    assert.ok(target.name.startsWith(`s3://${cfg!.bucket}/worker-test/tables/${table}`), target.name);
    const mirror = new Mirror({ source, target });
    assert.equal(await mirror.tick(), 3);
    assert.deepEqual(await verifyMirror(target), {
      version: 3,
      ok: true,
      missing: [],
      wrongSize: [],
      foreign: [],
    });
    // The objects really are in the S3 bucket, under the configured prefix.
    const raw = new S3Store({ ...cfg!, forcePathStyle: true });
    assert.equal((await raw.head(`worker-test/tables/${table}/data/L0/f2.parquet`)).size, 1002);
    await mirror.shutdown();
  });

  it("a partial S3 configuration is InvalidArgument, never a silent fallback to R2", async () => {
    const partial = { ...(env as unknown as Env), MIRROR_S3_ENDPOINT: "http://127.0.0.1:9" };
    assert.throws(() => mirrorStore(partial, "t1"), /\[InvalidArgument\] MIRROR_S3_ENDPOINT is set/);
  });
});
