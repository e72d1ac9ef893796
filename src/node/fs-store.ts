/**
 * `FileStore`: an {@link ObjectStore} on a local directory, for Node and Deno
 * (Deno runs `node:` modules). The directory looks like the bucket: key
 * `metadata/v1.manifest.bin` is the file `<dir>/metadata/v1.manifest.bin`, so
 * a table written by another tool into a directory can be read as it is, and a
 * mirror to a directory can be browsed with `ls`.
 *
 * ## Layout
 *
 * - A key is split on `/`; each segment is one path component, escaped only
 *   where a file system needs it: `%` becomes `%25`, an empty segment `%e`,
 *   the segments `.` and `..` become `%2E` and `%2E%2E`, and a leading `.` of
 *   `.tidemark…` becomes `%2E` (the store's own directories start with it).
 * - A segment longer than 200 UTF-8 bytes (file names stop at 255) is split
 *   into near-equal chunks; all but the last are directories named
 *   `<chunk>%+`. Keys up to the contract's 1,024 bytes therefore fit.
 * - A key can be both an object and the prefix of other keys (`foo` and
 *   `foo/a`), which a file system cannot hold under one name: when `foo` must
 *   be a directory the object `foo` lives beside it as `foo%`. Escaping never
 *   produces a trailing `%`, so the names cannot collide.
 * - A name that is not exactly how FileStore spells a segment (a file
 *   another tool placed, `50%off.txt`, `x%41`, or a name over 200 bytes,
 *   which FileStore would have split) stands for the key spelled
 *   literally: `list` shows it under that key, `get` and `head` read it
 *   when the escaped name is absent, a write to the key replaces it with
 *   the escaped name, `delete` removes both. When both spellings exist the
 *   escaped one is the object and the key is listed once.
 * - `.tidemark-tmp/` holds bodies being written; `.tidemark-meta/<inode>.json`
 *   holds each object's etag, content type and user metadata, keyed by the
 *   inode of its body file so body and metadata change together with one
 *   rename (a sidecar named after the key could describe the wrong body after
 *   a crash between two renames). Both directories are ignored by `list`.
 *
 * ## Guarantees
 *
 * - **Atomic writes**: a body is written to a temporary file (and fsynced
 *   unless `durable: false`), then linked (create) or renamed (overwrite) into
 *   place: a reader sees the old body or the new one, never a partial one.
 * - **Durable names** (unless `durable: false`): the directory is fsynced
 *   after the link or rename, and a directory's parent after creating it, so
 *   an acknowledged create or replace survives an OS crash.
 * - **Create-only** is `link(2)`, which fails when the name exists: atomic
 *   across processes too.
 * - **Etags** are random (128 bits) per write and stored in the sidecar, so an
 *   etag never repeats even if the file system reuses an inode within its
 *   timestamp granularity. A file placed in the directory by another tool has
 *   no sidecar; its etag is derived from inode, mtime and size.
 * - **Compare-and-swap** (`ifMatch`) and overwrites are serialised by a lock
 *   in this process, keyed by the real path of the object's directory: every
 *   `FileStore` reaching that directory shares it (the same path, a symlink
 *   to it, a store rooted above or below it). They are **not** atomic
 *   against another process writing the same key: run one writer process per
 *   directory (the mirror and checkpoint designs need create-only, which is
 *   safe, and CAS only for their own single writer).
 * - Listing walks the directory tree under the prefix and sorts in UTF-8 byte
 *   order; it is a snapshot per directory, not of the whole store.
 *
 * Limits: keys that differ only in case collide on case-insensitive file
 * systems (macOS default, Windows), and macOS may normalise Unicode names;
 * `ino` must be meaningful (Linux, macOS).
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { link, mkdir, open, rename, rmdir, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { TidemarkError, toTidemarkError } from "../errors.ts";
import { checkRange, discardBody, objectBody } from "../store/body.ts";
import { checkedSha256, toHex } from "../store/checksum.ts";
import { checkedKeys, compareKeys, RollUp, validateKey, validatePrefix } from "../store/keys.ts";
import { lockNotSupported } from "../store/lock.ts";
import type {
  Body,
  DeleteManyOptions,
  DeleteManyResult,
  GetOptions,
  ListOptions,
  ObjectBody,
  ObjectMeta,
  ObjectStore,
  PutOptions,
  PutResult,
  StoreCapabilities,
} from "../store/types.ts";
import { stripEtag } from "../store/wire.ts";
import { dirSpellings, locate, walk } from "./fs-find.ts";
import {
  errno,
  fileStream,
  fsError,
  statOrUndefined,
  syncDir,
  unlinkQuietly,
  withDirLock,
  writeTemp,
} from "./fs-io.ts";
import { metaPath, objectMeta } from "./fs-meta.ts";
import { keyComponents, META_DIR, SELF, type Sidecar, TMP_DIR } from "./fs-names.ts";

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * fsync each body before it becomes visible (default true). Off makes
   * writes faster and loses only durability across an OS crash, never atomicity.
   */
  durable?: boolean;
  /** A name for logs (default `file:<absolute dir>`). */
  name?: string;
}

