/**
 * The `tidemark` command's S3 stores under Deno (src/cli/s3-send.ts): over
 * `nodeHttpTransport` on Deno's `node:http`, a stream body goes out as it
 * comes, with its `Content-Length` (Deno's `fetch` sends a stream chunked,
 * which S3 refuses, so over `fetch` a body was read into memory first).
 * A loopback server takes the upload.
 * Run: DENO_NO_UPDATE_CHECK=1 npx deno test -A --no-check test/deno/cli-s3-send.test.ts
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { s3SendOptions } from "../../src/cli/s3-send.ts";
import type { NodeHttpTransport } from "../../src/node/http-transport.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { denoHarness } from "./harness.ts";

const MiB = 1024 * 1024;

denoHarness("cli").test("under Deno the command's S3 uploads stream with their Content-Length", async () => {
  const send = s3SendOptions(() => undefined);
  assert.equal(send.transport?.name, "node:http");
  assert.equal(send.signer?.name, "aws4");
  let headers: http.IncomingHttpHeaders = {};
  let received = 0;
  let firstBytes: () => void = () => {};
  const sawFirstBytes = new Promise<void>((resolve) => {
    firstBytes = resolve;
  });
  const server = http.createServer((req, res) => {
    headers = req.headers;
    req.on("data", (d: Uint8Array) => {
      received += d.length;
      firstBytes();
    });
    req.on("end", () => {
      res.writeHead(200, { etag: '"e"', "content-length": "0" });
      res.end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  try {
    const { port } = server.address() as AddressInfo;
    const store = new S3Store({
      endpoint: `http://127.0.0.1:${port}`,
      bucket: "b",
      region: "us-east-1",
      accessKeyId: "AK",
      secretAccessKey: "SK",
      forcePathStyle: true,
      ...send,
    });
    // The last MiB comes only once the server has bytes of the first (or
    // after 10 s): a body read into memory before sending would be late.
    let streamed: boolean | undefined;
    let sent = 0;
    const size = 4 * MiB;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === size - MiB) {
          streamed = await Promise.race([
            sawFirstBytes.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
          ]);
        }
        if (sent === size) return c.close();
        c.enqueue(new Uint8Array(MiB).fill(sent / MiB));
        sent += MiB;
      },
    });
    const put = await store.put("k", body, { size, mode: "create" });
    assert.equal(put.etag, "e");
    assert.equal(streamed, true, "the server had bytes before the stream ended");
    assert.equal(headers["content-length"], String(size));
    assert.equal(headers["transfer-encoding"], undefined);
    assert.equal(received, size);
  } finally {
    (send.transport as NodeHttpTransport).close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});
