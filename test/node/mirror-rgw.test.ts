/**
 * The mirror between two buckets of a real Ceph RGW (S3Store on each, over
 * `fetch` and aws4fetch): the shared mirror suite, then an end-to-end run of
 * 20 snapshots checked by `verifyMirror` and by `rclone check` (an
 * independent S3 client). The suite over the Node transport and signer is
 * mirror-rgw-node.test.ts.
 * Run: npx node scripts/with-rgw.ts -- npx vitest run test/node/mirror-rgw.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "vitest";
import { Mirror, prefixed, verifyMirror } from "../../src/index.ts";
import { bucketMirrorContract } from "../support/bucket-mirror.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";
import { rgwConfig } from "../support/rgw.ts";

const cfg = rgwConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("mirror between two RGW buckets", () => {
  if (!cfg) return;
  const { src, dst, source, target } = bucketMirrorContract(vitestHarness, cfg);

  it("20 snapshots end to end: verifyMirror and rclone check agree", { timeout: 120_000 }, async () => {
    const p = uniquePrefix("e2e");
    const s = prefixed(source, p);
    const t = prefixed(target, p);
    const primary = await Primary.open(s);
    const m = new Mirror({ source: s, target: t, parallelism: 8 });
    for (let i = 0; i < 20; i++) {
      await primary.commitMany(1, 5, 4096, `s${i}`);
      if (i % 4 === 3) await m.tick(); // mirror in batches of 4, as a lagging mirror would
    }
    await primary.commit([{ path: "data/big.parquet", size: 3 * 1024 * 1024 }], ["data/s0-0-0.parquet"]);
    assert.equal(await m.tick(), 21);
    assert.equal(m.status().lastError, null);
    const v = await verifyMirror(t);
    assert.deepEqual(v, { version: 21, ok: true, missing: [], wrongSize: [], foreign: [] });
    for (let version = 1; version <= 21; version++) assert.equal((await verifyMirror(t, version)).ok, true);

    const rcloneEnv: Record<string, string> = {};
    for (const [name, bucket] of [
      ["SRC", src],
      ["DST", dst],
    ] as const) {
      void bucket;
      Object.assign(rcloneEnv, {
        [`RCLONE_CONFIG_${name}_TYPE`]: "s3",
        [`RCLONE_CONFIG_${name}_PROVIDER`]: "Ceph",
        [`RCLONE_CONFIG_${name}_ENDPOINT`]: cfg.endpoint,
        [`RCLONE_CONFIG_${name}_ACCESS_KEY_ID`]: cfg.accessKeyId,
        [`RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY`]: cfg.secretAccessKey,
        [`RCLONE_CONFIG_${name}_FORCE_PATH_STYLE`]: "true",
        [`RCLONE_CONFIG_${name}_REGION`]: cfg.region,
      });
    }
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...rcloneEnv };
    delete env.AWS_CA_BUNDLE; // this environment sets it, and rclone then fails with LoadCustomCABundleError
    const r = spawnSync(
      "rclone",
      ["check", `SRC:${src}/${p}data`, `DST:${dst}/${p}data`, "--one-way=false"],
      { env, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(r.status, 0, `rclone check failed:\n${r.stderr}`);
    assert.match(r.stderr, /0 differences found/);
    // 20 × 5 files and the big one; the dropped file stays on both sides.
    assert.match(r.stderr, /101 matching files/, r.stderr);
  });
});
