/**
 * Reading a framed object (a fixed header, then an opaque payload) as a
 * stream: the header is collected, then the payload is hashed chunk by
 * chunk and never held whole, so a verifier's memory does not grow with
 * the state it checks.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { hex } from "./ids.ts";

/** What {@link readFramed} read. */
export interface FramedRead {
  /** The first `headerLen` bytes (fewer when the object is shorter). */
  header: Uint8Array;
  /** Bytes after the header, when they were read (`undefined` when `hashPayload` said no). */
  payloadBytes?: number;
  /** SHA-256 of the bytes after the header, lowercase hex (with `payloadBytes`). */
  payloadSha256?: string;
}

/**
 * Reads `headerLen` bytes of `body`, asks `hashPayload(header)` whether the
 * rest is worth reading, then hashes the rest as it streams (or cancels the
 * body). The body is always consumed or cancelled.
 */
export async function readFramed(
  body: ReadableStream<Uint8Array>,
  headerLen: number,
  hashPayload: (header: Uint8Array) => boolean,
): Promise<FramedRead> {
  const reader = body.getReader();
  try {
    const header = new Uint8Array(headerLen);
    let filled = 0;
    let rest: Uint8Array = new Uint8Array(0);
    let ended = false;
    while (filled < headerLen) {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        break;
      }
      const take = Math.min(headerLen - filled, r.value.length);
      header.set(r.value.subarray(0, take), filled);
      filled += take;
      rest = r.value.subarray(take);
    }
    const head = header.subarray(0, filled);
    if (!hashPayload(head)) return { header: head };
    const h = sha256.create();
    let n = rest.length;
    h.update(rest);
    while (!ended) {
      const r = await reader.read();
      if (r.done) break;
      h.update(r.value);
      n += r.value.length;
    }
    return { header: head, payloadBytes: n, payloadSha256: hex(h.digest()) };
  } finally {
    await reader.cancel().catch(() => {});
  }
}
