/**
 * The object-store contract every adapter and wrapper implements.
 *
 * Etags are always given and taken **unquoted** (`abc123`, not `"abc123"`);
 * adapters add quotes where their wire protocol wants them.
 *
 * @module
 */

/** What a store can do; callers consult it through {@link capabilitiesOf}. */
export interface StoreCapabilities {
  /** `put`, `delete` and `deleteMany` work (false: `NotSupported`). */
  write: boolean;
  /** `list` works (false: `NotSupported`; the HTTP store). */
  list: boolean;
  /** `put` with `{ ifMatch }` is a real compare-and-swap. */
  compareAndSwap: boolean;
  /** Entries per list page on the wire (used to count list requests). */
  listPageSize: number;
  /**
   * The store retries its own `Transient` failures (S3Store, R2Store, under
   * their `retry` policy), deciding per request what may be retried: the one
   * owner of retries. `retrying` leaves such a store as it is.
   */
  retries: boolean;
  /**
   * `put` honours {@link PutOptions.lock} (an S3 bucket created with Object
   * Lock; a `MemoryStore` made with `objectLock`). A store without it refuses
   * a locked put with `NotSupported`, never writes it unlocked.
   */
  objectLock: boolean;
}

/** Metadata of a stored object. */
export interface ObjectMeta {
  key: string;
  /** Size in bytes. */
  size: number;
  /** Unquoted entity tag; changes whenever the object is rewritten. */
  etag: string;
  lastModified?: Date;
  /** User metadata (lower-case keys). Listings may omit it. */
  metadata?: Record<string, string>;
  /**
   * The SHA-256 the store recorded with the object (lower-case hex; see
   * {@link PutOptions.sha256}), where it keeps one and this read returns it:
   * memory and directory stores and R2 always; S3 on a `get` with
   * `checksum: true`. Listings omit it.
   */
  sha256?: string;
  /**
   * The object's retention, where the store reports one (an S3 Object Lock
   * retention on the current version, as HEAD and GET answer it).
   */
  lock?: ObjectLock;
  /**
   * Set on list entries that are common prefixes (when `list` was called with
   * a delimiter): `key` is the prefix, ending in the delimiter; size 0, etag "".
   */
  isPrefix?: true;
}

/** An object's metadata and its body (consume the body once). */
export interface ObjectBody extends ObjectMeta {
  body: ReadableStream<Uint8Array>;
  /** Reads the whole body. */
  bytes(): Promise<Uint8Array>;
  /** Reads the whole body as UTF-8. */
  text(): Promise<string>;
}

/** A byte range: `length` omitted means "to the end". */
export interface ByteRange {
  offset: number;
  length?: number;
}

/** Options of {@link ObjectStore.get}. */
export interface GetOptions {
  range?: ByteRange;
  /**
   * Also return the SHA-256 recorded with the object (`ObjectMeta.sha256`)
   * where the store returns it only when asked (S3's checksum mode). Ignored
   * with a range.
   */
  checksum?: boolean;
}

/**
 * How a put treats an existing object:
 * - `"overwrite"` (default): replace it;
 * - `"create"`: fail with `AlreadyExists` if the key exists;
 * - `{ ifMatch }`: replace only if its current etag is `ifMatch`, else `PreconditionFailed`
 *   (also when the key does not exist).
 */
export type PutMode = "overwrite" | "create" | { ifMatch: string };

/**
 * A retention on a stored object (S3 Object Lock): until `retainUntil`,
 * nobody can delete the stored bytes (nor, on S3, that version of the key),
 * the writer's own credentials included. `compliance`: nobody, ever;
 * `governance`: only a principal allowed to bypass it
 * (`s3:BypassGovernanceRetention`). A new write to the key does not touch
 * the locked bytes: on a versioned bucket it becomes a new version.
 */
