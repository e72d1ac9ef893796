/**
 * S3Store on a real Ceph RGW: the shared contract (plain and through the
 * `prefix` option) plus S3-only behaviour (auth, big streamed and multipart
 * objects, paging, URL building, secret hygiene).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run test/node/s3-store.test.ts
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import {
  type FetchLike,
  type HttpTransport,
  type S3Signer,
  S3Store,
  type S3StoreOptions,
} from "../../src/index.ts";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { S3Client } from "../../src/store/s3/client.ts";
import { s3Settings } from "../../src/store/s3/settings.ts";
import { fetchTransport } from "../../src/store/transport.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { codeOf, collect, type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const cfg = rgwConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const MiB = 1024 * 1024;

function storeOf(extra: Partial<S3StoreOptions> = {}): S3Store {
  if (!cfg) throw new Error("no RGW");
  return new S3Store({ ...cfg, forcePathStyle: true, ...extra });
}

/** The transports S3Store is tested over: `fetch` (every runtime) and `node:http` (tidemark/node). */
const TRANSPORTS: Array<[string, () => HttpTransport, () => S3Signer | undefined]> = [
  ["fetch and aws4fetch", () => fetchTransport(), () => undefined],
  ["node:http and aws4", () => nodeHttpTransport(), () => nodeSigner()],
];

/** A transport that records method + URL of every request, then forwards to `inner`. */
function recording(inner: HttpTransport): { transport: HttpTransport; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    transport: {
      name: inner.name,
      request: (r) => {
        calls.push(`${r.method} ${r.url}`);
        return inner.request(r);
      },
    },
  };
}

/** Deterministic bytes: block `i` of `size` bytes from a xorshift seeded by `i`. */
function block(i: number, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let x = (i + 1) * 0x9e3779b1;
  for (let at = 0; at + 4 <= size; at += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(at, x >>> 0);
  }
  return out;
}

/** A stream of `blocks` deterministic 1 MiB blocks. */
function blockStream(blocks: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i >= blocks) c.close();
      else c.enqueue(block(i++, MiB));
    },
  });
}

const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

/** SHA-256 of every 1 MiB block of a stream (one block in memory at a time). */
async function blockDigests(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  const buf = new Uint8Array(MiB);
  let fill = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    let c = chunk;
    while (c.length > 0) {
      const n = Math.min(c.length, MiB - fill);
      buf.set(c.subarray(0, n), fill);
      fill += n;
      c = c.subarray(n);
      if (fill === MiB) {
        out.push(hex(await crypto.subtle.digest("SHA-256", buf)));
        fill = 0;
      }
    }
  }
  if (fill > 0) out.push(hex(await crypto.subtle.digest("SHA-256", buf.slice(0, fill))));
  return out;
}

async function expectedDigests(blocks: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < blocks; i++) out.push(hex(await crypto.subtle.digest("SHA-256", block(i, MiB))));
  return out;
}

const store = storeOf;

describe.skipIf(!cfg)("S3Store on Ceph RGW: contract", () => {
  objectStoreContract(vitestHarness, () => store());
});

describe.skipIf(!cfg)("S3Store on Ceph RGW over nodeHttpTransport and nodeSigner: contract", () => {
  const transport = nodeHttpTransport();
  objectStoreContract(vitestHarness, () => store({ transport, signer: nodeSigner() }));
});

describe.skipIf(!cfg)("S3Store on Ceph RGW: contract through the prefix option", () => {
  const prefix = `pfx-${randomId()}/tables`;
  objectStoreContract(vitestHarness, () => store({ prefix }), {
    maxKeyBytes: 1024 - prefix.length - 1,
    skip: {
      "list pages through 2,500 keys; deleteMany removes them, missing keys included":
        "paging is the same code with or without a prefix; the plain run covers it",
    },
  });
});

