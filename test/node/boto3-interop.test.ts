/**
 * boto3, AWS's own SDK, as a second and independent S3 client (beside rclone):
 * it reads back byte-identically what S3Store wrote (awkward keys, an empty
 * object, metadata, a multipart and a streamed object), and writes objects
 * S3Store must read, list and conditionally replace. On moto (AWS's
 * behaviour, boto3's default checksums) and on Ceph RGW.
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project node test/node/boto3-interop.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, it } from "vitest";
import { Mirror, S3Store } from "../../src/index.ts";
import { checksumsKey } from "../../src/mirror/checksums.ts";
import { peerEnv, peerScript } from "../support/boto3.ts";
import { codeOf, collect, uniquePrefix } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";
import { motoAuthConfig, motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";

const servers: [string, RgwConfig | undefined][] = [
  ["moto", motoConfig((k) => process.env[k])],
  ["Ceph RGW", rgwConfig((k) => process.env[k])],
];
const haveBoto3 = spawnSync("python3", ["-c", "import boto3"]).status === 0;
if (!haveBoto3) {
  if (process.env.CI === "true") throw new Error("CI=true and boto3 is missing (pip install boto3)");
  console.warn("\n!!! SKIPPING boto3 interop: python3 cannot import boto3 !!!\n");
}
const MiB = 1024 * 1024;
const enc = new TextEncoder();
const md5hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

interface Summed {
  key: string;
  s3_sha256: string | null;
  sha256_b64: string;
  sha256_hex: string;
  text: string | null;
}

interface Dumped {
  key: string;
  size: number;
  etag: string;
  md5: string;
  body_b64: string | null;
  metadata: Record<string, string>;
  content_type: string | null;
}

/** Runs one boto3-peer.py command against `cfg`. */
function boto3<T>(
  cfg: RgwConfig,
  command: "dump" | "write" | "create" | "probe" | "sums",
  request: unknown,
): T {
  const r = spawnSync("python3", [peerScript, command], {
    input: JSON.stringify(request),
    encoding: "utf8",
    maxBuffer: 256 * MiB,
    timeout: 120_000,
    env: peerEnv(cfg),
  });
  if (r.status !== 0) throw new Error(`boto3-peer.py ${command} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as T;
}

/** Keys that trip URL encoding, XML and signing: what a table or checkpoint store really holds. */
const AWKWARD: Record<string, Uint8Array> = {
  "plain.txt": enc.encode("hello boto3"),
  empty: new Uint8Array(0),
  "with space/a b+c=d.bin": crypto.getRandomValues(new Uint8Array(4096)),
  "ünïcödé/日本語 🦀.txt": enc.encode("unicode"),
  "epoch=3/vnode=7/partial.bin": crypto.getRandomValues(new Uint8Array(65536)),
  "punct/~'()!;,&@$%25.bin": enc.encode("punct"),
  "percent/100%/x": enc.encode("percent"),
};

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

for (const [server, cfg] of servers) {
  describe.skipIf(!cfg || !haveBoto3)(`boto3 interop on ${server}`, () => {
    it("boto3 lists and reads back byte-identically what S3Store wrote, metadata included", {
      timeout: 120_000,
    }, async () => {
      const s = new S3Store({
        ...cfg!,
        forcePathStyle: true,
        multipartThreshold: 5 * MiB,
        partSize: 5 * MiB,
      });
      const p = uniquePrefix("boto3");
      for (const [k, v] of Object.entries(AWKWARD)) {
        await s.put(`${p}${k}`, v, {
          mode: "create",
          metadata: { origin: "tidemark" },
          contentType: "application/x-test",
        });
      }
      const big = randomBytes(6 * MiB);
      assert.match((await s.put(`${p}big/multipart.bin`, big)).etag, /-2$/);
      const streamed = randomBytes(300_000);
      await s.put(
        `${p}big/streamed.bin`,
        new ReadableStream<Uint8Array>({
          start(c) {
            for (let at = 0; at < streamed.length; at += 70_000) c.enqueue(streamed.slice(at, at + 70_000));
            c.close();
          },
        }),
        { size: streamed.length },
      );

      const theirs = boto3<Dumped[]>(cfg!, "dump", { prefix: p });
      const ours = await collect(s.list(p));
      assert.deepEqual(
        theirs.map((o) => [o.key, o.size, o.etag]),
        ours.map((m) => [m.key, m.size, m.etag]),
        "boto3's listing is S3Store's: keys, order, sizes, etags",
      );
      assert.equal(theirs.length, Object.keys(AWKWARD).length + 2);
      const byKey = new Map(theirs.map((o) => [o.key.slice(p.length), o]));
      for (const [k, v] of Object.entries(AWKWARD)) {
        const o = byKey.get(k);
        assert.ok(o, k);
        assert.deepEqual(unb64(o.body_b64 ?? ""), v, `bytes of ${k}`);
        assert.equal(o.etag, md5hex(v), `etag of ${k} is its md5`);
        assert.equal(o.metadata.origin, "tidemark", `metadata of ${k}`);
        assert.equal(o.content_type, "application/x-test", `content type of ${k}`);
      }
      assert.equal(byKey.get("big/multipart.bin")?.md5, md5hex(big));
      assert.equal(byKey.get("big/streamed.bin")?.md5, md5hex(streamed));
      await s.deleteMany(ours.map((m) => m.key));
    });

    it("boto3 reads the checksums a mirror recorded (S3's own where the server keeps them, the mirror's record everywhere) and hashlib agrees", {
      timeout: 120_000,
    }, async () => {
      const p = uniquePrefix("boto3-sums");
      const source = new S3Store({ ...cfg!, forcePathStyle: true, prefix: `${p}source` });
      const target = new S3Store({ ...cfg!, forcePathStyle: true, prefix: `${p}mirror` });
      const primary = await Primary.open(source);
      await primary.commit([{ path: "data/a.parquet", size: 70_000 }]);
      await primary.commit([{ path: "data/b.parquet", size: 1_000 }]);
      await new Mirror({ source, target }).tick();
      const objects = boto3<Summed[]>(cfg!, "sums", { prefix: `${p}mirror/` });
      const byKey = new Map(objects.map((o) => [o.key.slice(`${p}mirror/`.length), o]));
      const recorded = new Map<string, string>();
      for (const v of [1, 2]) {
        const text = byKey.get(checksumsKey(v))?.text ?? "";
        for (const line of text.trim().split("\n")) recorded.set(line.slice(66), line.slice(0, 64));
      }
      const copied = [
        "data/a.parquet",
        "data/b.parquet",
        "metadata/v1.manifest.bin",
        "metadata/v2.manifest.bin",
      ];
      for (const key of copied) {
        const o = byKey.get(key);
        assert.ok(o, key);
        assert.equal(recorded.get(key), o.sha256_hex, `the mirror's record of ${key} is hashlib's`);
        // moto keeps S3 checksums (x-amz-checksum-sha256, as a trailer for a streamed file); RGW 16 none.
        if (server === "moto")
          assert.equal(o.s3_sha256, o.sha256_b64, `S3's checksum of ${key} is hashlib's`);
        else assert.equal(o.s3_sha256, null, key);
      }
    });

    it("S3Store reads, lists and conditionally replaces what boto3 wrote; boto3 sees the result", {
      timeout: 120_000,
    }, async () => {
      const s = new S3Store({ ...cfg!, forcePathStyle: true });
      const p = uniquePrefix("boto3");
      const written = boto3<{ key: string; etag: string }[]>(cfg!, "write", {
        objects: Object.entries(AWKWARD).map(([k, v]) => ({
          key: `${p}${k}`,
          body_b64: b64(v),
          metadata: { writer: "boto3" },
          content_type: "text/x-boto3",
        })),
      });
      const listed = await collect(s.list(p));
      assert.deepEqual(
        listed.map((m) => [m.key, m.size, m.etag]),
        written
          .map((w) => [w.key, AWKWARD[w.key.slice(p.length)]?.length, w.etag] as const)
          .sort((a, b) => (Buffer.from(a[0]) < Buffer.from(b[0]) ? -1 : 1)),
        "S3Store lists boto3's keys in byte order, with boto3's etags",
      );
      for (const [k, v] of Object.entries(AWKWARD)) {
        const got = await s.get(`${p}${k}`);
        assert.deepEqual(await got.bytes(), v, k);
        assert.equal((await s.head(`${p}${k}`)).metadata?.writer, "boto3", k);
      }
      const part = await s.get(`${p}epoch=3/vnode=7/partial.bin`, { range: { offset: 1000, length: 24 } });
      assert.deepEqual(await part.bytes(), AWKWARD["epoch=3/vnode=7/partial.bin"]?.subarray(1000, 1024));

      // Compare-and-swap on boto3's etag: the current one replaces, the stale one is refused.
      const key = `${p}with space/a b+c=d.bin`;
      const etag = written.find((w) => w.key === key)?.etag ?? "";
      const next = await s.put(key, "replaced by S3Store", { mode: { ifMatch: etag } });
      assert.equal(await codeOf(s.put(key, "lost race", { mode: { ifMatch: etag } })), "PreconditionFailed");
      assert.equal(await codeOf(s.put(`${p}plain.txt`, "again", { mode: "create" })), "AlreadyExists");
      const after = new Map(boto3<Dumped[]>(cfg!, "dump", { prefix: p }).map((o) => [o.key, o]));
      assert.equal(Buffer.from(after.get(key)?.body_b64 ?? "", "base64").toString(), "replaced by S3Store");
      assert.equal(after.get(key)?.etag, next.etag);
      assert.equal(
        Buffer.from(after.get(`${p}plain.txt`)?.body_b64 ?? "", "base64").toString(),
        "hello boto3",
      );

      // And boto3's own create-only put on a key S3Store created is refused.
      await s.put(`${p}made-by-s3store`, "first", { mode: "create" });
      const refused = boto3<{ status: number | string; code?: string }>(cfg!, "create", {
        key: `${p}made-by-s3store`,
        body_b64: b64(enc.encode("second")),
      });
      assert.deepEqual(refused, { status: 412, code: "PreconditionFailed" });
      assert.equal(await (await s.get(`${p}made-by-s3store`)).text(), "first");
      await s.deleteMany((await collect(s.list(p))).map((m) => m.key));
    });
  });
}

const motoAuth = motoAuthConfig((k) => process.env[k]);
describe.skipIf(!motoAuth || !haveBoto3)("boto3 on the moto that checks signatures", () => {
  it("moto refuses boto3's correctly signed requests with a percent-encoded key or a / in a query value, as it refuses S3Store's", async () => {
    const p = uniquePrefix("probe").slice(0, -1); // no "/"
    const keys = [`${p}-plain`, `${p}-é`, `${p}-a+b`, `${p}-x=y`];
    const theirs = boto3<{ put: Record<string, string>; list: Record<string, string> }>(motoAuth!, "probe", {
      keys,
      list_prefixes: [p, `${p}/`],
    });
    const s = new S3Store({ ...motoAuth!, forcePathStyle: true });
    const ours: Record<string, string> = {};
    for (const k of keys) {
      ours[k] = await s.put(k, "x").then(
        () => "ok",
        (e: Error) => /HTTP 403 (\w+)/.exec(e.message)?.[1] ?? e.message,
      );
    }
    const expected = {
      [keys[0]!]: "ok",
      [keys[1]!]: "SignatureDoesNotMatch",
      [keys[2]!]: "SignatureDoesNotMatch",
      [keys[3]!]: "SignatureDoesNotMatch",
    };
    assert.deepEqual(theirs.put, expected, "boto3");
    assert.deepEqual(ours, expected, "S3Store: the same answers, so the fault is moto's");
    assert.deepEqual(theirs.list, { [p]: "ok", [`${p}/`]: "SignatureDoesNotMatch" });
    await s.delete(`${p}-plain`);
  });
});