export interface ObjectLock {
  mode: "governance" | "compliance";
  retainUntil: Date;
}

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  mode?: PutMode;
  /** Byte length; required when the body is a `ReadableStream`. */
  size?: number;
  contentType?: string;
  /** User metadata; keys are lower-cased ASCII. */
  metadata?: Record<string, string>;
  /**
   * Record the body's SHA-256 with the object, where the store can: the
   * digest itself when it is known before the body (the store checks the
   * bytes against it where it can: `Corrupt`, nothing stored), or a
   * function giving it once the body stream has delivered its last byte (a
   * trailing checksum, for a body the caller hashed as it streamed: S3
   * checks it, a directory records it as given). A store that copies a
   * `copySourceBody` on its side computes its own where it can. Where it
   * cannot (Ceph RGW 16, R2 for a trailing digest, a multipart upload), it
   * is ignored: {@link PutResult.sha256} says what was recorded.
   */
  sha256?: Uint8Array | (() => Uint8Array | undefined);
  /**
   * Store the object under this retention (see {@link ObjectLock}). Only a
   * store whose capabilities say `objectLock` takes it; any other refuses
   * the put (`NotSupported`).
   */
  lock?: ObjectLock;
}

/** Result of a put. */
export interface PutResult {
  etag: string;
  version?: string;
  /** The SHA-256 the store recorded with the object (lower-case hex), when it recorded one. */
  sha256?: string;
}

/** A body to store. A `ReadableStream` needs `PutOptions.size`. */
export type Body = Uint8Array | string | ReadableStream<Uint8Array>;

/** One failed key of a bulk delete. */
export interface DeleteError {
  key: string;
  code: string;
  message: string;
}

/** Options of {@link ObjectStore.deleteMany}. */
export interface DeleteManyOptions {
  /**
   * Free the bytes, not only the key: on a store that keeps versions (an S3
   * bucket with versioning, which Object Lock requires) a plain delete only
   * adds a delete marker, and every version stays stored; with `allVersions`
   * every version of each key and its delete markers are deleted. A version
   * the store refuses to delete (an Object Lock retention not yet released)
   * is reported in `errors`, and that key counts as not deleted. A store
   * without versions deletes as usual.
   */
  allVersions?: boolean;
}

/** Result of {@link ObjectStore.deleteMany}. */
export interface DeleteManyResult {
  /** Keys deleted or already absent. */
  deleted: number;
  /** Keys the store refused to delete. */
  errors: DeleteError[];
}

