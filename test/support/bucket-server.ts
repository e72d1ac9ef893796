/**
 * A public bucket on loopback: a real HTTP server (node:http) that serves a
 * store's objects the way a public S3/R2 bucket does (GET/HEAD, a single
 * Range, ETag; through the library's `serveObject`) with CORS for any origin,
 * so a page from another origin can read it. Keys can be made to answer a
 * chosen status (401 for a private object). Counts requests per key.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isTidemarkError, type ObjectStore } from "../../src/index.ts";
import { serveObject } from "../../src/server/index.ts";

/** A running bucket server. */
export interface BucketServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** GET/HEAD requests per key (preflights not counted). */
  requests: Map<string, number>;
  /** Range headers received per key, in order. */
  ranges: Map<string, string[]>;
  close(): Promise<void>;
}

/** Options of {@link serveBucket}. */
export interface BucketServerOptions {
  /** Keys answered with this status and no body instead (e.g. 401). */
  statusOf?: (key: string) => number | undefined;
  /** Ignore Range headers: answer 200 with the whole object, as some servers do. */
  ignoreRange?: boolean;
}

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
  "Access-Control-Allow-Headers": "Range, If-None-Match",
  "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges",
};

/** Serves `store` over HTTP on 127.0.0.1 (a free port). */
export async function serveBucket(store: ObjectStore, opts: BucketServerOptions = {}): Promise<BucketServer> {
  const requests = new Map<string, number>();
  const ranges = new Map<string, string[]>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "OPTIONS") {
      res.writeHead(204, CORS).end();
      return;
    }
    const key = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.slice(1));
    requests.set(key, (requests.get(key) ?? 0) + 1);
    const range = req.headers.range;
    if (range) ranges.set(key, [...(ranges.get(key) ?? []), range]);
    const status = opts.statusOf?.(key);
    if (status !== undefined) {
      res.writeHead(status, CORS).end();
      return;
    }
    const headers = new Headers();
    if (range && !opts.ignoreRange) headers.set("Range", range);
    let r: Response;
    try {
      r = await serveObject(
        store,
        key,
        new Request("http://bucket/", { method: req.method ?? "GET", headers }),
      );
    } catch (e) {
      if (!isTidemarkError(e, "NotFound")) throw e;
      r = new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
    }
    res.writeHead(r.status, { ...Object.fromEntries(r.headers), ...CORS });
    if (req.method === "HEAD" || !r.body) {
      res.end();
      return;
    }
    res.end(new Uint8Array(await r.arrayBuffer()));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, CORS).end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    ranges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