/**
 * An object store on a local directory (Node and Deno). See the module docs
 * for the layout and for which guarantees hold across processes.
 *
 * Throws the contract's codes; file-system errors map to `NotFound`
 * (ENOENT), `PermissionDenied` (EACCES, EPERM, EROFS), `Transient` (EMFILE,
 * EAGAIN, EBUSY) or `Unknown`.
 */
export class FileStore implements ObjectStore {
  readonly name: string;
  readonly capabilities: Partial<StoreCapabilities> = {};
  /** The absolute root directory. */
  readonly dir: string;
  readonly #durable: boolean;
  #ready: Promise<void> | undefined;

  /** A store on `dir` (created on first write if missing). */
  constructor(dir: string, opts: FileStoreOptions = {}) {
    this.dir = resolve(dir);
    this.name = opts.name ?? `file:${this.dir}`;
    this.#durable = opts.durable ?? true;
  }

  /**
   * Whether `key` is the file at its literal relative path: true unless a
   * segment must be escaped (`%`, an empty, `.` or `..` segment, a name
   * starting `.tidemark`) or split (over 200 UTF-8 bytes). A key that is
   * also the directory of another key lives beside it as `key%`, which this
   * cannot know without looking; `restore` refuses such pairs itself.
   */
  storesVerbatim(key: string): boolean {
    validateKey(key);
    const { dirs, file } = keyComponents(key);
    return [...dirs, file].join("/") === key;
  }

