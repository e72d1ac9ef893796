/**
 * Server-side copies (`canCopyFrom`, a create-only put of a `copySourceBody`) and the mirror's copy
 * path: refused where a copy cannot be create-only (Ceph RGW 16 and moto 5.2
 * ignore `If-None-Match` on CopyObject: probed, then streamed), used where it
 * can (AWS and R2 by their documentation; here moto behind a proxy that adds
 * AWS's documented conditions, see test/support/copy-proxy.ts).
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project node test/node/s3-copy.test.ts
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  Catalog,
  type HttpTransport,
  MemoryStore,
  Mirror,
  metered,
  mirrorSnapshot,
  type ObjectStore,
  prefixed,
  S3Store,
  type S3StoreOptions,
  verifyMirror,
} from "../../src/index.ts";
import { readChecksums } from "../../src/mirror/checksums.ts";
import { nodeHttpTransport } from "../../src/node/index.ts";
import { sha256Hex } from "../../src/store/checksum.ts";
import { copySourceBody } from "../../src/store/copy-source.ts";
import { mirrorContract, RGW_MIRROR_SKIPS } from "../contract/mirror.contract.ts";
import { createBucket } from "../services/rgw.ts";
import { type CopyProxy, startCopyProxy } from "../support/copy-proxy.ts";
import { codeOf, collect, type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { rgwConfig } from "../support/rgw.ts";

const rgw = rgwConfig((k) => process.env[k]);
const moto = motoConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

/** A transport that records every request's method, URL and headers, then forwards to `inner`. */
function recording(inner: HttpTransport): {
  transport: HttpTransport;
  calls: Array<{ method: string; url: string; headers: Record<string, string> }>;
} {
  const calls: Array<{ method: string; url: string; headers: Record<string, string> }> = [];
  return {
    calls,
    transport: {
      name: inner.name,
      request: (r) => {
        calls.push({ method: r.method, url: r.url, headers: r.headers });
        return inner.request(r);
      },
    },
  };
}

const copiesIn = (calls: Array<{ headers: Record<string, string> }>) =>
  calls.filter((c) => c.headers["x-amz-copy-source"] !== undefined).length;

/** A table of `n` files of `size` bytes committed on `store`. */
async function table(store: S3Store | ReturnType<typeof prefixed>, n: number, size: number): Promise<void> {
  const files = Array.from({ length: n }, (_, i) => ({ path: `data/f-${i}.bin`, size }));
  for (const [i, f] of files.entries()) await store.put(f.path, new Uint8Array(size).fill(i + 1));
  const c = await Catalog.open(store);
  await c.commit({ add: files.map((f) => ({ path: f.path, fileSize: f.size, numRows: 1 })) });
}

