/**
 * A body that knows where it comes from: `put(key, copySourceBody(...))` on a
 * store that can copy from that source server-side (`canCopyFrom`) becomes a
 * server-side copy; on any other store it is an ordinary stream that reads the
 * source when first pulled. Through wrappers that count, retry or inject
 * faults it stays a `put`, so they see a copy as the write it is.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { ObjectStore } from "./types.ts";

/** What a {@link copySourceBody} names: an object of a store, pinned to one version. */
export interface CopySource {
  store: ObjectStore;
  key: string;
  /** The version to copy: its etag (from a `head` just before). */
  etag: string;
  size: number;
}

const COPY_SOURCE = Symbol.for("tidemark.copy-source");

interface Marked {
  [COPY_SOURCE]?: { source: CopySource; claim(): boolean };
}

/**
 * The bytes of `source.key` on `source.store`, exactly the version with
 * `source.etag` and `source.size` bytes, as a body for `put` (with `size`). A
 * store that can copy from the source server-side (`canCopyFrom`) copies it
 * there without reading it; otherwise the stream GETs the source on its first
 * read and errors `PreconditionFailed` if the object is no longer that
 * version (so metadata naming the etag never labels other bytes).
 */
export function copySourceBody(source: CopySource): ReadableStream<Uint8Array> {
  let started = false;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (!reader) {
          started = true;
          const got = await source.store.get(source.key);
          if (got.etag !== source.etag || got.size !== source.size) {
            await got.body.cancel().catch(() => {});
            throw new TidemarkError(
              "PreconditionFailed",
              `${source.store.name} ${JSON.stringify(source.key)} changed since it was read (etag ${source.etag}, ${source.size} bytes)`,
              { key: source.key },
            );
          }
          reader = got.body.getReader();
        }
        const r = await reader.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      async cancel(reason) {
        started = true;
        await reader?.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  Object.defineProperty(stream, COPY_SOURCE, {
    value: {
      source,
      // Once: the stream was neither read nor claimed before.
      claim: () => {
        if (started) return false;
        started = true;
        return true;
      },
    },
  });
  return stream;
}

/** The source a body names, if it is an unread {@link copySourceBody}. */
export function copySourceOf(body: unknown): CopySource | undefined {
  if (!(body instanceof ReadableStream) || body.locked) return undefined;
  return (body as Marked)[COPY_SOURCE]?.source;
}

/**
 * Takes over an unread {@link copySourceBody} for a server-side copy: true
 * once (the stream is then cancelled without ever reading the source);
 * false if it was read or claimed already.
 */
export function claimCopySource(body: unknown): boolean {
  if (!(body instanceof ReadableStream) || body.locked) return false;
  const mark = (body as Marked)[COPY_SOURCE];
  if (!mark?.claim()) return false;
  body.cancel().catch(() => {});
  return true;
}