  #ensureDirs(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(join(this.dir, TMP_DIR), { recursive: true });
      await mkdir(join(this.dir, META_DIR), { recursive: true });
    })().catch((e) => {
      this.#ready = undefined;
      throw fsError(e, undefined, "cannot create the store directory");
    });
    return this.#ready;
  }

  /** Reads an object or a range of it; the body streams from an open file, so a concurrent overwrite cannot tear it. */
  async get(key: string, opts: GetOptions = {}): Promise<ObjectBody> {
    validateKey(key);
    for (let attempt = 0; ; attempt++) {
      const loc = await locate(this.dir, key).catch((e) => {
        throw fsError(e, key, "cannot read object");
      });
      if (!loc) throw new TidemarkError("NotFound", `no object at ${JSON.stringify(key)}`, { key });
      let fh: Awaited<ReturnType<typeof open>>;
      try {
        fh = await open(loc.path, "r");
      } catch (e) {
        // Replaced or deleted between stat and open: look again once.
        if (errno(e) === "ENOENT" && attempt === 0) continue;
        throw fsError(e, key, "cannot open object");
      }
      try {
        const st = await fh.stat();
        const meta = await objectMeta(this.dir, key, st, true);
        let start = 0;
        let end = st.size;
        if (opts.range) ({ start, end } = checkRange(opts.range, st.size, key));
        return objectBody({ ...meta, size: end - start }, fileStream(fh, start, end));
      } catch (e) {
        await fh.close().catch(() => {});
        throw fsError(e, key, "cannot read object");
      }
    }
  }

  async head(key: string): Promise<ObjectMeta> {
    validateKey(key);
    try {
      const loc = await locate(this.dir, key);
      if (!loc) throw new TidemarkError("NotFound", `no object at ${JSON.stringify(key)}`, { key });
      return await objectMeta(this.dir, key, loc.st, true);
    } catch (e) {
      throw fsError(e, key, "cannot stat object");
    }
  }

  async put(key: string, body: Body, opts: PutOptions = {}): Promise<PutResult> {
    try {
      validateKey(key);
      if (opts.lock !== undefined) throw lockNotSupported(this.name, key);
      if (body instanceof ReadableStream) {
        if (opts.size === undefined || !Number.isSafeInteger(opts.size) || opts.size < 0) {
          throw new TidemarkError(
            "InvalidArgument",
            "a ReadableStream body needs PutOptions.size (a non-negative integer)",
            { key },
          );
        }
      }
      await this.#ensureDirs();
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const tmp = join(this.dir, TMP_DIR, `${randomBytes(12).toString("hex")}.part`);
    let sidecarPath: string | undefined;
    try {
      // A digest given before the body is checked against the bytes written (hashed as they are
      // written); a trailing one is the caller's own over these very bytes, hashed as they streamed
      // to here: recorded as given, not hashed a second time.
      const given = typeof opts.sha256 === "function" ? opts.sha256 : undefined;
      const hash = opts.sha256 === undefined || given ? undefined : createHash("sha256");
      const st = await writeTemp(tmp, body, opts.size, key, this.#durable, hash);
      const trailing = given?.();
      const sha256 =
        hash !== undefined
          ? checkedSha256(key, hash.digest(), opts.sha256)
          : trailing === undefined
            ? undefined
            : toHex(trailing);
      const etag = randomBytes(16).toString("hex");
      const side: Sidecar = {
        key,
        etag,
        size: st.size,
        mtimeMs: st.mtimeMs,
        metadata: { ...opts.metadata },
        ...(opts.contentType === undefined ? {} : { contentType: opts.contentType }),
        ...(sha256 === undefined ? {} : { sha256 }),
      };
      sidecarPath = metaPath(this.dir, st.ino);
      // Nothing visible has this inode yet (the temp file holds it), so a plain write is safe.
      await writeFile(sidecarPath, JSON.stringify(side));
      const mode = opts.mode ?? "overwrite";
      for (let attempt = 1; ; attempt++) {
        const { dirPath, file } = await this.#makeParents(key);
        try {
          await withDirLock(dirPath, () => this.#publish(key, tmp, mode, dirPath, file));
        } catch (e) {
          // A delete emptied and removed the directory between its creation and
          // our link or rename: create it again.
          if (errno(e) === "ENOENT" && attempt < 4) continue;
          throw e;
        }
        sidecarPath = undefined; // published: the sidecar now belongs to the visible file
        if (this.#durable) await syncDir(dirPath);
        return sha256 === undefined ? { etag } : { etag, sha256 };
      }
    } catch (e) {
      throw fsError(e, key, "cannot write object");
    } finally {
      await unlinkQuietly(tmp);
      if (sidecarPath !== undefined) await unlinkQuietly(sidecarPath);
    }
  }

  /**
   * Makes the temp file visible as `dirPath/file` (the escaped spelling of
   * `key`) according to `mode`, under the lock of `dirPath`. The current
   * object is whatever `get` reads: the escaped file, or else a file another
   * tool placed under the key's literal name, which a replace removes so the
   * key keeps one file.
   */
  async #publish(
    key: string,
    tmp: string,
    mode: NonNullable<PutOptions["mode"]>,
    dirPath: string,
    file: string,
  ): Promise<void> {
    const plain = join(dirPath, file);
    const plainSt = await statOrUndefined(plain);
    const altSt = await statOrUndefined(plain + SELF);
    // The object lives beside a same-named directory, or already lives there.
    const useAlt = plainSt?.isDirectory() === true || altSt !== undefined;
    const target = useAlt ? plain + SELF : plain;
    const escaped = useAlt ? altSt : plainSt?.isFile() ? plainSt : undefined;
    const current = escaped ? { path: target, st: escaped } : await locate(this.dir, key);
    if (mode === "create") {
      if (current)
        throw new TidemarkError("AlreadyExists", `object ${JSON.stringify(key)} already exists`, { key });
      try {
        await link(tmp, target);
      } catch (e) {
        // Another process won the race (link is atomic across processes).
        if (errno(e) === "EEXIST") {
          throw new TidemarkError("AlreadyExists", `object ${JSON.stringify(key)} already exists`, { key });
        }
        throw e;
      }
      return;
    }
    if (typeof mode === "object") {
      const etag = current ? (await objectMeta(this.dir, key, current.st, false)).etag : undefined;
      // A quoted etag (as HTTP gives it) means the same as the unquoted one.
      if (etag !== stripEtag(mode.ifMatch)) {
        throw new TidemarkError(
          "PreconditionFailed",
          current
            ? `etag of ${JSON.stringify(key)} changed`
            : `no object at ${JSON.stringify(key)} to replace`,
          { key },
        );
      }
    }
    await rename(tmp, target);
    if (current) {
      if (current.path !== target) await unlinkQuietly(current.path);
      await unlinkQuietly(metaPath(this.dir, current.st.ino));
    }
  }

  /**
   * Creates the parent directories of `key` (fsyncing the directory each new
   * one is created in, when durable). A component that is a file is an object
   * whose key is also a prefix (`foo` when writing `foo/a`): it moves beside
   * the new directory as `foo%`, under the lock of the directory holding it.
   */
  async #makeParents(key: string): Promise<{ dirPath: string; file: string }> {
    const { dirs, file } = keyComponents(key);
    let dir = this.dir;
    for (const c of dirs) {
      const parent = dir;
      dir = join(dir, c);
      for (let attempt = 0; ; attempt++) {
        try {
          await mkdir(dir);
          if (this.#durable) await syncDir(parent);
          break;
        } catch (e) {
          if (errno(e) !== "EEXIST" || attempt > 2) throw e;
          const st = await statOrUndefined(dir);
          if (st?.isDirectory()) break;
          if (st?.isFile()) {
            await withDirLock(parent, async () => {
              if ((await statOrUndefined(dir))?.isFile()) await rename(dir, dir + SELF);
            });
            if (this.#durable) await syncDir(parent);
          }
        }
      }
    }
    return { dirPath: dir, file };
  }

  /** Deletes `key`: every file that spells it (the escaped one and a literal one another tool placed). */
  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      const dir = join(this.dir, ...keyComponents(key).dirs);
      const removed = await withDirLock(dir, () => this.#deleteLocked(key)).catch((e: unknown) => {
        // No escaped directory: nothing of ours to race with; a literal spelling may remain.
        if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return this.#deleteLocked(key);
        throw e;
      });
      // Remove directories left empty, up to the root, so listings and `ls` stay tidy.
      for (const path of removed) {
        for (let d = dirname(path); d.startsWith(this.dir + sep); d = dirname(d)) {
          try {
            await rmdir(d);
          } catch {
            break; // not empty (or gone): stop
          }
        }
      }
    } catch (e) {
      throw fsError(e, key, "cannot delete object");
    }
  }

  async #deleteLocked(key: string): Promise<string[]> {
    const removed: string[] = [];
    for (let i = 0; i < 4; i++) {
      const loc = await locate(this.dir, key);
      if (!loc) break;
      try {
        await unlink(loc.path);
      } catch (e) {
        if (errno(e) !== "ENOENT") throw e;
      }
      await unlinkQuietly(metaPath(this.dir, loc.st.ino));
      removed.push(loc.path);
    }
    return removed;
  }

  async deleteMany(
    keys: AsyncIterable<string> | Iterable<string>,
    _opts?: DeleteManyOptions,
  ): Promise<DeleteManyResult> {
    const all = await checkedKeys(keys);
    let deleted = 0;
    const errors: DeleteManyResult["errors"] = [];
    for (const key of all) {
      try {
        await this.delete(key);
        deleted++;
      } catch (e) {
        const err = toTidemarkError(e);
        errors.push({ key, code: err.code, message: err.message });
      }
    }
    return { deleted, errors };
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    const { startAfter, delimiter } = opts;
    // Walk only the deepest directory the prefix fully names (each of its
    // spellings on disk: escaped, or literal when another tool made it).
    const cut = prefix.lastIndexOf("/");
    const base = cut >= 0 ? prefix.slice(0, cut + 1) : "";
    const found: { key: string; path: string }[] = [];
    try {
      if (base === "") await walk(this.dir, "", "", true, found);
      else {
        for (const dir of await dirSpellings(this.dir, base.slice(0, -1).split("/"))) {
          await walk(dir, base, "", false, found);
        }
      }
    } catch (e) {
      throw fsError(e, undefined, "cannot list");
    }
    const keys = found
      .filter(
        (f) => f.key.startsWith(prefix) && (startAfter === undefined || compareKeys(f.key, startAfter) > 0),
      )
      .sort((a, b) => compareKeys(a.key, b.key));
    const rollUp = new RollUp(prefix, delimiter);
    for (let i = 0; i < keys.length; i++) {
      const f = keys[i] as { key: string; path: string };
      const rolled = rollUp.entry(f.key);
      if (rolled !== undefined) {
        if (rolled) yield rolled;
        continue;
      }
      if (keys[i + 1]?.key === f.key || keys[i - 1]?.key === f.key) {
        // Two spellings of one key (escaped, and literal by another tool): list
        // it once, as `get` reads it.
        if (keys[i - 1]?.key === f.key) continue;
        const loc = await locate(this.dir, f.key).catch(() => undefined);
        if (loc) yield await objectMeta(this.dir, f.key, loc.st, false);
        continue;
      }
      const st = await statOrUndefined(f.path);
      if (st?.isFile()) yield await objectMeta(this.dir, f.key, st, false);
    }
  }
}
