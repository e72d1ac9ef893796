import { TidemarkError } from "../errors.ts";
import { checkRange, collectBody, discardBody, objectBody, streamOf } from "./body.ts";
import { checkedSha256, sha256Hex, sha256Of } from "./checksum.ts";
import { claimCopySource, copySourceOf } from "./copy-source.ts";
import { checkedKeys, compareKeys, RollUp, validateKey, validatePrefix } from "./keys.ts";
import { checkLock, lockHolds, lockNotSupported } from "./lock.ts";
import type {
  Body,
  DeleteError,
  DeleteManyOptions,
  DeleteManyResult,
  GetOptions,
  ListOptions,
  ObjectBody,
  ObjectLock,
  ObjectMeta,
  ObjectStore,
  PutMode,
  PutOptions,
  PutResult,
  StoreCapabilities,
} from "./types.ts";
import { locate } from "./types.ts";
import { stripEtag } from "./wire.ts";

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** A name for logs and metrics (default "memory"). */
  name?: string;
  /**
   * Copy from another `MemoryStore` on the "server" (a create-only put of a
   * `copySourceBody` of it; default false): the in-process stand-in
   * of a store's server-side copy, so the mirror's copy path runs in tests
   * and simulations.
   */
  serverSideCopy?: boolean;
  /**
   * Keep Object Lock retentions (`put` with `lock`; default false: such a
   * put is `NotSupported`, as on a bucket created without Object Lock). A
   * locked object cannot be deleted, overwritten or replaced until its
   * `retainUntil` (`PermissionDenied`; `deleteMany` reports it per key): the
   * stricter, unversioned model of what S3 keeps (there a write adds a
   * version and the locked one stays).
   */
  objectLock?: boolean;
  /** Milliseconds clock for `lastModified` and retentions (default `Date.now`). */
  now?: () => number;
}

interface Entry {
  bytes: Uint8Array;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  contentType: string | undefined;
  /** The SHA-256 recorded with the object (hex), when a put asked for one. */
  sha256: string | undefined;
  lock: ObjectLock | undefined;
}

/**
 * An in-process store with exact conditional semantics: create-only puts,
 * If-Match compare-and-swap on etags (every write gets a new etag, even of
 * identical bytes), listing in UTF-8 byte order with `startAfter` and a
 * delimiter, ranges and bulk delete. Each operation takes effect atomically
 * (bodies are read in full first). The default store for tests and demos.
 */