describe.skipIf(!cfg).each(TRANSPORTS)("S3Store on Ceph RGW over %s: S3-only", (_, transport, signer) => {
  const store = (extra: Partial<S3StoreOptions> = {}) => {
    const sign = signer();
    return storeOf({ ...(sign ? { signer: sign } : {}), ...extra });
  };
  it("a wrong secret is PermissionDenied on every operation", async () => {
    const bad = store({ secretAccessKey: "not-the-secret-0123456789", transport: transport() });
    const p = uniquePrefix();
    assert.equal(await codeOf(bad.get(`${p}k`)), "PermissionDenied");
    assert.equal(await codeOf(bad.head(`${p}k`)), "PermissionDenied");
    assert.equal(await codeOf(bad.put(`${p}k`, "x")), "PermissionDenied");
    assert.equal(await codeOf(bad.put(`${p}k`, "x", { mode: "create" })), "PermissionDenied");
    assert.equal(await codeOf(collect(bad.list(p))), "PermissionDenied");
    assert.equal(await codeOf(bad.deleteMany([`${p}k`])), "PermissionDenied");
  });

  it("a 64 MiB streamed object round-trips byte-exactly in one PUT", { timeout: 120_000 }, async () => {
    const rec = recording(transport());
    const s = store({ transport: rec.transport });
    const key = `${uniquePrefix()}big-stream.bin`;
    const put = await s.put(key, blockStream(64), { size: 64 * MiB });
    assert.ok(!put.etag.includes("-"), "single-part etag");
    assert.deepEqual(
      rec.calls.map((c) => c.split(" ")[0]),
      ["PUT"],
    );
    const got = await s.get(key);
    assert.equal(got.size, 64 * MiB);
    assert.deepEqual(await blockDigests(got.body), await expectedDigests(64));
    const tail = await s.get(key, { range: { offset: 63 * MiB + 5, length: 10 } });
    assert.deepEqual(await tail.bytes(), block(63, MiB).subarray(5, 15));
    await s.delete(key);
  });

  it("a 40 MiB object goes multipart above the threshold and round-trips byte-exactly", {
    timeout: 120_000,
  }, async () => {
    const rec = recording(transport());
    const s = store({
      transport: rec.transport,
      multipartThreshold: 16 * MiB,
      partSize: 8 * MiB,
      multipartConcurrency: 3,
    });
    const key = `${uniquePrefix()}big-multipart.bin`;
    const put = await s.put(key, blockStream(40), { size: 40 * MiB, metadata: { owner: "mp" } });
    assert.match(put.etag, /-5$/, "a 5-part multipart etag");
    const methods = rec.calls.map(
      (c) => `${c.split(" ")[0]} ${/[?&](uploads|partNumber|uploadId)=/.exec(c)?.[1] ?? ""}`,
    );
    assert.equal(methods.filter((m) => m === "PUT partNumber").length, 5);
    assert.equal(methods.filter((m) => m === "POST uploads").length, 1);
    assert.equal(methods.filter((m) => m === "POST uploadId").length, 1);
    const meta = await s.head(key);
    assert.equal(meta.size, 40 * MiB);
    assert.equal(meta.etag, put.etag);
    assert.equal(meta.metadata?.owner, "mp");
    assert.deepEqual(await blockDigests((await s.get(key)).body), await expectedDigests(40));
    await s.delete(key);
  });

  it("a failing multipart upload is aborted and leaves no object", { timeout: 60_000 }, async () => {
    const rec = recording(transport());
    const s = store({ transport: rec.transport, multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    const key = `${uniquePrefix()}broken.bin`;
    let i = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i++ < 7) c.enqueue(block(i, MiB));
        else c.error(new Error("source broke"));
      },
    });
    assert.equal(await codeOf(s.put(key, failing, { size: 12 * MiB })), "Unknown");
    assert.ok(
      rec.calls.some((c) => c.startsWith("DELETE ") && c.includes("uploadId=")),
      "abort sent",
    );
    assert.equal(await codeOf(s.head(key)), "NotFound");
    // A stream shorter than declared is InvalidArgument, and aborted too.
    assert.equal(await codeOf(s.put(key, blockStream(6), { size: 12 * MiB })), "InvalidArgument");
    assert.equal(await codeOf(s.head(key)), "NotFound");
  });

  it("create above the multipart threshold is one conditional PUT", async () => {
    const rec = recording(transport());
    const s = store({ transport: rec.transport, multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    const key = `${uniquePrefix()}create-big.bin`;
    const bytes = block(1, 6 * MiB);
    await s.put(key, bytes, { mode: "create" });
    assert.equal(await codeOf(s.put(key, bytes, { mode: "create" })), "AlreadyExists");
    assert.ok(!rec.calls.some((c) => c.includes("uploads")), "no multipart upload");
    assert.equal((await s.head(key)).size, 6 * MiB);
    await s.delete(key);
  });

  it("2,500 keys list in pages of maxKeys and bulk-delete in batches of 1,000", {
    timeout: 120_000,
  }, async () => {
    const rec = recording(transport());
    const s = store({ transport: rec.transport, maxKeys: 500 });
    assert.equal(s.capabilities.listPageSize, 500);
    const p = uniquePrefix();
    const keys = Array.from({ length: 2500 }, (_, i) => `${p}k/${String(i).padStart(5, "0")} x+y`);
    for (let i = 0; i < keys.length; i += 100)
      await Promise.all(keys.slice(i, i + 100).map((k) => s.put(k, "")));
    rec.calls.length = 0;
    const listed = await collect(s.list(`${p}k/`));
    assert.deepEqual(
      listed.map((m) => m.key),
      keys,
    );
    assert.equal(rec.calls.length, 5, "5 list pages of 500");
    const rolled = await collect(s.list(p, { delimiter: "/" }));
    assert.deepEqual(rolled, [{ key: `${p}k/`, size: 0, etag: "", isPrefix: true }]);
    rec.calls.length = 0;
    const res = await s.deleteMany(keys);
    assert.deepEqual(res, { deleted: 2500, errors: [] });
    assert.equal(rec.calls.length, 3, "3 DeleteObjects requests");
    assert.ok(rec.calls.every((c) => c.startsWith("POST ") && c.endsWith("?delete=")));
    assert.equal((await collect(s.list(`${p}k/`))).length, 0);
  });

  it("keys with . or .. segments are refused (URLs cannot carry them)", async () => {
    const s = store({ transport: transport() });
    const p = uniquePrefix();
    assert.equal(await codeOf(s.put(`${p}a/../b`, "x")), "InvalidArgument");
    assert.equal(await codeOf(s.get(`${p}./b`)), "InvalidArgument");
    await s.put(`${p}a/.../b..c/.d`, "dots");
    assert.equal(await (await s.get(`${p}a/.../b..c/.d`)).text(), "dots");
  });

  it("non-ASCII metadata values round-trip (RFC 2047 on the wire)", async () => {
    const s = store({ transport: transport() });
    const key = `${uniquePrefix()}meta`;
    await s.put(key, "x", { metadata: { who: "Zoë 🦀", plain: "a b=c" } });
    const m = await s.head(key);
    assert.equal(m.metadata?.who, "Zoë 🦀");
    assert.equal(m.metadata?.plain, "a b=c");
    assert.equal(await codeOf(s.put(key, "x", { metadata: { "bad key": "v" } })), "InvalidArgument");
  });
});

