/**
 * An {@link HttpTransport} on `node:http`/`node:https` for `S3Store`: bodies
 * move as Node streams, and a body read from one store through this transport
 * and written to another through it is piped socket to socket, without the
 * web-stream plumbing of `fetch` in between.
 *
 * @module
 */
import type http from "node:http";
import type https from "node:https";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import type { TidemarkError } from "../errors.ts";
import { MAX_TIMER_MS, numberOption } from "../options.ts";
import {
  bodyFailed,
  bodyTooLong,
  bodyTooShort,
  type HeadersLike,
  type HttpTransport,
  type TransportRequest,
  type TransportResponse,
} from "../store/transport.ts";

// Loaded with require(), not import: the ESM namespace of node:http reads
// every export, and its WebSocket/EventSource getters load undici (measured:
// 0.045 CPU-s and 17 MiB more at start-up). node:https (TLS) only when an
// endpoint is https.
const require = createRequire(import.meta.url);
const nodeHttp = require("node:http") as typeof http;
let nodeHttps: typeof https | undefined;

/** Options of {@link nodeHttpTransport}. */
export interface NodeHttpTransportOptions {
  /**
   * A request fails (`Transient`) when its socket sees no byte for this long
   * (default 300,000 ms, as undici's `headersTimeout`/`bodyTimeout`; at most
   * `MAX_TIMER_MS`).
   */
  timeoutMs?: number;
  /** Connections per host at most (default 64); further requests wait for one. */
  maxSockets?: number;
}

/** A {@link HttpTransport} with keep-alive connections to release. */
export interface NodeHttpTransport extends HttpTransport {
  /** Closes the idle connections (they never keep the process alive). */
  close(): void;
}

/**
 * What a response body made by this transport lends to the same or another
 * instance of it: the Node stream under the web stream, handed over once and
 * only while nobody has read the web stream.
 */
const NODE_BODY = Symbol.for("tidemark.node-http-body");

interface NodeBody {
  take(): { readable: Readable; error(e: unknown): TidemarkError } | undefined;
}

/**
 * A transport on `node:http`/`node:https` with keep-alive connections, for
 * `new S3Store({ ..., transport: nodeHttpTransport() })` on Node (and Deno's
 * `node:http`). The `tidemark` command uses it on Node. Compared with `fetch`
 * (BENCHMARKS.md, "Mirror"): a copy between two buckets takes about half the
 * CPU, and a streamed body is never queued twice.
 *
 * - A body stream must deliver exactly its `content-length`; otherwise the
 *   request is aborted (the server never sees a short body as complete) and
 *   fails `InvalidArgument`.
 * - A response body from this transport, written unread to a store using this
 *   transport, is piped from socket to socket (Node backpressure, no web
 *   stream in between).
 * - A response that comes while the body is still being sent (a refused
 *   create) stops the upload; that connection is closed, not reused.
 *
 * @throws TidemarkError `InvalidArgument` naming the option for a bad
 *   `timeoutMs` or `maxSockets`.
 */
export function nodeHttpTransport(opts: NodeHttpTransportOptions = {}): NodeHttpTransport {
  const timeoutMs = numberOption("timeoutMs", opts.timeoutMs, 300_000, { min: 1, max: MAX_TIMER_MS });
  const maxSockets = numberOption("maxSockets", opts.maxSockets, 64, { min: 1 });
  const agents: Agents = { options: { keepAlive: true, maxSockets, scheduling: "lifo" } };
  return {
    name: "node:http",
    request: (r) => send(r, agents, timeoutMs),
    close() {
      agents.http?.destroy();
      agents.https?.destroy();
    },
  };
}

/** The transport's keep-alive agents, one per scheme (made on its first request). */
interface Agents {
  options: http.AgentOptions;
  http?: http.Agent;
  https?: https.Agent;
}