/** Where a key really lives, under any wrappers that only rename keys (see {@link ObjectStore.locate}). */
export interface Located {
  store: ObjectStore;
  key: string;
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions {
  /** Only keys strictly after this one (byte order). */
  startAfter?: string;
  /** Roll up keys sharing `prefix + ... + delimiter` into one `isPrefix` entry. */
  delimiter?: string;
}

/**
 * An object store. All methods throw `TidemarkError`:
 * `InvalidArgument` for a bad key (empty, over 1024 UTF-8 bytes, control
 * characters), `NotFound`, `AlreadyExists`, `PreconditionFailed`,
 * `PermissionDenied`, `NotSupported`, `Transient` (safe to retry), `Corrupt`
 * (a SHA-256 given with a put that is not the body's) or `Unknown`.
 */
export interface ObjectStore {
  /**
   * How the store is shown in messages and logs: never a secret, not unique
   * (its identity is {@link ObjectStore.id}).
   */
  readonly name: string;
  /**
   * Where the keys live, stable across processes and restarts: two stores
   * with the same id read and write the same objects (endpoint, bucket and
   * prefix; a directory's real path). Never a secret. A mirror binds its
   * saved progress to its source's and target's ids. Absent: {@link storeId}
   * falls back to `name`.
   */
  readonly id?: string;
  /** What the store supports; absent means everything (see {@link capabilitiesOf}). */
  readonly capabilities?: Partial<StoreCapabilities>;
  /** Reads an object (or a range of it). `NotFound` if missing. */
  get(key: string, opts?: GetOptions): Promise<ObjectBody>;
  /** Reads an object's metadata. `NotFound` if missing. */
  head(key: string): Promise<ObjectMeta>;
  /** Writes an object; see {@link PutMode} for the conditional modes. */
  put(key: string, body: Body, opts?: PutOptions): Promise<PutResult>;
  /** Deletes an object; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Deletes many keys in batches (1,000 per request where the store has bulk
   * delete). Wrappers pass `opts` on.
   */
  deleteMany(
    keys: AsyncIterable<string> | Iterable<string>,
    opts?: DeleteManyOptions,
  ): Promise<DeleteManyResult>;
  /** Lists keys starting with `prefix`, in UTF-8 byte order. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectMeta>;
  /**
   * Whether a create-only `put` of a {@link copySourceBody} of `source` is
   * copied on the server side, without the bytes passing through this
   * process: the same service and credentials, and a service known (or
   * probed, once) to refuse a copy onto an existing key. Absent: never.
   */
  canCopyFrom?(source: ObjectStore): Promise<boolean>;
  /**
   * The store and key that `key` names once wrappers that only rename keys
   * (`prefixed`) are peeled off: how a server-side copy finds its source.
   * Absent: the store itself.
   */
  locate?(key: string): Located;
  /**
   * Whether `key` is stored under its literal name, so that a program other
   * than tidemark finds the object at that relative path (merutable opening
   * the files of a restored table). An object store names every object by
   * its key; a directory store may not (`FileStore` escapes `%`, splits
   * names over 200 bytes and renames `.tidemark` names). Asked of the store
   * `locate` reaches, under any wrappers. Absent: always.
   */
  storesVerbatim?(key: string): boolean;
  /**
   * How many requests this store has sent to its service since it was made:
   * every attempt of a retried request, and the requests one call makes on
   * its own (the HEAD that settles an ambiguous create, multipart parts, a
   * listing's pages). Stores that talk to a service themselves have it
   * (S3Store, R2Store, HttpStore); a caller that budgets requests (the
   * mirror) counts these, which are what a service bills and a Worker's
   * subrequest limit counts, rather than its own calls. Absent: one request
   * per call.
   */
  requestsSent?(): number;
}

/** Where `key` of `store` really lives (see {@link ObjectStore.locate}). */
export function locate(store: ObjectStore, key: string): Located {
  return store.locate?.(key) ?? { store, key };
}

const DEFAULT_CAPABILITIES: StoreCapabilities = {
  write: true,
  list: true,
  compareAndSwap: true,
  listPageSize: 1000,
  retries: false,
  objectLock: false,
};

/** The store's capabilities, with defaults for what it does not declare. */
export function capabilitiesOf(store: ObjectStore): StoreCapabilities {
  return { ...DEFAULT_CAPABILITIES, ...store.capabilities };
}

/** The identity of `store`: its `id`, or its `name` when it declares none. */
export function storeId(store: ObjectStore): string {
  return store.id ?? store.name;
}

/**
 * What a wrapper of `store` says about itself: the inner store's name,
 * identity and capabilities, and `locate`/`canCopyFrom`/`requestsSent` forwarded (spread
 * into the wrapper object). A wrapper that renames keys overrides `locate`
 * (`prefixed` does, with {@link copyMembers}); one that changes bytes must
 * drop `canCopyFrom` (a server-side copy would skip it).
 */
export function wrapperOf(
  store: ObjectStore,
): Pick<ObjectStore, "name" | "id" | "capabilities" | "locate" | "canCopyFrom" | "requestsSent"> {
  return {
    name: store.name,
    ...(store.id !== undefined ? { id: store.id } : {}),
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    ...(store.requestsSent ? { requestsSent: () => store.requestsSent?.() ?? 0 } : {}),
    ...copyMembers(store),
  };
}

/**
 * The server-side-copy members of a wrapper of `store`: `locate` (through
 * `key`, which maps a key of the wrapper to the inner store's, e.g. a
 * prefix) and `canCopyFrom` when `store` has it.
 */
export function copyMembers(
  store: ObjectStore,
  key: (key: string) => string = (k) => k,
): Pick<ObjectStore, "locate" | "canCopyFrom"> {
  return {
    locate: (k) => locate(store, key(k)),
    ...(store.canCopyFrom
      ? { canCopyFrom: (source: ObjectStore) => store.canCopyFrom?.(source) ?? Promise.resolve(false) }
      : {}),
  };
}