describe("S3Store URL building", () => {
  const base = { bucket: "my-bucket", region: "us-east-1", accessKeyId: "AK", secretAccessKey: "SK" };
  /** The URLs an S3Store with `opts` sends to: its client's, with the store's prefix. */
  const urls = (opts: S3StoreOptions) => {
    const cfg = s3Settings(opts);
    const client = new S3Client(cfg);
    return {
      url: (key?: string, query = "") =>
        client.url(key === undefined ? undefined : cfg.prefix.full(key), query),
    };
  };
  it("path-style puts the bucket in the path and encodes each key segment", () => {
    const s = urls({ ...base, endpoint: "http://127.0.0.1:7480", forcePathStyle: true });
    assert.equal(
      s.url("a b/c+d/é/100%/x!'()*"),
      "http://127.0.0.1:7480/my-bucket/a%20b/c%2Bd/%C3%A9/100%25/x%21%27%28%29%2A",
    );
    assert.equal(s.url(undefined, "list-type=2"), "http://127.0.0.1:7480/my-bucket?list-type=2");
  });
  it("virtual-hosted puts the bucket in the host name", () => {
    const s = urls({ ...base, endpoint: "https://s3.eu-west-1.amazonaws.com", forcePathStyle: false });
    assert.equal(s.url("dir/a?b#c"), "https://my-bucket.s3.eu-west-1.amazonaws.com/dir/a%3Fb%23c");
    assert.equal(s.url(undefined, "delete="), "https://my-bucket.s3.eu-west-1.amazonaws.com/?delete=");
  });
  it("defaults: virtual-hosted for DNS names, path-style for IPs, localhost and dotted buckets", () => {
    assert.match(
      urls({ ...base, endpoint: "https://acc.r2.cloudflarestorage.com" }).url("k"),
      /^https:\/\/my-bucket\.acc/,
    );
    assert.match(
      urls({ ...base, endpoint: "http://localhost:9000" }).url("k"),
      /^http:\/\/localhost:9000\/my-bucket\/k$/,
    );
    assert.match(urls({ ...base, endpoint: "http://[::1]:9000" }).url("k"), /\/my-bucket\/k$/);
    assert.match(
      urls({ ...base, bucket: "a.b.c", endpoint: "https://s3.amazonaws.com" }).url("k"),
      /^https:\/\/s3\.amazonaws\.com\/a\.b\.c\/k$/,
    );
  });
  it("the prefix option and an endpoint path are kept", () => {
    const opts = { ...base, endpoint: "https://gw.example.com/s3/", prefix: "t1", forcePathStyle: true };
    assert.equal(urls(opts).url("k"), "https://gw.example.com/s3/my-bucket/t1/k");
    assert.equal(new S3Store(opts).name, "s3://my-bucket/t1");
  });
  it("bad options are InvalidArgument", async () => {
    assert.equal(await codeOf((async () => new S3Store({ ...base, endpoint: "nope" }))()), "InvalidArgument");
    assert.equal(
      await codeOf((async () => new S3Store({ ...base, endpoint: "http://h", partSize: 1024 }))()),
      "InvalidArgument",
    );
    assert.equal(
      await codeOf((async () => new S3Store({ ...base, endpoint: "http://h", maxKeys: 5000 }))()),
      "InvalidArgument",
    );
    assert.equal(
      await codeOf((async () => new S3Store({ ...base, endpoint: "http://h", partSize: -1 }))()),
      "InvalidArgument",
    );
    // Credentials read from an unset environment variable: a clear error, not aws4fetch's TypeError.
    const unset = undefined as unknown as string;
    for (const creds of [
      { accessKeyId: unset },
      { secretAccessKey: unset },
      { accessKeyId: "" },
      { secretAccessKey: "" },
    ]) {
      assert.equal(
        await codeOf((async () => new S3Store({ ...base, endpoint: "http://h", ...creds }))()),
        "InvalidArgument",
        JSON.stringify(creds),
      );
    }
  });
});

