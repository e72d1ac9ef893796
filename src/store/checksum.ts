/**
 * SHA-256 checksums of object bodies: the incremental hasher (pluggable),
 * hex helpers, and a body stream hashed as it passes, checked against an
 * expected digest before its last byte leaves.
 *
 * WebCrypto has no incremental digest (`crypto.subtle.digest` takes the
 * whole body: used for bytes already in memory). A body streamed through is
 * hashed by the runtime's native incremental digest where there is one
 * (Workers' `crypto.DigestStream`), else by @noble/hashes' `sha256.create()`
 * (pure JS); `nodeSha256` from `tidemark/node` is Node's and Deno's
 * `node:crypto`.
 *
 * @module
 */
import { sha256 as nobleSha256Hash } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { TidemarkError } from "../errors.ts";
import { forEachChunk } from "./body.ts";
import type { PutOptions } from "./types.ts";

/**
 * An incremental SHA-256: `update` with each chunk (awaited when it returns
 * a promise: the hasher may still read the chunk until then), then `digest`
 * once.
 */
export interface Sha256 {
  update(bytes: Uint8Array): void | Promise<void>;
  digest(): Uint8Array | Promise<Uint8Array>;
}

/**
 * Makes {@link Sha256} hashers: {@link defaultSha256}, or `nodeSha256` from
 * `tidemark/node` (`node:crypto`: OpenSSL, about 1.5 GiB/s on one core here
 * with the CPU's SHA extensions, against about 200 MiB/s for the pure-JS one).
 */
export type Sha256Factory = () => Sha256;

/** The pure-JavaScript SHA-256 of @noble/hashes. */
export const nobleSha256: Sha256Factory = () => {
  const h = nobleSha256Hash.create();
  return {
    update(bytes) {
      h.update(bytes);
    },
    digest: () => h.digest(),
  };
};

/** Workers' `crypto.DigestStream` (not in the standard, so declared here, and looked for at run time). */
type DigestStreamCtor = new (
  algorithm: string,
) => WritableStream<Uint8Array> & { readonly digest: Promise<ArrayBuffer> };

function digestStreamCtor(): DigestStreamCtor | undefined {
  const c = (globalThis as { crypto?: { DigestStream?: DigestStreamCtor } }).crypto?.DigestStream;
  return typeof c === "function" ? c : undefined;
}

/**
 * The runtime's native incremental SHA-256 (`crypto.DigestStream` in
 * workerd). Each chunk is one write, awaited before the chunk is handed on.
 * (Gathering 4 KiB chunks into larger writes was slower in workerd, measured:
 * the cost is the JavaScript stream a hashed body passes through, not the
 * writes.)
 */
function digestStreamSha256(Ctor: DigestStreamCtor): Sha256 {
  const stream = new Ctor("SHA-256");
  const writer = stream.getWriter();
  return {
    update: (bytes) => writer.write(bytes),
    async digest() {
      await writer.close();
      return new Uint8Array(await stream.digest);
    },
  };
}

/**
 * The default hasher: the runtime's native incremental digest where it has
 * one (Workers' `crypto.DigestStream`; measured in workerd here: 16 MiB in
 * 29 ms, where the pure-JS one took 5.5 s), else pure JavaScript
 * ({@link nobleSha256}). On Node and Deno pass `nodeSha256` from `tidemark/node`.
 */
export const defaultSha256: Sha256Factory = () => {
  const Ctor = digestStreamCtor();
  return Ctor ? digestStreamSha256(Ctor) : nobleSha256();
};

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `s` is a SHA-256 digest in lower-case hex. */
export function isSha256Hex(s: string): boolean {
  return SHA256_HEX.test(s);
}