describe("server-side copy: which stores can, decided without a request", () => {
  const creds = { bucket: "b", region: "us-east-1", accessKeyId: "AK", secretAccessKey: "SK" };
  const never: HttpTransport = {
    name: "never",
    request: () => Promise.reject(new Error("no request expected")),
  };
  const s3 = (extra: Partial<S3StoreOptions>) =>
    new S3Store({ endpoint: "https://s3.eu-west-1.amazonaws.com", ...creds, transport: never, ...extra });

  it("aws and r2 endpoints copy create-only by their documented header, other stores never", async () => {
    assert.equal(await s3({}).canCopyFrom(s3({ bucket: "other" })), true);
    const r2 = "https://acc.r2.cloudflarestorage.com";
    assert.equal(await s3({ endpoint: r2 }).canCopyFrom(s3({ endpoint: r2, bucket: "x" })), true);
    // Through wrappers that only rename keys.
    assert.equal(await s3({}).canCopyFrom(prefixed(metered(s3({ bucket: "x" })), "t/")), true);
    assert.equal(await s3({}).canCopyFrom(s3({ endpoint: "https://s3.us-east-1.amazonaws.com" })), false);
    assert.equal(await s3({}).canCopyFrom(s3({ accessKeyId: "OTHER" })), false);
    assert.equal(await s3({}).canCopyFrom(s3({ region: "us-west-2" })), false);
    assert.equal(await s3({ serverSideCopy: "off" }).canCopyFrom(s3({})), false);
    assert.equal(await s3({}).canCopyFrom(new MemoryStore()), false);
    assert.equal(
      await codeOf(Promise.resolve().then(() => s3({ serverSideCopy: "on" as "off" }))),
      "InvalidArgument",
    );
  });

  it("a copy names the source and pins its etag, with the vendor's create-only header", async () => {
    for (const [endpoint, header] of [
      ["https://s3.eu-west-1.amazonaws.com", "if-none-match"],
      ["https://acc.r2.cloudflarestorage.com", "cf-copy-destination-if-none-match"],
    ] as const) {
      const seen: Array<Record<string, string>> = [];
      const answer: HttpTransport = {
        name: "canned",
        request: async (r) => {
          seen.push(r.headers);
          const xml = '<CopyObjectResult><ETag>"abc"</ETag></CopyObjectResult>';
          return {
            status: 200,
            headers: new Headers(),
            body: null,
            text: async () => xml,
            discard: async () => {},
          };
        },
      };
      const target = new S3Store({
        endpoint,
        ...creds,
        bucket: "dst",
        transport: answer,
        forcePathStyle: true,
      });
      const source = new S3Store({ endpoint, ...creds, bucket: "src bucket", prefix: "t", transport: never });
      const r = await target.put(
        "data/x.bin",
        copySourceBody({ store: source, key: "data/a b+c.bin", etag: "e1", size: 10 }),
        { size: 10, mode: "create", metadata: { "tidemark-source": "s" } },
      );
      assert.equal(r.etag, "abc");
      const h = seen[0] as Record<string, string>;
      assert.equal(h["x-amz-copy-source"], "/src%20bucket/t/data/a%20b%2Bc.bin");
      assert.equal(h["x-amz-copy-source-if-match"], "e1");
      assert.equal(h["x-amz-metadata-directive"], "REPLACE");
      assert.equal(h[header], "*");
      assert.equal(h["x-amz-meta-tidemark-source"], "s");
    }
  });
});

describe.skipIf(!rgw)("server-side copy on Ceph RGW 16 (ignores If-None-Match on a copy)", () => {
  const id = randomId();
  const [src, dst] = [`copy-src-${id}`, `copy-dst-${id}`];
  beforeAll(() => {
    for (const b of [src, dst]) createBucket(rgw!, b);
  });

  it("one probe says no, leaves nothing behind, and the mirror streams", async () => {
    const rec = recording(nodeHttpTransport());
    const source = new S3Store({ ...rgw!, bucket: src, forcePathStyle: true, transport: rec.transport });
    const target = new S3Store({ ...rgw!, bucket: dst, forcePathStyle: true, transport: rec.transport });
    await table(source, 3, 1000);
    rec.calls.length = 0;
    assert.equal(await target.canCopyFrom(source), false);
    assert.equal(await target.canCopyFrom(source), false);
    assert.equal(copiesIn(rec.calls), 1, "one probe copy, decided once");
    assert.deepEqual(await collect(target.list("_tidemark-copy-probe/")), []);
    rec.calls.length = 0;
    const r = await mirrorSnapshot({ source, target, version: 1 });
    assert.equal(r.uploadedFiles, 3);
    assert.equal(copiesIn(rec.calls), 0, "streamed: no CopyObject");
    assert.equal((await verifyMirror(target, 1)).ok, true);
  });
});

