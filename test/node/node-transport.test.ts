/**
 * `nodeHttpTransport` (tidemark/node) under S3Store: the native pipe between
 * two stores on Ceph RGW, and what a body problem or a broken peer does to a
 * request (local HTTP peers on loopback that misbehave on purpose).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/node-transport.test.ts
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, it } from "vitest";
import { s3SendOptions } from "../../src/cli/s3-send.ts";
import { S3Store, type S3StoreOptions } from "../../src/index.ts";
import { nodeHttpTransport } from "../../src/node/index.ts";
import { assertRejectsOption, codeOf, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const cfg = rgwConfig((k) => process.env[k]);
const MiB = 1024 * 1024;
const LEND = Symbol.for("tidemark.node-http-body");

/** Deterministic bytes. */
function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function digest(b: Uint8Array): Promise<string> {
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>)),
    (x) => x.toString(16).padStart(2, "0"),
  ).join("");
}

/** A loopback HTTP server answering every request with `handler`; closed after the file. */
async function peer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const servers: http.Server[] = [];
afterAll(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

const fakeCreds = {
  bucket: "b",
  region: "us-east-1",
  accessKeyId: "AK",
  secretAccessKey: "SK",
  forcePathStyle: true,
};

describe("the command's S3 stores", () => {
  it("use nodeHttpTransport and nodeSigner on Node; TIDEMARK_S3_TRANSPORT=fetch keeps the defaults", async () => {
    const env = (v?: string) => (name: string) => (name === "TIDEMARK_S3_TRANSPORT" ? v : undefined);
    const onNode = s3SendOptions(env());
    assert.equal(onNode.transport?.name, "node:http");
    assert.equal(onNode.signer?.name, "aws4");
    assert.equal(s3SendOptions(env("node")).transport, onNode.transport, "one transport per process");
    assert.deepEqual(s3SendOptions(env("fetch")), {});
    assert.equal(await codeOf(Promise.resolve().then(() => s3SendOptions(env("undici")))), "InvalidArgument");
  });
});

describe("nodeHttpTransport: options and broken peers", () => {
  it("bad timeoutMs and maxSockets are InvalidArgument naming the option", async () => {
    await assertRejectsOption("timeoutMs", [0, -1, Number.NaN, 1e12], (v) =>
      nodeHttpTransport({ timeoutMs: v }),
    );
    await assertRejectsOption("maxSockets", [0, -1, 1.5], (v) => nodeHttpTransport({ maxSockets: v }));
  });

  it("a get whose connection drops mid-body fails Transient while the body is read", async () => {
    const endpoint = await peer((_req, res) => {
      res.writeHead(200, { "content-length": String(MiB), etag: '"x"' });
      res.write(new Uint8Array(64 * 1024));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const s = new S3Store({ ...fakeCreds, endpoint, transport: nodeHttpTransport() });
    const got = await s.get("k");
    assert.equal(await codeOf(got.bytes()), "Transient");
  });

  it("a get whose connection dropped before its body is read fails Transient at the first read", {
    timeout: 10_000,
  }, async () => {
    const endpoint = await peer((_req, res) => {
      res.writeHead(200, { "content-length": String(MiB), etag: '"x"' });
      res.write(new Uint8Array(1024));
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const s = new S3Store({ ...fakeCreds, endpoint, transport: nodeHttpTransport() });
    const got = await s.get("k");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await codeOf(got.bytes()), "Transient");
  });

  it("a server that never answers fails Transient after timeoutMs", async () => {
    const endpoint = await peer(() => {});
    const s = new S3Store({
      ...fakeCreds,
      endpoint,
      transport: nodeHttpTransport({ timeoutMs: 200 }),
      retry: { maxAttempts: 1 },
    });
    const t0 = performance.now();
    assert.equal(await codeOf(s.head("k")), "Transient");
    assert.ok(performance.now() - t0 < 5_000, "failed near the timeout");
  });
});

describe.skipIf(!cfg)("nodeHttpTransport on Ceph RGW", () => {
  const transport = nodeHttpTransport();
  const store = (extra: Partial<S3StoreOptions> = {}) =>
    new S3Store({ ...cfg!, forcePathStyle: true, transport, ...extra });

  it("a body got through the transport and put through it is piped natively, byte-exact", async () => {
    const s = store();
    const p = uniquePrefix();
    const data = bytes(12 * MiB + 7, 1);
    await s.put(`${p}src`, data);
    const got = await s.get(`${p}src`);
    const lend = (got.body as unknown as Record<symbol, { take(): unknown } | undefined>)[LEND];
    assert.ok(lend, "the body carries its Node stream");
    await s.put(`${p}dst`, got.body, { size: got.size, mode: "create" });
    assert.equal(lend.take(), undefined, "the put took the Node stream");
    assert.ok(got.body.locked, "the web side is locked: nobody else reads it");
    assert.equal(await digest(await (await s.get(`${p}dst`)).bytes()), await digest(data));
  });

  it("a piped body longer or shorter than the declared size is InvalidArgument and stores nothing", async () => {
    const s = store();
    const p = uniquePrefix();
    await s.put(`${p}src`, bytes(3 * MiB, 2));
    for (const delta of [-1, 1]) {
      const got = await s.get(`${p}src`);
      const key = `${p}dst${delta}`;
      assert.equal(
        await codeOf(s.put(key, got.body, { size: got.size + delta, mode: "create" })),
        "InvalidArgument",
      );
      assert.equal(await codeOf(s.head(key)), "NotFound");
    }
    // The transport still serves requests afterwards.
    assert.equal((await s.head(`${p}src`)).size, 3 * MiB);
  });

  it("a create refused while its piped body is sent is AlreadyExists, and the source is released", async () => {
    const s = store();
    const p = uniquePrefix();
    await s.put(`${p}src`, bytes(32 * MiB, 3));
    await s.put(`${p}dst`, "already here");
    const got = await s.get(`${p}src`);
    assert.equal(
      await codeOf(s.put(`${p}dst`, got.body, { size: got.size, mode: "create" })),
      "AlreadyExists",
    );
    assert.equal(await (await s.get(`${p}dst`)).text(), "already here");
    assert.equal((await s.head(`${p}src`)).size, 32 * MiB);
  });

  it("a piped body whose source connection drops mid-body fails the put and stores nothing", async () => {
    const endpoint = await peer((_req, res) => {
      res.writeHead(200, { "content-length": String(4 * MiB), etag: '"x"' });
      res.write(new Uint8Array(MiB));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const broken = new S3Store({ ...fakeCreds, endpoint, transport });
    const s = store();
    const key = `${uniquePrefix()}dst`;
    const got = await broken.get("k");
    assert.equal(await codeOf(s.put(key, got.body, { size: got.size, mode: "create" })), "Transient");
    assert.equal(await codeOf(s.head(key)), "NotFound");
  });

  it("a piped body whose source connection dropped before the put started fails at once", async () => {
    const endpoint = await peer((_req, res) => {
      res.writeHead(200, { "content-length": String(4 * MiB), etag: '"x"' });
      res.write(new Uint8Array(1024));
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const broken = new S3Store({ ...fakeCreds, endpoint, transport });
    const s = store({ transport: nodeHttpTransport({ timeoutMs: 20_000 }) });
    const key = `${uniquePrefix()}dst`;
    const got = await broken.get("k");
    await new Promise((r) => setTimeout(r, 200)); // the source is gone before the put begins
    const t0 = performance.now();
    assert.equal(await codeOf(s.put(key, got.body, { size: got.size, mode: "create" })), "Transient");
    assert.ok(performance.now() - t0 < 5_000, "failed at once, not at the timeout");
    assert.equal(await codeOf(s.head(key)), "NotFound");
  });

  it("a web stream shorter than declared is InvalidArgument and stores nothing", async () => {
    const s = store();
    const key = `${uniquePrefix()}short`;
    const short = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes(1000, 4));
        c.close();
      },
    });
    assert.equal(await codeOf(s.put(key, short, { size: 2000 })), "InvalidArgument");
    assert.equal(await codeOf(s.head(key)), "NotFound");
  });
});