describe("S3Store errors never carry secrets", () => {
  const SECRET = "sEcReT/KeY+wjalrXUtnFEMI0123456789abcdef";
  const TOKEN = "SeSsIoNtOkEn-0123456789";

  function scan(e: unknown, forbidden: RegExp[]): void {
    const texts: string[] = [];
    let cur: unknown = e;
    for (let depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
      texts.push(String(cur));
      if (typeof cur === "object") {
        const o = cur as { message?: unknown; stack?: unknown; errors?: unknown; cause?: unknown };
        texts.push(
          String(o.message),
          String(o.stack),
          JSON.stringify(cur),
          JSON.stringify(Object.entries(cur)),
        );
        if (Array.isArray(o.errors)) for (const x of o.errors) texts.push(String(x), JSON.stringify(x));
        cur = o.cause;
      } else {
        cur = undefined;
      }
    }
    const all = texts.join("\n");
    for (const f of forbidden) assert.doesNotMatch(all, f);
  }
  const forbidden = [
    new RegExp(SECRET.replace(/[+/]/g, "\\$&")),
    new RegExp(TOKEN),
    /Signature=[0-9a-f]{10}/,
    /X-Amz-Signature=(?!\[redacted\])/i,
    /X-Amz-Credential=(?!\[redacted\])/i,
    /AWS4-HMAC-SHA256 Credential=AK/,
  ];

  it("a network error to a closed port is Transient with a sanitized cause chain", async () => {
    const s = new S3Store({
      endpoint: "http://127.0.0.1:9",
      bucket: "b",
      region: "us-east-1",
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const ops = [
      () => s.get("k"),
      () => s.put("k", "v", { mode: "create" }),
      () => collect(s.list("")),
      () => s.deleteMany(["k"]),
    ];
    for (const op of ops) {
      const e = await op().then(
        () => assert.fail("expected an error"),
        (x: unknown) => x,
      );
      assert.equal(await codeOf(Promise.reject(e)), "Transient");
      assert.ok((e as Error).cause, "keeps a (sanitized) cause");
      scan(e, forbidden);
    }
    // Each of the four calls went out twice (create-only puts are retried by
    // their writer-token loop, listings and bulk deletes page by page).
    assert.equal(s.requestsSent(), 8, "every attempt is counted as sent");
  });

  it("a fetch that throws errors quoting the signed request is scrubbed", async () => {
    const leaky: FetchLike = async (input, init) => {
      const h = new Headers(init?.headers);
      const err = new TypeError(
        `fetch failed for ${String(input)}?X-Amz-Signature=abc&X-Amz-Credential=AK/x`,
        {
          cause: new Error(
            `auth header was ${h.get("authorization")} token ${h.get("x-amz-security-token")}`,
          ),
        },
      );
      throw err;
    };
    const s = new S3Store({
      endpoint: "http://127.0.0.1:9",
      bucket: "b",
      region: "us-east-1",
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
      fetch: leaky,
      retry: { maxAttempts: 1 },
    });
    const e = await s.head("k").catch((x: unknown) => x);
    assert.equal(await codeOf(Promise.reject(e)), "Transient");
    scan(e, [...forbidden, /AKIDEXAMPLE/]);
  });

  it.skipIf(!cfg)(
    "a wrong secret on RGW: the error names status and code, not the secret or signature",
    async () => {
      const s = store({ secretAccessKey: SECRET });
      const e = await s.put(`${uniquePrefix()}k`, "v").catch((x: unknown) => x);
      assert.equal(await codeOf(Promise.reject(e)), "PermissionDenied");
      assert.match((e as Error).message, /HTTP 403 SignatureDoesNotMatch/);
      scan(e, forbidden);
    },
  );
});