/** The `request` function and agent for `url`'s scheme. */
function agentFor(url: URL, agents: Agents): { request: typeof http.request; agent: http.Agent } {
  if (url.protocol === "https:") {
    nodeHttps ??= require("node:https") as typeof https;
    agents.https ??= new nodeHttps.Agent(agents.options);
    return { request: nodeHttps.request, agent: agents.https };
  }
  agents.http ??= new nodeHttp.Agent(agents.options);
  return { request: nodeHttp.request, agent: agents.http };
}

function send(r: TransportRequest, agents: Agents, timeoutMs: number): Promise<TransportResponse> {
  return new Promise<TransportResponse>((resolve, reject) => {
    const url = new URL(r.url);
    const via = agentFor(url, agents);
    let settled = false;
    let bodyDone = r.body === undefined;
    let stopBody: (() => void) | undefined;
    const req = via.request(url, {
      method: r.method,
      headers: r.headers,
      agent: via.agent,
      timeout: timeoutMs,
    });
    req.on("timeout", () => req.destroy(new Error(`no bytes for ${timeoutMs} ms`)));
    req.on("error", (e) => {
      if (settled) return;
      settled = true;
      reject(e);
    });
    req.on("response", (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      if (!bodyDone) {
        // Answered before the body was sent (a refused create): stop sending;
        // the connection is unusable for another request, so it goes.
        stopBody?.();
        res.on("end", () => req.destroy());
      }
      resolve(nodeResponse(res, r));
    });
    const size = Number(r.headers["content-length"] ?? 0);
    const finish = () => {
      bodyDone = true;
      req.end();
    };
    // A problem of the body itself: the request is aborted with it, so the
    // server never takes a short body for a complete one.
    const abort = (problem: TidemarkError) => {
      bodyDone = true;
      req.destroy(problem);
    };
    if (r.body === undefined) {
      req.end();
    } else if (r.body instanceof Uint8Array) {
      bodyDone = true;
      req.end(r.body);
    } else {
      const native = (r.body as ReadableStream<Uint8Array> & { [NODE_BODY]?: NodeBody })[NODE_BODY]?.take();
      if (native && !r.body.locked) {
        r.body.getReader(); // locked: nobody reads the web side any more
        stopBody = pipeNative(native, req, size, r.key, finish, abort);
      } else {
        stopBody = pumpWeb(r.body, req, size, r.key, finish, abort);
      }
    }
  });
}

/** Pipes a Node readable (a response body of this transport) into `req`, counting bytes. */
function pipeNative(
  source: { readable: Readable; error(e: unknown): TidemarkError },
  req: http.ClientRequest,
  size: number,
  key: string | undefined,
  finish: () => void,
  abort: (problem: TidemarkError) => void,
): () => void {
  const { readable } = source;
  let seen = 0;
  let over = false;
  const stop = () => {
    over = true;
    readable.destroy();
  };
  // Gone before the put began (its 'close' will not come again): fail now, not at the timeout.
  if (readable.destroyed) {
    over = true;
    abort(bodyFailed(source.error(new Error("the source connection closed before the body was read")), key));
    return stop;
  }
  readable.on("data", (chunk: Buffer) => {
    if (over) return;
    seen += chunk.length;
    if (seen > size) {
      stop();
      abort(bodyTooLong(size, key));
      return;
    }
    if (!req.write(chunk)) readable.pause();
  });
  req.on("drain", () => readable.resume());
  readable.on("end", () => {
    if (over) return;
    over = true;
    if (seen !== size) abort(bodyTooShort(seen, size, key));
    else finish();
  });
  readable.on("error", (e) => {
    if (over) return;
    over = true;
    abort(bodyFailed(source.error(e), key));
  });
  readable.on("close", () => {
    if (over) return;
    over = true;
    abort(bodyFailed(source.error(new Error("the source connection closed mid-body")), key));
  });
  req.on("close", () => {
    if (!over) stop();
  });
  readable.resume();
  return stop;
}

