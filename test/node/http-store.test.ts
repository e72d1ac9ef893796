/**
 * HttpStore against a real HTTP server (node:http serving a temp directory
 * with ETag, Range → 206, 304 on If-None-Match, 404), contract-style reads;
 * writes and list are NotSupported. The same directory is also served the
 * ways that hide an object's size: chunked without Content-Length
 * (`/chunked/`), gzip-compressed when the client allows it (`/gzip/`), and
 * gzip-compressed whatever the client asks, as a misbehaving proxy
 * (`/gzip-always/`); the last two ignore Range, as compressing servers do.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, it } from "vitest";
import { manifestKey } from "../../src/catalog/layout.ts";
import {
  capabilitiesOf,
  createDataFileRef,
  createManifest,
  encodeManifest,
  HttpStore,
  MemoryStore,
  mirrorSnapshot,
  retrying,
  verifyMirror,
} from "../../src/index.ts";
import { codeOf, collect } from "../support/harness.ts";

let dir: string;
let server: Server;
let base: string;
/** The base URL of the same objects served in `mode` (see the module docs). */
const baseOf = (mode: "chunked" | "gzip" | "gzip-always") => base.replace("/objects?", `/${mode}?`);
const requests: { method: string; url: string; headers: Record<string, string | string[] | undefined> }[] =
  [];
let ignoreRange = false;

