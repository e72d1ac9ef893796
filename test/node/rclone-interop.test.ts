/**
 * A second, independent S3 client agrees with S3Store on the same RGW bucket:
 * rclone (Debian) reads back what S3Store wrote (listings, sizes, MD5s,
 * bytes), and S3Store reads what rclone wrote.
 * Run: npx node scripts/with-rgw.ts -- npx vitest run test/node/rclone-interop.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { S3Store } from "../../src/index.ts";
import { collect, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const cfg = rgwConfig((k) => process.env[k]);
const haveRclone = spawnSync("sh", ["-c", "command -v rclone"]).status === 0;
if (cfg && !haveRclone) {
  if (process.env.CI === "true") throw new Error("CI=true and rclone is missing (Debian package rclone)");
  console.warn("\n!!! SKIPPING rclone interop: rclone is not installed (Debian package rclone) !!!\n");
}
const MiB = 1024 * 1024;
const md5hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** Runs rclone against the RGW as remote `x:` (config from env vars; AWS_CA_BUNDLE breaks it). */
function rclone(args: string[], input?: Uint8Array): Buffer {
  if (!cfg) throw new Error("no RGW");
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  delete env.AWS_CA_BUNDLE;
  Object.assign(env, {
    RCLONE_CONFIG_X_TYPE: "s3",
    RCLONE_CONFIG_X_PROVIDER: "Ceph",
    RCLONE_CONFIG_X_ENDPOINT: cfg.endpoint,
    RCLONE_CONFIG_X_ACCESS_KEY_ID: cfg.accessKeyId,
    RCLONE_CONFIG_X_SECRET_ACCESS_KEY: cfg.secretAccessKey,
    RCLONE_CONFIG_X_REGION: cfg.region,
    RCLONE_CONFIG_X_FORCE_PATH_STYLE: "true",
    RCLONE_CONFIG: "/dev/null",
  });
  const r = spawnSync("rclone", args, { env, input, maxBuffer: 64 * MiB, timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(`rclone ${args.join(" ")} failed: ${r.stderr?.toString().slice(-1000)}`);
  return r.stdout;
}

const tmp = mkdtempSync(join(tmpdir(), "tidemark-rclone-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!cfg || !haveRclone)("rclone interop on Ceph RGW", () => {
  it("objects written by S3Store are listed and read back identically by rclone", {
    timeout: 60_000,
  }, async () => {
    const s = new S3Store({ ...cfg!, forcePathStyle: true, multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    const p = uniquePrefix("rclone");
    const objects: Record<string, Uint8Array> = {
      "plain.txt": new TextEncoder().encode("hello rclone"),
      empty: new Uint8Array(0),
      "with space/a b+c=d.bin": crypto.getRandomValues(new Uint8Array(4096)),
      "ünïcödé/日本語 🦀.txt": new TextEncoder().encode("unicode"),
      "epoch=3/vnode=7/partial.bin": crypto.getRandomValues(new Uint8Array(65536)),
      "punct/~'()!;,&@$%25.bin": new TextEncoder().encode("punct"),
    };
    const big = new Uint8Array(6 * MiB);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    for (const [k, v] of Object.entries(objects)) await s.put(`${p}${k}`, v, { mode: "create" });
    const bigPut = await s.put(`${p}big/multipart.bin`, big);
    assert.match(bigPut.etag, /-2$/);

    const bucketPath = `x:${cfg!.bucket}/${p.slice(0, -1)}`;
    const listed = JSON.parse(
      rclone(["lsjson", "-R", "--files-only", "--no-mimetype", bucketPath]).toString(),
    ) as {
      Path: string;
      Size: number;
    }[];
    const theirs = listed.map((o) => [o.Path, o.Size]).sort();
    const ours = (await collect(s.list(p))).map((m) => [m.key.slice(p.length), m.size]).sort();
    assert.deepEqual(theirs, ours);
    assert.equal(ours.length, 7);

    const sums = new Map(
      rclone(["md5sum", bucketPath])
        .toString()
        .trim()
        .split("\n")
        .map((line) => {
          const m = /^([0-9a-f]*)\s+(.*)$/.exec(line);
          return [m?.[2] ?? "", m?.[1] ?? ""] as const;
        }),
    );
    for (const [k, v] of Object.entries(objects)) {
      assert.equal(sums.get(k), md5hex(v), `md5 of ${k} per rclone`);
      assert.equal((await s.head(`${p}${k}`)).etag, md5hex(v), `etag of ${k} is its md5`);
    }
    // A multipart object has no whole-object MD5 on the server: compare its bytes.
    const cat = rclone(["cat", `${bucketPath}/big/multipart.bin`]);
    assert.equal(md5hex(cat), md5hex(big));
    const odd = rclone(["cat", `${bucketPath}/with space/a b+c=d.bin`]);
    assert.deepEqual(new Uint8Array(odd), objects["with space/a b+c=d.bin"]);
    await s.deleteMany((await collect(s.list(p))).map((m) => m.key));
  });

  it("objects written by rclone (rcat, copyto) are read by S3Store", { timeout: 60_000 }, async () => {
    const s = new S3Store({ ...cfg!, forcePathStyle: true });
    const p = uniquePrefix("rclone");
    const bucketPath = `x:${cfg!.bucket}/${p.slice(0, -1)}`;
    const piped = crypto.getRandomValues(new Uint8Array(50_000));
    rclone(["rcat", `${bucketPath}/rcat/日本 a+b.bin`], piped);
    const file = join(tmp, "copied.bin");
    const fileBytes = new Uint8Array(3 * MiB);
    for (let i = 0; i < fileBytes.length; i += 65536)
      crypto.getRandomValues(fileBytes.subarray(i, i + 65536));
    writeFileSync(file, fileBytes);
    rclone(["copyto", file, `${bucketPath}/copied/file=1 (x).bin`]);

    const listed = await collect(s.list(p));
    assert.deepEqual(
      listed.map((m) => [m.key, m.size]),
      [
        [`${p}copied/file=1 (x).bin`, fileBytes.length],
        [`${p}rcat/日本 a+b.bin`, piped.length],
      ],
    );
    const a = await s.get(`${p}rcat/日本 a+b.bin`);
    assert.deepEqual(await a.bytes(), piped);
    const b = await s.get(`${p}copied/file=1 (x).bin`);
    assert.equal(md5hex(await b.bytes()), md5hex(fileBytes));
    const meta = await s.head(`${p}copied/file=1 (x).bin`);
    assert.equal(meta.etag, md5hex(fileBytes));
    assert.ok(meta.metadata?.mtime, "rclone's own x-amz-meta-mtime is visible as metadata");
    const range = await s.get(`${p}copied/file=1 (x).bin`, { range: { offset: MiB, length: 10 } });
    assert.deepEqual(await range.bytes(), fileBytes.subarray(MiB, MiB + 10));
    const res = await s.deleteMany(listed.map((m) => m.key));
    assert.deepEqual(res, { deleted: 2, errors: [] });
    assert.equal(rclone(["lsf", "-R", bucketPath]).toString().trim(), "");
  });
});