describe.skipIf(!moto)("server-side copy on moto", () => {
  const id = randomId();
  const [src, dst] = [`copy-src-${id}`, `copy-dst-${id}`];
  let proxy: CopyProxy | undefined;
  beforeAll(async () => {
    for (const b of [src, dst]) createBucket(moto!, b);
    proxy = await startCopyProxy(moto!);
  });
  afterAll(() => proxy?.close());
  const behindProxy = (bucket: string) =>
    new S3Store({
      ...moto!,
      endpoint: proxy!.endpoint,
      bucket,
      forcePathStyle: true,
      transport: nodeHttpTransport(),
    });

  it("moto itself ignores If-None-Match on a copy: the probe says no", async () => {
    const a = new S3Store({ ...moto!, bucket: src, forcePathStyle: true });
    const b = new S3Store({ ...moto!, bucket: dst, forcePathStyle: true });
    assert.equal(await b.canCopyFrom(a), false);
    assert.deepEqual(await collect(b.list("_tidemark-copy-probe/")), []);
  });

  it("behind the proxy the probe says yes; a copy is create-only and pinned to the source's etag", async () => {
    const source = behindProxy(src);
    const target = behindProxy(dst);
    assert.equal(await target.canCopyFrom(source), true);
    const p = uniquePrefix();
    const made = await source.put(`${p}a`, "bytes of a", { metadata: { old: "1" } });
    const copyOf = (etag: string) => copySourceBody({ store: source, key: `${p}a`, etag, size: 10 });
    const before = proxy!.copies();
    const r = await target.put(`${p}b`, copyOf(made.etag), {
      size: 10,
      mode: "create",
      metadata: { n: "2" },
    });
    assert.equal(proxy!.copies() - before, 1, "a server-side copy, not a PUT of the bytes");
    const got = await target.get(`${p}b`);
    assert.equal(await got.text(), "bytes of a");
    assert.equal(got.etag, r.etag);
    assert.equal(got.metadata?.n, "2");
    assert.equal(got.metadata?.old, undefined, "the source's metadata is replaced");
    assert.equal(
      await codeOf(target.put(`${p}b`, copyOf(made.etag), { size: 10, mode: "create" })),
      "AlreadyExists",
    );
    const stale = copyOf("0123456789abcdef0123456789abcdef");
    assert.equal(
      await codeOf(target.put(`${p}c`, stale, { size: 10, mode: "create" })),
      "PreconditionFailed",
    );
    assert.equal(await codeOf(target.head(`${p}c`)), "NotFound");
  });

  it("the mirror copies server-side: no file body passes through it", async () => {
    const p = uniquePrefix();
    const gets: string[] = [];
    const inner = prefixed(behindProxy(src), p);
    const source: ObjectStore = {
      ...inner,
      get: (k, o) => {
        gets.push(k);
        return inner.get(k, o);
      },
    };
    const targetGets: string[] = [];
    const into = prefixed(behindProxy(dst), p);
    const target = metered({
      ...into,
      get: (k, o) => {
        targetGets.push(k);
        return into.get(k, o);
      },
    });
    await table(prefixed(behindProxy(src), p), 4, 2000);
    assert.equal(await target.canCopyFrom?.(source), true); // its one probe copy, before counting
    const before = proxy!.copies();
    const m = new Mirror({ source, target });
    await m.tick();
    assert.equal(m.status().mirrorSeq, 1);
    assert.equal(proxy!.copies() - before, 4, "one CopyObject per file");
    assert.deepEqual(
      gets.filter((k) => k.startsWith("data/")),
      [],
      "no file is read through the mirror",
    );
    assert.equal(
      target.counts().put,
      4 + 3,
      "4 copies, the checksum record, the manifest, low_water: each one write",
    );
    // Their checksums come from the store (CopyObject with x-amz-checksum-algorithm): no copy read back to hash it.
    assert.deepEqual(
      targetGets.filter((k) => k.startsWith("data/")),
      [],
      "no copy is read back",
    );
    assert.equal((await verifyMirror(target, 1)).ok, true);
    const sums = await readChecksums(target, 1);
    for (let i = 0; i < 4; i++) {
      const key = `data/f-${i}.bin`;
      assert.equal(sums?.get(key), await sha256Hex(await (await source.get(key)).bytes()), key);
    }
    const meta = await target.head("data/f-0.bin");
    assert.equal(meta.metadata?.["tidemark-source"], source.id);
  });

  describe("the mirror contract over server-side copies (moto behind the proxy)", () => {
    mirrorContract(
      vitestHarness,
      () => {
        const p = uniquePrefix("mirror");
        return {
          source: prefixed(behindProxy(src), p),
          target: prefixed(behindProxy(dst), p),
          another: () => prefixed(behindProxy(dst), uniquePrefix("other")),
        };
      },
      { timeoutMs: 60_000, skip: RGW_MIRROR_SKIPS },
    );
  });
});
