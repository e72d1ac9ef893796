import { isTidemarkError, TidemarkError } from "../errors.ts";
import { checkNumber } from "../options.ts";
import type { Body, ObjectBody, ObjectMeta } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A one-chunk stream of `bytes`. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** Reads a whole stream into one array. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Bytes read at a time into the buffer {@link forEachChunk} reuses. */
const REUSED_CHUNK = 256 * 1024;

/**
 * Reads `stream` to its end, a chunk at a time, each handed to `onChunk`
 * and valid only until the promise it returns settles: a byte stream
 * (`FileStore`'s) is read in BYOB mode into one buffer reused for every
 * chunk, so a long read leaves no garbage behind; any other stream is read
 * as it comes.
 */
export async function forEachChunk(
  stream: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
): Promise<void> {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: read as it comes.
  }
  if (byob === undefined) {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      await onChunk(value);
    }
  }
  let buffer = new ArrayBuffer(REUSED_CHUNK);
  for (;;) {
    const { done, value } = await byob.read(new Uint8Array(buffer));
    if (done || value === undefined) return;
    await onChunk(value);
    // The read transferred the buffer into `value`: the next read reuses it.
    buffer = value.buffer as ArrayBuffer;
  }
}

/** Builds an {@link ObjectBody} from metadata and a stream. */
export function objectBody(meta: ObjectMeta, body: ReadableStream<Uint8Array>): ObjectBody {
  return {
    ...meta,
    body,
    bytes: () => readAll(body),
    text: async () => decoder.decode(await readAll(body)),
  };
}

/** A body whose bytes are known in memory: `Uint8Array` or string. */
export function bodyBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === "string" ? encoder.encode(body) : body;
}

/**
 * The byte length of a body: exact for bytes and strings; for a stream,
 * `size` (required: `InvalidArgument` without it).
 */
export function bodySize(body: Body, size: number | undefined, key: string): number {
  if (body instanceof ReadableStream) {
    if (size === undefined) {
      throw new TidemarkError("InvalidArgument", "a ReadableStream body needs PutOptions.size", { key });
    }
    return checkNumber("PutOptions.size", size, { min: 0 }, { key });
  }
  if (size !== undefined) checkNumber("PutOptions.size", size, { min: 0 }, { key });
  const n = typeof body === "string" ? encoder.encode(body).length : body.length;
  if (size !== undefined && size !== n) {
    throw new TidemarkError("InvalidArgument", `size ${size} does not match body length ${n}`, {
      key,
    });
  }
  return n;
}

/**
 * Reads a put body fully, checking a stream against its declared size
 * (`InvalidArgument` on mismatch).
 */
export async function collectBody(body: Body, size: number | undefined, key: string): Promise<Uint8Array> {
  const expected = bodySize(body, size, key);
  if (!(body instanceof ReadableStream)) return bodyBytes(body);
  let bytes: Uint8Array;
  try {
    bytes = await readAll(body);
  } catch (e) {
    // The caller's own stream failed: still a TidemarkError (the contract), with
    // the source's error kept as the cause.
    if (isTidemarkError(e)) throw e;
    throw new TidemarkError("Unknown", `the body stream of ${JSON.stringify(key)} failed`, { key, cause: e });
  }
  if (bytes.length !== expected) {
    throw new TidemarkError(
      "InvalidArgument",
      `stream delivered ${bytes.length} bytes, declared size ${expected}`,
      { key },
    );
  }
  return bytes;
}

/** Cancels a stream body that will not be read (best effort). */
export function discardBody(body: Body): void {
  if (body instanceof ReadableStream && !body.locked) body.cancel().catch(() => {});
}

/**
 * Checks a range's own numbers (`InvalidArgument`): for stores that learn the
 * size only from the server; {@link checkRange} adds the size check.
 */
export function checkRangeArgs(range: { offset: number; length?: number }, key: string): void {
  checkNumber("range.offset", range.offset, { min: 0 }, { key });
  if (range.length !== undefined) checkNumber("range.length", range.length, { min: 1 }, { key });
}

/** Checks a byte range against an object size; `InvalidArgument` when it falls outside. */
export function checkRange(
  range: { offset: number; length?: number },
  size: number,
  key: string,
): { start: number; end: number } {
  checkRangeArgs(range, key);
  const { offset, length } = range;
  if (offset > size || (offset === size && size > 0)) {
    throw new TidemarkError("InvalidArgument", `range offset ${offset} is past the end (${size} bytes)`, {
      key,
    });
  }
  const end = length === undefined ? size : Math.min(size, offset + length);
  return { start: offset, end };
}

/**
 * After a ranged get failed with `e`: the contract reads a range at offset 0
 * of an empty object as empty, but servers refuse it (S3 and HTTP answer 416,
 * R2 an error), so a failure at offset 0 HEADs the object and returns its
 * empty body; any other failure is thrown as it was.
 */
export async function emptyObjectOr(
  e: unknown,
  range: { offset: number } | undefined,
  head: () => Promise<ObjectMeta>,
): Promise<ObjectBody> {
  if (range?.offset !== 0) throw e;
  const meta = await head();
  if (meta.size !== 0) throw e;
  return objectBody(meta, streamOf(new Uint8Array(0)));
}

/**
 * `range` of a whole-object `body` of `total` bytes, cut out locally (a
 * server that ignores Range answers 200 with everything): the bytes and their
 * size, or `InvalidArgument` (the body cancelled) for a range past the end.
 */
export async function sliceWhole(
  body: ReadableStream<Uint8Array>,
  range: { offset: number; length?: number },
  total: number,
  key: string,
): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
  let cut: { start: number; end: number };
  try {
    cut = checkRange(range, total, key);
  } catch (e) {
    await body.cancel().catch(() => {});
    throw e;
  }
  return { body: sliceStream(body, cut.start, cut.end), size: cut.end - cut.start };
}

/**
 * Bytes `[start, end)` of `body` (for a server that answered a range request
 * with the whole object, 200 instead of 206).
 */
function sliceStream(
  body: ReadableStream<Uint8Array>,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        if (at >= end) {
          c.close();
          await reader.cancel().catch(() => {});
          return;
        }
        const { done, value } = await reader.read();
        if (done) {
          c.close();
          return;
        }
        const from = Math.max(0, start - at);
        const to = Math.min(value.length, end - at);
        at += value.length;
        if (to > from) {
          c.enqueue(value.subarray(from, to));
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** An empty, closed stream. */
export function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.close();
    },
  });
}

/**
 * `body` with read errors turned into `TidemarkError`s by `wrap` (a network
 * failure mid-body surfaces as `Transient`, never as a runtime's own error).
 */
export function guardStream(
  body: ReadableStream<Uint8Array>,
  wrap: (e: unknown) => TidemarkError,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      } catch (e) {
        c.error(isTidemarkError(e) ? e : wrap(e));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