function serve(): Promise<void> {
  server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const u = new URL(req.url ?? "/", "http://x");
    const mode = /^\/(objects|chunked|gzip|gzip-always)\//.exec(u.pathname)?.[1];
    if (mode === undefined) {
      res.writeHead(404).end();
      return;
    }
    if (u.searchParams.get("token") !== "t0k") {
      res.writeHead(403).end("forbidden");
      return;
    }
    const rel = u.pathname
      .slice(mode.length + 2)
      .split("/")
      .map(decodeURIComponent)
      .join("/");
    const file = resolve(dir, rel);
    if (!file.startsWith(`${dir}/`)) {
      res.writeHead(400).end();
      return;
    }
    let bytes: Buffer;
    try {
      if (!statSync(file).isFile()) throw new Error("dir");
      bytes = readFileSync(file);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const etag = `"${createHash("md5").update(bytes).digest("hex")}"`;
    const common = {
      etag,
      "last-modified": new Date(0).toUTCString(),
      "accept-ranges": "bytes",
      "x-amz-meta-owner": "srv",
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, common).end();
      return;
    }
    if (mode === "chunked") {
      // No Content-Length anywhere (HEAD included), Range ignored: a streaming server.
      res.writeHead(200, common);
      if (req.method !== "HEAD" && bytes.length > 0) {
        res.write(bytes.subarray(0, 3));
        res.write(bytes.subarray(3));
      }
      res.end();
      return;
    }
    const accepts = String(req.headers["accept-encoding"] ?? "");
    if (mode === "gzip-always" || (mode === "gzip" && /gzip/.test(accepts))) {
      // Compressed on the fly: Content-Length is the compressed size; Range ignored.
      const z = gzipSync(bytes);
      res.writeHead(200, { ...common, "content-encoding": "gzip", "content-length": z.length });
      res.end(req.method === "HEAD" ? undefined : z);
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ""));
    if (range && !ignoreRange) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
        return;
      }
      res.writeHead(206, {
        ...common,
        "content-range": `bytes ${start}-${end}/${bytes.length}`,
        "content-length": end - start + 1,
      });
      res.end(req.method === "HEAD" ? undefined : bytes.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...common, "content-length": bytes.length });
    res.end(req.method === "HEAD" ? undefined : bytes);
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      base = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/objects?token=t0k`;
      ok();
    }),
  );
}

function put(rel: string, data: string | Uint8Array): void {
  const f = join(dir, rel);
  mkdirSync(dirname(f), { recursive: true });
  writeFileSync(f, data);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tidemark-http-"));
  put("a.bin", new Uint8Array([0, 1, 2, 250, 251, 255]));
  put("r", "0123456789");
  put("empty", "");
  put("ünïcödé/日本語 a+b%25=~*'()!.txt", "odd key");
  put("metadata/v1.manifest.bin", "MRUB");
  await serve();
});
afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  rmSync(dir, { recursive: true, force: true });
});

describe("HttpStore against node:http", () => {
  it("get and head of a missing key throw NotFound", async () => {
    const s = new HttpStore(base);
    assert.equal(await codeOf(s.get("missing")), "NotFound");
    assert.equal(await codeOf(s.head("missing/x")), "NotFound");
  });

  it("get and head return bytes, size, etag (unquoted), lastModified and x-amz-meta-*", async () => {
    const s = new HttpStore(base);
    const got = await s.get("a.bin");
    assert.deepEqual(await got.bytes(), new Uint8Array([0, 1, 2, 250, 251, 255]));
    assert.equal(got.size, 6);
    assert.match(got.etag, /^[0-9a-f]{32}$/);
    const meta = await s.head("a.bin");
    assert.equal(meta.size, 6);
    assert.equal(meta.etag, got.etag);
    assert.equal(meta.lastModified?.getTime(), 0);
    assert.equal(meta.metadata?.owner, "srv");
  });

  it("ranges: 206 with Content-Range; past the end is InvalidArgument; empty objects read at offset 0", async () => {
    const s = new HttpStore(base);
    requests.length = 0;
    const mid = await s.get("r", { range: { offset: 2, length: 3 } });
    assert.equal(await mid.text(), "234");
    assert.equal(mid.size, 3);
    assert.equal(requests[0]?.headers.range, "bytes=2-4");
    assert.equal(await (await s.get("r", { range: { offset: 7 } })).text(), "789");
    assert.equal(await (await s.get("r", { range: { offset: 8, length: 100 } })).text(), "89");
    assert.equal(await codeOf(s.get("r", { range: { offset: 10 } })), "InvalidArgument");
    assert.equal(await codeOf(s.get("r", { range: { offset: 1, length: 0 } })), "InvalidArgument");
    assert.equal((await (await s.get("empty", { range: { offset: 0 } })).bytes()).length, 0);
    assert.equal((await (await s.get("empty", { range: { offset: 0, length: 4 } })).bytes()).length, 0);
    assert.equal((await s.head("empty")).size, 0);
  });

  it("a server that ignores Range (200) is sliced locally", async () => {
    ignoreRange = true;
    try {
      const s = new HttpStore(base);
      const mid = await s.get("r", { range: { offset: 2, length: 3 } });
      assert.equal(mid.size, 3);
      assert.equal(await mid.text(), "234");
      assert.equal(await codeOf(s.get("r", { range: { offset: 10 } })), "InvalidArgument");
      // An empty object read at offset 0 is empty, as when the server honours Range.
      const empty = await s.get("empty", { range: { offset: 0, length: 4 } });
      assert.equal(empty.size, 0);
      assert.equal((await empty.bytes()).length, 0);
    } finally {
      ignoreRange = false;
    }
  });

  it("odd keys are percent-encoded per segment; the base URL's query is kept", async () => {
    const s = new HttpStore(base);
    requests.length = 0;
    assert.equal(await (await s.get("ünïcödé/日本語 a+b%25=~*'()!.txt")).text(), "odd key");
    assert.match(
      requests[0]?.url ?? "",
      /^\/objects\/%C3%BCn%C3%AF.*\/.*a%2Bb%2525%3D~%2A%27%28%29%21\.txt\?token=t0k$/,
    );
    assert.equal(await codeOf(s.get("x/../a.bin")), "InvalidArgument");
    assert.equal(await codeOf(s.get("")), "InvalidArgument");
    assert.equal(await codeOf(s.get("ctl\u0001")), "InvalidArgument");
  });

  it("403 is PermissionDenied; errors name status and key, never the URL or headers", async () => {
    const s = new HttpStore(base.replace("t0k", "wrong"), { headers: { authorization: "Bearer sekrit" } });
    const e = await s.get("a.bin").then(
      () => assert.fail("expected an error"),
      (x: unknown) => x as Error,
    );
    assert.equal(await codeOf(Promise.reject(e)), "PermissionDenied");
    assert.match(e.message, /http get "a.bin": HTTP 403/);
    assert.doesNotMatch(`${e.message} ${JSON.stringify(e)}`, /wrong|sekrit|token/);
  });

  it("a conditional request header answered 304 is not mistaken for a body; plain gets are 200", async () => {
    const s = new HttpStore(base);
    const etag = (await s.head("a.bin")).etag;
    assert.equal((await (await s.get("a.bin")).bytes()).length, 6, "no If-None-Match sent by default");
    const conditional = new HttpStore(base, { headers: { "if-none-match": `"${etag}"` } });
    assert.equal(await codeOf(conditional.get("a.bin")), "Unknown");
  });

  it("a network error is Transient; retrying() retries it", async () => {
    const s = new HttpStore("http://127.0.0.1:9/x?token=t0k");
    const e = await s.get("k").then(
      () => assert.fail("expected an error"),
      (x: unknown) => x as Error,
    );
    assert.equal(await codeOf(Promise.reject(e)), "Transient");
    assert.doesNotMatch(JSON.stringify(e) + String(e.cause), /t0k/);
    let n = 0;
    const flaky = new HttpStore(base, {
      fetch: (input, init) => (++n < 2 ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init)),
    });
    const retried = retrying(flaky, { baseDelayMs: 1 });
    assert.equal(await (await retried.get("r")).text(), "0123456789");
    assert.equal(flaky.requestsSent(), 2, "the failed attempt was sent too");
    assert.equal(retried.requestsSent?.(), 2, "wrappers report the inner store's count");
  });

  it("writes and list are NotSupported; capabilities say so", async () => {
    const s = new HttpStore(base);
    assert.equal(await codeOf(s.put("k", "v")), "NotSupported");
    assert.equal(await codeOf(s.put("k", new ReadableStream(), { size: 0 })), "NotSupported");
    assert.equal(await codeOf(s.delete("k")), "NotSupported");
    assert.equal(await codeOf(s.deleteMany(["k"])), "NotSupported");
    assert.equal(await codeOf(collect(s.list(""))), "NotSupported");
    assert.deepEqual(
      { ...capabilitiesOf(s), listPageSize: 0 },
      {
        write: false,
        list: false,
        compareAndSwap: false,
        listPageSize: 0,
        retries: false,
        objectLock: false,
      },
    );
  });

  it("a bad base URL is InvalidArgument", async () => {
    assert.equal(await codeOf((async () => new HttpStore("not a url"))()), "InvalidArgument");
    assert.equal(await codeOf((async () => new HttpStore("ftp://x/"))()), "InvalidArgument");
  });
  it("a chunked response without Content-Length reports the real size (get, ranged get, head)", async () => {
    const s = new HttpStore(baseOf("chunked"));
    const whole = await s.get("r");
    assert.equal(whole.size, 10);
    assert.equal(await whole.text(), "0123456789");
    const mid = await s.get("r", { range: { offset: 2, length: 3 } });
    assert.equal(mid.size, 3);
    assert.equal(await mid.text(), "234");
    const tail = await s.get("r", { range: { offset: 7 } });
    assert.equal(tail.size, 3);
    assert.equal(await tail.text(), "789");
    assert.equal(await codeOf(s.get("r", { range: { offset: 10 } })), "InvalidArgument");
    assert.equal((await s.head("r")).size, 10);
    assert.equal((await s.head("a.bin")).size, 6);
    assert.equal((await s.head("empty")).size, 0);
    const empty = await s.get("empty");
    assert.equal(empty.size, 0);
    assert.equal((await empty.bytes()).length, 0);
  });

  it("every request asks for Accept-Encoding: identity, so a server that honours it sends plain sizes", async () => {
    const s = new HttpStore(baseOf("gzip"), { headers: { "accept-encoding": "gzip" } });
    requests.length = 0;
    const got = await s.get("r");
    assert.equal(got.size, 10);
    assert.equal(await got.text(), "0123456789");
    assert.equal((await s.head("r")).size, 10);
    assert.ok(requests.length >= 2);
    for (const r of requests) assert.equal(r.headers["accept-encoding"], "identity", `${r.method} ${r.url}`);
  });

  it("a proxy that compresses anyway: the compressed Content-Length is never taken for the size", async () => {
    const s = new HttpStore(baseOf("gzip-always"));
    assert.ok(gzipSync(Buffer.from("0123456789")).length !== 10);
    const got = await s.get("r");
    assert.equal(got.size, 10);
    assert.equal(await got.text(), "0123456789");
    const mid = await s.get("r", { range: { offset: 2, length: 3 } });
    assert.equal(mid.size, 3);
    assert.equal(await mid.text(), "234");
    assert.equal((await s.head("r")).size, 10);
    assert.equal((await s.head("a.bin")).size, 6);
    assert.deepEqual(await (await s.get("a.bin")).bytes(), new Uint8Array([0, 1, 2, 250, 251, 255]));
  });

  it("an object larger than maxBufferBytes from a server without sizes streams, its size learned otherwise", async () => {
    put(
      "big.bin",
      new Uint8Array(100_000).map((_, i) => i % 251),
    );
    for (const mode of ["chunked", "gzip-always"] as const) {
      const s = new HttpStore(baseOf(mode), { maxBufferBytes: 1024 });
      const got = await s.get("big.bin");
      assert.equal(got.size, 100_000, mode);
      const bytes = await got.bytes();
      assert.equal(bytes.length, 100_000, mode);
      assert.equal(bytes[99_999], 99_999 % 251, mode);
    }
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => new HttpStore(base, { maxBufferBytes: bad }),
        (e: Error) => /InvalidArgument/.test(e.message) && /maxBufferBytes/.test(e.message),
      );
    }
  });

  it("a table mirrors from a chunked or compressing HTTP source", async () => {
    const data = new Uint8Array(5000).map((_, i) => i % 7);
    put("table/data/f1.parquet", data);
    const manifest = createManifest({
      snapshotId: 1n,
      sequenceNumber: 1n,
      tableUuid: "00000000-0000-4000-8000-000000000011",
      dataFiles: [createDataFileRef({ path: "data/f1.parquet", fileSize: 5000n, numRows: 5n, status: 1 })],
    });
    put(`table/${manifestKey(1)}`, encodeManifest(manifest));
    for (const mode of ["chunked", "gzip-always"] as const) {
      const source = new HttpStore(baseOf(mode).replace(`/${mode}?`, `/${mode}/table?`));
      const target = new MemoryStore();
      const r = await mirrorSnapshot({ source, target, version: 1 });
      assert.equal(r.uploadedFiles, 1, mode);
      assert.deepEqual(await (await target.get("data/f1.parquet")).bytes(), data, mode);
      assert.deepEqual(await verifyMirror(target, 1), {
        version: 1,
        ok: true,
        missing: [],
        wrongSize: [],
        foreign: [],
      });
    }
  });
  it("a body whose length differs from the declared one is Corrupt, never handed out under a wrong size", async () => {
    // What a browser sees cross-origin: Content-Encoding is not CORS-safelisted,
    // so the compressed Content-Length looks like the object's.
    const hidden = new HttpStore(baseOf("gzip-always"), {
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        const h = new Headers(r.headers);
        h.delete("content-encoding");
        return new Response(r.body, { status: r.status, headers: h });
      },
    });
    const got = await hidden.get("r");
    assert.equal(await codeOf(got.bytes()), "Corrupt");
  });
});
