/**
 * An S3 endpoint that honours CopyObject's documented conditions, for the
 * copy path's tests: no server on this machine does (Ceph RGW 16 and moto 5.2
 * ignore `If-None-Match: *` and `x-amz-copy-source-if-match` on a copy), so
 * this HTTP proxy in front of moto (signatures unchecked) checks them the way
 * AWS documents them (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html):
 * a copy onto an existing key with `If-None-Match: *` is 412, a source whose
 * etag is not `x-amz-copy-source-if-match` is 412. It checks with a HEAD
 * before it forwards, so unlike AWS it is not atomic: tests that race copies
 * against each other do not belong behind it. Every other request passes
 * through untouched.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AwsClient } from "aws4fetch";
import type { S3Connection } from "../services/rgw.ts";

export interface CopyProxy {
  endpoint: string;
  /** CopyObject requests seen (condition checked or not). */
  copies(): number;
  close(): Promise<void>;
}

/** A signed HEAD of `path` (`/bucket/key`, encoded) on the server behind the proxy. */
async function headStatus(
  client: AwsClient,
  upstream: URL,
  path: string,
): Promise<{ status: number; etag: string | undefined }> {
  const res = await client.fetch(`${upstream.origin}${path}`, {
    method: "HEAD",
    headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
  });
  return { status: res.status, etag: res.headers.get("etag")?.replace(/^"|"$/g, "") };
}

function refuse(res: ServerResponse, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>${message}</Message></Error>`;
  res.writeHead(412, { "content-type": "application/xml", "content-length": String(body.length) });
  res.end(body);
}

/** Starts the proxy on a free loopback port in front of `target` (moto, signatures unchecked). */
export async function startCopyProxy(target: S3Connection): Promise<CopyProxy> {
  const upstream = new URL(target.endpoint);
  const client = new AwsClient({
    accessKeyId: target.accessKeyId,
    secretAccessKey: target.secretAccessKey,
    region: target.region,
    service: "s3",
    retries: 0,
  });
  let copies = 0;
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
  const server = createServer((req, res) => {
    const copySource = req.headers["x-amz-copy-source"];
    if (req.method !== "PUT" || typeof copySource !== "string") return forward(req, res);
    copies++;
    (async () => {
      if (req.headers["if-none-match"] === "*") {
        const dest = await headStatus(client, upstream, (req.url ?? "").split("?")[0] ?? "");
        if (dest.status === 200) return refuse(res, "the destination exists");
      }
      const want = req.headers["x-amz-copy-source-if-match"];
      if (typeof want === "string") {
        const src = await headStatus(client, upstream, copySource);
        if (src.etag !== want.replace(/^"|"$/g, "")) return refuse(res, "the source changed");
      }
      forward(req, res);
    })().catch(() => {
      res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    copies: () => copies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