/** Writes a web stream into `req` with backpressure, counting bytes. */
function pumpWeb(
  body: ReadableStream<Uint8Array>,
  req: http.ClientRequest,
  size: number,
  key: string | undefined,
  finish: () => void,
  abort: (problem: TidemarkError) => void,
): () => void {
  const reader = body.getReader();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    reader.cancel().catch(() => {});
  };
  req.on("close", stop);
  (async () => {
    let seen = 0;
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (!stopped) abort(bodyFailed(e, key));
        return;
      }
      if (stopped) return;
      if (r.done) break;
      seen += r.value.length;
      if (seen > size) {
        stop();
        abort(bodyTooLong(size, key));
        return;
      }
      if (!req.write(r.value)) {
        await new Promise<void>((ok) => {
          const go = () => {
            req.off("drain", go);
            req.off("close", go);
            ok();
          };
          req.on("drain", go);
          req.on("close", go);
        });
        if (stopped) return;
      }
    }
    if (seen !== size) abort(bodyTooShort(seen, size, key));
    else finish();
  })();
  return stop;
}

/** Node's response headers (lower-case names; repeated ones joined, as `Headers` does). */
function nodeHeaders(h: http.IncomingHttpHeaders): HeadersLike {
  const one = (v: string | string[] | undefined): string | null =>
    v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
  return {
    get: (name) => one(h[name.toLowerCase()]),
    forEach(callback) {
      for (const [name, v] of Object.entries(h)) {
        const value = one(v);
        if (value !== null) callback(value, name);
      }
    },
  };
}

function nodeResponse(res: http.IncomingMessage, r: TransportRequest): TransportResponse {
  const status = res.statusCode ?? 0;
  const bodyless =
    r.method === "HEAD" || status === 204 || status === 304 || res.headers["content-length"] === "0";
  // Nothing to read: consumed now, so the connection goes back to the pool.
  if (bodyless) res.resume();
  let web: ReadableStream<Uint8Array> | null | undefined;
  return {
    status,
    headers: nodeHeaders(res.headers),
    get body() {
      if (web === undefined) web = bodyless ? null : webBody(res, r.responseError);
      return web;
    },
    text: () =>
      bodyless
        ? Promise.resolve("")
        : new Promise<string>((ok, ko) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => ok(Buffer.concat(chunks).toString("utf8")));
            res.on("error", (e) => ko(r.responseError(e)));
            res.on("close", () => {
              if (!res.complete) ko(r.responseError(new Error("the connection closed mid-body")));
            });
          }),
    async discard() {
      if (bodyless || res.complete || res.destroyed) return;
      // A small answer is drained (the connection is reused); a big body unread is cut.
      const len = Number(res.headers["content-length"] ?? Number.NaN);
      if (len <= 65_536) res.resume();
      else res.destroy();
    },
  };
}

/**
 * `res` as a web stream, wired on the first read (so until then the Node
 * stream can be handed to a PUT of this transport instead: {@link NODE_BODY}).
 */
function webBody(
  res: http.IncomingMessage,
  error: (e: unknown) => TidemarkError,
): ReadableStream<Uint8Array> {
  let wired = false;
  let taken = false;
  let over = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (!wired) {
          wired = true;
          // Gone before the first read (its 'close' will not come again).
          if (res.destroyed && !res.complete) {
            over = true;
            c.error(error(new Error("the connection closed before the body was read")));
            return;
          }
          res.on("data", (chunk: Buffer) => {
            if (over) return;
            // A plain Uint8Array view (no copy): what every store gives.
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            if ((c.desiredSize ?? 0) <= 0) res.pause();
          });
          res.on("end", () => {
            if (over) return;
            over = true;
            c.close();
          });
          res.on("error", (e) => {
            if (over) return;
            over = true;
            c.error(error(e));
          });
          res.on("close", () => {
            if (over) return;
            over = true;
            c.error(error(new Error("the connection closed mid-body")));
          });
        }
        res.resume();
      },
      cancel() {
        over = true;
        res.destroy();
      },
    },
    { highWaterMark: 0 },
  );
  const lend: NodeBody = {
    take() {
      if (wired || taken) return undefined;
      taken = true;
      return { readable: res, error };
    },
  };
  Object.defineProperty(stream, NODE_BODY, { value: lend });
  return stream;
}