export class MemoryStore implements ObjectStore {
  readonly name: string;
  /** `memory:<uuid>`: every MemoryStore is a store of its own. */
  readonly id: string = `memory:${crypto.randomUUID()}`;
  readonly capabilities: Partial<StoreCapabilities>;
  readonly #entries = new Map<string, Entry>();
  readonly #copies: boolean;
  readonly #locks: boolean;
  readonly #now: () => number;
  #seq = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.name = opts.name ?? "memory";
    this.#copies = opts.serverSideCopy === true;
    this.#locks = opts.objectLock === true;
    this.#now = opts.now ?? Date.now;
    this.capabilities = this.#locks ? { objectLock: true } : {};
  }

  /**
   * With `serverSideCopy`: whether `source` is (under key-renaming wrappers)
   * a `MemoryStore`, so that a create-only `put` of a `copySourceBody` of it
   * is copied in one step, atomically, without reading the body.
   */
  async canCopyFrom(source: ObjectStore): Promise<boolean> {
    return this.#copies && locate(source, "k").store instanceof MemoryStore;
  }

  /** Number of stored objects. */
  get size(): number {
    return this.#entries.size;
  }

  #meta(key: string, e: Entry): ObjectMeta {
    const meta: ObjectMeta = {
      key,
      size: e.bytes.length,
      etag: e.etag,
      lastModified: e.lastModified,
      metadata: { ...e.metadata },
      ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
    };
    if (e.lock) meta.lock = { mode: e.lock.mode, retainUntil: new Date(e.lock.retainUntil) };
    return meta;
  }

  /** `PermissionDenied` when `e`'s retention still holds. */
  #checkUnlocked(key: string, e: Entry | undefined, what: string): void {
    if (e?.lock && lockHolds(e.lock, this.#now())) {
      throw new TidemarkError(
        "PermissionDenied",
        `cannot ${what} ${JSON.stringify(key)}: locked (${e.lock.mode}) until ${e.lock.retainUntil.toISOString()}`,
        { key },
      );
    }
  }

  #lookup(key: string): Entry {
    const e = this.#entries.get(key);
    if (!e) throw new TidemarkError("NotFound", `no object at ${JSON.stringify(key)}`, { key });
    return e;
  }

  async get(key: string, opts: GetOptions = {}): Promise<ObjectBody> {
    validateKey(key);
    const e = this.#lookup(key);
    let bytes = e.bytes;
    if (opts.range) {
      const { start, end } = checkRange(opts.range, bytes.length, key);
      bytes = bytes.subarray(start, end);
    }
    const meta = this.#meta(key, e);
    return objectBody({ ...meta, size: bytes.length }, streamOf(bytes.slice()));
  }

  async head(key: string): Promise<ObjectMeta> {
    validateKey(key);
    return this.#meta(key, this.#lookup(key));
  }

  async put(key: string, body: Body, opts: PutOptions = {}): Promise<PutResult> {
    try {
      validateKey(key);
      if (opts.lock !== undefined) {
        checkLock(opts.lock, key);
        if (!this.#locks) throw lockNotSupported(this.name, key);
      }
    } catch (e) {
      discardBody(body);
      throw e;
    }
    const mode = opts.mode ?? "overwrite";
    const from = mode === "create" ? copySourceOf(body) : undefined;
    const src = from && locate(from.store, from.key);
    if (
      from &&
      src?.store instanceof MemoryStore &&
      (await this.canCopyFrom(from.store)) &&
      claimCopySource(body)
    ) {
      const e = src.store.#lookup(src.key);
      if (e.etag !== from.etag) {
        throw new TidemarkError("PreconditionFailed", `etag of ${JSON.stringify(src.key)} changed`, { key });
      }
      // A copy computes its own checksum when asked, as S3 does for CopyObject with a checksum algorithm.
      const sha256 = opts.sha256 === undefined ? undefined : await sha256Hex(e.bytes);
      return this.#write(key, e.bytes, mode, opts.metadata, e.contentType, opts.lock, sha256);
    }
    const bytes = await collectBody(body, opts.size, key);
    const sha256 =
      opts.sha256 === undefined ? undefined : checkedSha256(key, await sha256Of(bytes), opts.sha256);
    return this.#write(key, bytes, mode, opts.metadata, opts.contentType, opts.lock, sha256);
  }

  /** Stores `bytes` at `key` under `mode`'s condition, atomically (no await). */
  #write(
    key: string,
    bytes: Uint8Array,
    mode: PutMode,
    metadata: Record<string, string> | undefined,
    contentType: string | undefined,
    lock: ObjectLock | undefined,
    sha256: string | undefined,
  ): PutResult {
    const current = this.#entries.get(key);
    if (mode === "create" && current) {
      throw new TidemarkError("AlreadyExists", `object ${JSON.stringify(key)} already exists`, { key });
    }
    // Etags are unquoted in tidemark, but a quoted one (as HTTP gives it) means the same.
    if (typeof mode === "object" && current?.etag !== stripEtag(mode.ifMatch)) {
      throw new TidemarkError(
        "PreconditionFailed",
        current ? `etag of ${JSON.stringify(key)} changed` : `no object at ${JSON.stringify(key)} to replace`,
        { key },
      );
    }
    this.#checkUnlocked(key, current, "overwrite");
    const etag = `m${(++this.#seq).toString(16).padStart(8, "0")}`;
    this.#entries.set(key, {
      bytes: bytes.slice(),
      etag,
      lastModified: new Date(this.#now()),
      metadata: { ...metadata },
      contentType,
      sha256,
      lock: lock && { mode: lock.mode, retainUntil: new Date(lock.retainUntil) },
    });
    return sha256 === undefined ? { etag } : { etag, sha256 };
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    this.#checkUnlocked(key, this.#entries.get(key), "delete");
    this.#entries.delete(key);
  }

  /** Deletes `keys`; a locked one is reported in `errors` (this store keeps no versions: `opts` changes nothing). */
  async deleteMany(
    keys: AsyncIterable<string> | Iterable<string>,
    _opts?: DeleteManyOptions,
  ): Promise<DeleteManyResult> {
    let deleted = 0;
    const errors: DeleteError[] = [];
    const all = await checkedKeys(keys);
    for (const key of all) {
      try {
        this.#checkUnlocked(key, this.#entries.get(key), "delete");
      } catch (e) {
        errors.push({ key, code: "PermissionDenied", message: (e as Error).message });
        continue;
      }
      this.#entries.delete(key);
      deleted++;
    }
    return { deleted, errors };
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    const { startAfter, delimiter } = opts;
    // A snapshot of the matching keys: writes during iteration do not disturb it.
    const keys = [...this.#entries.keys()]
      .filter((k) => k.startsWith(prefix) && (startAfter === undefined || compareKeys(k, startAfter) > 0))
      .sort(compareKeys);
    const rollUp = new RollUp(prefix, delimiter);
    for (const key of keys) {
      const rolled = rollUp.entry(key);
      if (rolled !== undefined) {
        if (rolled) yield rolled;
        continue;
      }
      const e = this.#entries.get(key);
      if (e) yield this.#meta(key, e);
    }
  }
}
