/**
 * A broken S3 endpoint for the doctor's tests: an HTTP proxy in front of a
 * real S3 server that drops chosen request headers (`If-None-Match`), so the
 * server behind it never sees the condition, as a store that ignores it
 * would behave. Put it in front of a server that does not check signatures
 * (moto, signatures unchecked): the dropped header was signed.
 */
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

export interface DroppingProxy {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port, forwarding to `target` without the `drop` headers. */
export async function startDroppingProxy(target: string, drop: string[]): Promise<DroppingProxy> {
  const upstream = new URL(target);
  const dropped = new Set(drop.map((h) => h.toLowerCase()));
  const server = createServer((req, res) => {
    const headers = { ...req.headers };
    for (const h of Object.keys(headers)) if (dropped.has(h)) delete headers[h];
    const up = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
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
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
