/**
 * File-system helpers of `FileStore`: errno mapping, in-process locks keyed
 * by real path, directory fsync, a byte stream of an open file, and a body
 * written to a new file.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import type { Stats } from "node:fs";
import { open, realpath, stat, unlink } from "node:fs/promises";
import { TidemarkError } from "../errors.ts";
import type { Body } from "../store/types.ts";
import { encoder } from "./fs-names.ts";

const READ_CHUNK = 64 * 1024;

export function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as { code?: string }).code : undefined;
}

/** Maps a file-system error to a TidemarkError (never with the absolute path of a temp file). */
export function fsError(e: unknown, key: string | undefined, what: string): TidemarkError {
  if (e instanceof TidemarkError) return e;
  const code = errno(e);
  const opts = key === undefined ? { cause: e } : { key, cause: e };
  const msg = `${what}: ${code ?? (e as Error)?.message ?? String(e)}`;
  switch (code) {
    case "ENOENT":
      return new TidemarkError("NotFound", msg, opts);
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new TidemarkError("PermissionDenied", msg, opts);
    case "EMFILE":
    case "ENFILE":
    case "EAGAIN":
    case "EBUSY":
    case "EINTR":
      return new TidemarkError("Transient", msg, opts);
    default:
      return new TidemarkError("Unknown", msg, opts);
  }
}

export async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (e) {
    if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return undefined;
    throw e;
  }
}

export async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

// Compare-and-swap and overwrites are serialised per directory, keyed by its
// real path: every FileStore reaching that directory (the same path, a
// symlink to it, or a store rooted above or below it) shares the lock, so no
// two of them can both pass an etag check and then both rename.
const locks = new Map<string, Promise<void>>();

export async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => {
    release = r;
  });
  const tail = prev.then(() => mine);
  locks.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(key) === tail) locks.delete(key);
  }
}

/** Runs `fn` under the lock of directory `dir` (which must exist), keyed by its real path. */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return withLock(await realpath(dir), fn);
}

/**
 * fsyncs a directory, so that names just linked, renamed or created in it
 * survive an OS crash (a file's own fsync does not cover its directory
 * entry; merutable fsyncs its metadata directory after each commit for the
 * same reason).
 */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A byte stream of `[start, end)` of an open file; closes the file when done or cancelled. */
export function fileStream(
  fh: Awaited<ReturnType<typeof open>>,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let pos = start;
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close().catch(() => {});
    }
  };
  // A byte stream: a reader in BYOB mode (deep verification's hashing)
  // reads into one buffer of its own, reused, where a default reader gets a
  // new 64 KiB buffer per read whose garbage V8 collects only once it has
  // grown by its external-memory limit (about 64 MiB above idle).
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      try {
        if (pos >= end) {
          await close();
          controller.close();
          controller.byobRequest?.respond(0);
          return;
        }
        const request = controller.byobRequest;
        const view = request?.view;
        const into =
          view != null
            ? new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, end - pos))
            : new Uint8Array(Math.min(READ_CHUNK, end - pos));
        const { bytesRead } = await fh.read(into, 0, into.length, pos);
        if (bytesRead === 0) {
          await close();
          controller.error(new TidemarkError("Corrupt", "file shrank while being read"));
          return;
        }
        pos += bytesRead;
        if (request && view != null) request.respond(bytesRead);
        else controller.enqueue(bytesRead === into.length ? into : into.subarray(0, bytesRead));
      } catch (e) {
        await close();
        controller.error(fsError(e, undefined, "cannot read object"));
      }
    },
    async cancel() {
      await close();
    },
  }) as ReadableStream<Uint8Array>;
}

/**
 * Writes `body` to the new file `tmp` (checking a stream's declared size),
 * fsynced when `durable`, and returns the file's stats. `hash`, when given,
 * is fed every byte written.
 */
export async function writeTemp(
  tmp: string,
  body: Body,
  size: number | undefined,
  key: string,
  durable: boolean,
  hash?: Hash,
): Promise<Stats> {
  const fh = await open(tmp, "wx");
  try {
    let written = 0;
    if (body instanceof ReadableStream) {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        written += value.length;
        if (written > (size ?? 0)) {
          await reader.cancel().catch(() => {});
          break;
        }
        hash?.update(value);
        await fh.write(value);
      }
    } else {
      const bytes = typeof body === "string" ? encoder.encode(body) : body;
      if (size !== undefined && size !== bytes.length) {
        throw new TidemarkError(
          "InvalidArgument",
          `size ${size} does not match body length ${bytes.length}`,
          {
            key,
          },
        );
      }
      written = bytes.length;
      hash?.update(bytes);
      if (bytes.length > 0) await fh.write(bytes);
    }
    if (size !== undefined && written !== size) {
      throw new TidemarkError(
        "InvalidArgument",
        `stream delivered ${written}+ bytes, declared size ${size}`,
        {
          key,
        },
      );
    }
    if (durable) await fh.sync();
    return await fh.stat();
  } finally {
    await fh.close();
  }
}