/** The bytes of a lower-case hex SHA-256 digest (`InvalidArgument` for anything else). */
export function sha256Bytes(hex: string): Uint8Array {
  if (!isSha256Hex(hex)) {
    throw new TidemarkError(
      "InvalidArgument",
      `not a SHA-256 digest in lower-case hex: ${JSON.stringify(hex)}`,
    );
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The SHA-256 of bytes in memory (WebCrypto: native in every runtime). */
export async function sha256Of(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

/** The SHA-256 of bytes in memory, in hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await sha256Of(bytes));
}

/**
 * The SHA-256 of a stream's bytes, read to its end (never held whole; a
 * byte stream into one reused buffer, see `forEachChunk`), in hex.
 * `onBytes` hears of each chunk's length (sizes, progress).
 */
export async function hashStream(
  body: ReadableStream<Uint8Array>,
  hasher: Sha256Factory = defaultSha256,
  onBytes?: (n: number) => void,
): Promise<string> {
  const h = hasher();
  await forEachChunk(body, async (chunk) => {
    // A native hasher works asynchronously: the chunk is read before the buffer is reused.
    await h.update(chunk);
    onBytes?.(chunk.length);
  });
  return toHex(await h.digest());
}

/** Whether two digests are equal. */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/**
 * What a store that hashes a put's body itself records (see
 * `PutOptions.sha256`): its own digest `actual`, checked against the one the
 * put gave (before the body, or after it: a trailing one), as S3 checks an
 * `x-amz-checksum-sha256`.
 *
 * @throws TidemarkError `Corrupt` when they differ (the store stores nothing).
 */
export function checkedSha256(key: string, actual: Uint8Array, given: PutOptions["sha256"]): string {
  const claimed = typeof given === "function" ? given() : given;
  if (claimed !== undefined && !sameDigest(claimed, actual)) {
    throw new TidemarkError(
      "Corrupt",
      `put ${JSON.stringify(key)}: the body's SHA-256 is ${toHex(actual)}, the put said ${toHex(claimed)}: nothing stored`,
      { key },
    );
  }
  return toHex(actual);
}

/** A body stream hashed as it passes (see {@link hashedBody}). */
export interface HashedBody {
  /** The bytes, unchanged. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The SHA-256 of the bytes: known once `size` bytes have passed (`undefined` before). */
  digest(): Uint8Array | undefined;
}

/** Options of {@link hashedBody}. */
export interface HashedBodyOptions {
  /** Makes the hasher (default {@link defaultSha256}). */
  hasher?: Sha256Factory | undefined;
  /**
   * The digest the bytes must have: the stream errors with `mismatch(actual)`
   * instead of delivering its last chunk when they do not, so a store
   * writing it never receives a complete body (a streamed PUT is aborted, a
   * file store drops its temporary file).
   */
  expected?: Uint8Array | undefined;
  /** The error for a digest that is not `expected`. */
  mismatch?: (actual: Uint8Array) => Error;
}

/**
 * `body` (of `size` bytes) passed through unchanged while its SHA-256 is
 * computed: one pass, no copy, no second read. The digest is complete once
 * `size` bytes have passed, before the last chunk is handed on, so a store
 * reading the stream can ask for it right after the last byte (a trailing
 * checksum).
 */
export function hashedBody(
  body: ReadableStream<Uint8Array>,
  size: number,
  opts: HashedBodyOptions = {},
): HashedBody {
  const h = (opts.hasher ?? defaultSha256)();
  let seen = 0;
  let digest: Uint8Array | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const finish = async (): Promise<Error | undefined> => {
    digest = await h.digest();
    const want = opts.expected;
    if (want === undefined || sameDigest(digest, want)) return undefined;
    return (
      opts.mismatch?.(digest) ??
      new TidemarkError("Corrupt", `the body's SHA-256 is ${toHex(digest)}, expected ${toHex(want)}`)
    );
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        reader ??= body.getReader();
        const r = await reader.read();
        if (r.done) {
          // Empty, or short (the store reports the size; no digest then).
          const bad = digest === undefined && seen === size ? await finish() : undefined;
          if (bad) {
            c.error(bad);
            return;
          }
          c.close();
          return;
        }
        const chunk = r.value;
        if (chunk.length === 0) return;
        // A native hasher works asynchronously: the chunk is handed on once it has read it.
        const pending = h.update(chunk);
        if (pending) await pending;
        seen += chunk.length;
        if (seen >= size && digest === undefined) {
          const bad = seen === size ? await finish() : undefined;
          if (bad) {
            c.error(bad);
            await reader.cancel(bad).catch(() => {});
            return;
          }
        }
        c.enqueue(chunk);
      },
      async cancel(reason) {
        await (reader ?? body).cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, digest: () => digest };
}
