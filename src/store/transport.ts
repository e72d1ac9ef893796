/**
 * The HTTP layer under the S3 adapter, as an interface: the store signs a
 * request and hands it to a transport, which sends it and gives the answer
 * back. The default transport is `fetch` (every runtime); `tidemark/node` has
 * one on `node:http` that moves bodies with Node streams (less CPU and memory
 * per byte than `fetch`'s web-stream plumbing). Web-standard globals only.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { guardStream } from "./body.ts";

/** A `fetch` implementation (the global one, or a test's or a runtime's own). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The global `fetch`, looked up at call time (Workers and browsers refuse an unbound `this`). */
export const globalFetch: FetchLike = (input, init) => fetch(input, init);

let redirectMode: "error" | "manual" | undefined;

/**
 * The redirect mode for store requests: "error" where the runtime has it, else
 * "manual". A signed S3 request must never be followed to another host, and
 * Node's fetch (undici) keeps a copy of every streamed request body in memory
 * unless redirect is "error", so that it could replay it after a redirect
 * (measured: a 256 MiB streamed PUT grew RSS by ~290 MiB with "follow" or
 * "manual", ~110 MiB of collectable garbage with "error"). workerd rejects
 * "error" when the Request is built ("won't be implemented since it does not
 * make sense at the edge", https://github.com/cloudflare/workerd/pull/7452),
 * so the mode is feature-detected once.
 */
export function noRedirect(): "error" | "manual" {
  if (redirectMode === undefined) {
    try {
      new Request("http://feature-detect.invalid/", { redirect: "error" });
      redirectMode = "error";
    } catch {
      redirectMode = "manual";
    }
  }
  return redirectMode;
}

/** Response headers: web `Headers` satisfy it. Names are looked up case-insensitively. */
export interface HeadersLike {
  get(name: string): string | null;
  forEach(callback: (value: string, name: string) => void): void;
}

/** One signed request, as a store adapter hands it to a {@link HttpTransport}. */
export interface TransportRequest {
  method: string;
  url: string;
  /** Signed headers (lower-case names); `content-length` is set for every body. */
  headers: Record<string, string>;
  /**
   * The body. A stream must deliver exactly `content-length` bytes: the
   * transport fails the request with {@link bodyTooLong} or {@link bodyTooShort}
   * otherwise, and with {@link bodyFailed} when the stream itself fails.
   */
  body?: Uint8Array | ReadableStream<Uint8Array>;
  /** The object key, for messages about the body. */
  key?: string;
  /**
   * Maps a failure while the response body is read (a connection reset
   * mid-body) to the store's error; the response body stream errors with it.
   */
  responseError(e: unknown): TidemarkError;
}

/** The answer to a {@link TransportRequest}, whatever its status. */
export interface TransportResponse {
  status: number;
  headers: HeadersLike;
  /** The body as a stream (read errors mapped by `responseError`); `null` when there is none. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** Reads the whole body as UTF-8. */
  text(): Promise<string>;
  /** Releases the body unread (a small body is drained, so the connection can be reused). */
  discard(): Promise<void>;
}

/**
 * Sends signed requests. `request` rejects with the runtime's own error for a
 * failure before an answer (the store maps it to `Transient`), or with a
 * `TidemarkError` about the request body (see {@link TransportRequest.body}).
 */
export interface HttpTransport {
  /** For messages and diagnostics (`"fetch"`, `"node:http"`). */
  readonly name: string;
  request(r: TransportRequest): Promise<TransportResponse>;
}

/** `InvalidArgument`: a body stream delivered more bytes than its declared size. */
export function bodyTooLong(size: number, key: string | undefined): TidemarkError {
  return new TidemarkError(
    "InvalidArgument",
    `stream delivered more than the declared size ${size}`,
    key === undefined ? {} : { key },
  );
}

/** `InvalidArgument`: a body stream ended after `seen` of its declared `size` bytes. */
export function bodyTooShort(seen: number, size: number, key: string | undefined): TidemarkError {
  return new TidemarkError(
    "InvalidArgument",
    `stream delivered ${seen} bytes, declared size ${size}`,
    key === undefined ? {} : { key },
  );
}

/** The error for a request whose own body stream failed (`Unknown`, unless the stream threw a tidemark error). */
export function bodyFailed(e: unknown, key: string | undefined): TidemarkError {
  return isTidemarkError(e)
    ? e
    : new TidemarkError("Unknown", `the body stream of ${JSON.stringify(key ?? "")} failed`, {
        ...(key === undefined ? {} : { key }),
        cause: e,
      });
}

/**
 * `body` passed through a counter: a stream that delivers more or fewer bytes
 * than declared errors, and `problem()` then says why; a stream that fails by
 * itself is reported as it failed.
 */
function countedStream(
  body: ReadableStream<Uint8Array>,
  size: number,
  key: string | undefined,
): { stream: ReadableStream<Uint8Array>; problem(): TidemarkError | undefined } {
  const reader = body.getReader();
  let seen = 0;
  let problem: TidemarkError | undefined;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        problem = bodyFailed(e, key);
        c.error(problem);
        return;
      }
      if (r.done) {
        if (seen !== size) {
          problem = bodyTooShort(seen, size, key);
          c.error(problem);
          return;
        }
        c.close();
        return;
      }
      seen += r.value.length;
      if (seen > size) {
        problem = bodyTooLong(size, key);
        c.error(problem);
        await reader.cancel().catch(() => {});
        return;
      }
      c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { stream, problem: () => problem };
}

/**
 * The default transport: `fetch` (the global one unless given), with
 * redirects refused (`noRedirect`), stream bodies sent with `duplex: "half"`
 * (as a `FixedLengthStream` where the runtime has one: Workers send a plain
 * stream chunked, whatever `Content-Length` says), and response body errors
 * mapped by the request's `responseError`.
 */
export function fetchTransport(fetchImpl: FetchLike = globalFetch): HttpTransport {
  return {
    name: "fetch",
    async request(r: TransportRequest): Promise<TransportResponse> {
      const init: RequestInit & { duplex?: "half" } = {
        method: r.method,
        headers: r.headers,
        redirect: noRedirect(),
      };
      let counted: ReturnType<typeof countedStream> | undefined;
      if (r.body instanceof ReadableStream) {
        counted = countedStream(r.body, Number(r.headers["content-length"]), r.key);
        init.body = counted.stream;
        // https://developers.cloudflare.com/workers/runtime-apis/streams/transformstream/#fixedlengthstream
        const Fixed = (
          globalThis as { FixedLengthStream?: new (n: number) => TransformStream<Uint8Array, Uint8Array> }
        ).FixedLengthStream;
        if (Fixed) {
          const fixed = new Fixed(Number(r.headers["content-length"]));
          counted.stream.pipeTo(fixed.writable).catch(() => {});
          init.body = fixed.readable;
        }
        init.duplex = "half";
      } else if (r.body !== undefined) {
        init.body = r.body as BodyInit;
      }
      let res: Response;
      try {
        res = await fetchImpl(r.url, init);
      } catch (e) {
        throw counted?.problem() ?? e;
      }
      let body: ReadableStream<Uint8Array> | null | undefined;
      return {
        status: res.status,
        headers: res.headers,
        get body() {
          if (body === undefined) body = res.body ? guardStream(res.body, r.responseError) : null;
          return body;
        },
        text: () =>
          res.text().catch((e: unknown) => {
            throw r.responseError(e);
          }),
        discard: async () => {
          await res.body?.cancel().catch(() => {});
        },
      };
    },
  };
}
