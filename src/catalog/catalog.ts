import { create } from "@bufbuild/protobuf";
import { safetyGate } from "../doctor/safe-store.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { encodeManifest, FILE_STATUS } from "../manifest/codec.ts";
import {
  type DataFileRef,
  DataFileRefSchema,
  type Manifest,
  ManifestSchema,
} from "../manifest/gen/manifest_pb.ts";
import { isLive, referencedFiles } from "../manifest/live.ts";
import { pathProblem } from "../manifest/paths.ts";
import { checkNumber, MAX_TIMER_MS, numberOption } from "../options.ts";
import { backoffDelay, type RetryPolicy, sleep } from "../store/retry.ts";
import { capabilitiesOf, type DeleteError, type ObjectStore } from "../store/types.ts";
import { newWriterToken } from "../store/writer-token.ts";
import { type ManifestFile, manifestDigest, PREVIOUS_LINK_PROPERTY, readManifestIfExists } from "./chain.ts";
import {
  advanceLowWater,
  LOW_WATER_KEY,
  METADATA_PREFIX,
  manifestKey,
  parseManifestKey,
  readBoundary,
  readLowWater,
} from "./layout.ts";
import {
  checkSchemaCompatible,
  checkTableSchema,
  FORMAT_VERSION_PROPERTY,
  MERUTABLE_FORMAT_VERSION,
  readTableSchema,
  SCHEMA_PROPERTY,
  schemaJson,
  type TableSchema,
} from "./schema.ts";
import { findManifestKey, type TableHead, TableReader, type TableSnapshot } from "./table.ts";

/** A data file to add in a commit. Sizes and counts may be `number` or `bigint`. */
export interface DataFileInput {
  /** Path relative to the table root (normalised: see `pathProblem`, docs/layout.md). */
  path: string;
  fileSize: number | bigint;
  numRows: number | bigint;
  level?: number;
  seqMin?: number | bigint;
  seqMax?: number | bigint;
  keyMin?: Uint8Array;
  keyMax?: Uint8Array;
  /** Deletion-vector (puffin) file of this data file, and the blob's place in it. */
  dvPath?: string;
  dvOffset?: number | bigint;
  dvLength?: number | bigint;
  /** 0 columnar, 1 dual. */
  format?: number;
}

/** One commit: files to add, live files to remove, table properties to set. */
export interface CommitInput {
  add?: DataFileInput[];
  /** Paths of live data files to drop from the snapshot. */
  remove?: string[];
  /** Properties to set; `null` deletes one. */
  properties?: Record<string, string | null>;
}

/** Options of {@link Catalog.open}. */
export interface CatalogOptions {
  /** Milliseconds clock for `last_updated_ms` (default `Date.now`). */
  now?: () => number;
  /**
   * Commit attempts before giving up under contention (default 32). merutable uses 16, but
   * N writers committing back to back win about 1/N of the rounds each, so a writer's losing
   * streak grows with N: 8 such writers on Ceph RGW lost up to 16 rounds in a row.
   */
  maxCommitAttempts?: number;
  /**
   * Backoff between contended commit attempts: full jitter, base 2 ms, cap
   * 200 ms by default (merutable backs off 2^n ms up to 200). Uses the
   * `baseDelayMs`, `maxDelayMs`, `random` and `sleep` fields.
   */
  backoff?: RetryPolicy;
  /** A new table's UUID, set on v1 (default `crypto.randomUUID`). */
  newTableUuid?: () => string;
  /**
   * Fail closed: before the first write (`commit`, `expire`), probe the store
   * once with the `doctor` checks a table's safety rests on (create-only,
   * concurrent creators, compare-and-swap, read-after-write, delete of a
   * missing key) and refuse it (`NotSupported` naming the check) if it fails
   * one. About 30 requests, once per store instance. Default false.
   */
  requireSafeStore?: boolean;
  /**
   * The table's schema, merutable's `TableSchema` in its JSON shape (see
   * {@link TableSchema}): every manifest this catalog commits carries it as
   * `merutable.schema.json` (and `merutable.format_version`), so merutable
   * can decode the manifests (and open a `restore` of the table). Validated
   * and normalised as merutable does (field ids assigned). On an existing
   * table it must be the table's schema, or extend it as merutable allows
   * (columns appended, each nullable or with a default). Without it, a
   * table keeps the schema it has (carried forward), or has none.
   */
  schema?: TableSchema;
}

/** The result of {@link Catalog.expire}. */
export interface ExpireResult {
  /** Manifests deleted: the expired versions and leftovers below low_water from earlier expires. */
  deletedManifests: number;
  /**
   * Files deleted: referenced by a deleted manifest and by no retained one, nor by a
   * manifest the store refused to delete (those keep their files until a later expire
   * deletes them).
   */
  deletedFiles: number;
  /** The new low_water (the oldest retained version), or the old one when nothing expired. */
  lowWater: number;
  /** Keys the store refused to delete (they stay below low_water; the next expire retries them). */
  errors: DeleteError[];
}

/**
 * User-metadata key of the token each `commit` call puts on its manifest, to
 * recognise its own create after a lost response. Distinct from the store
 * wrappers' writer token, which `retrying` replaces with its own.
 */
export const COMMIT_TOKEN_KEY = "tidemark-commit";

const toBig = (x: number | bigint, what: string): bigint => {
  if (typeof x === "bigint") return x;
  if (!Number.isSafeInteger(x))
    throw new TidemarkError("InvalidArgument", `${what} must be an integer, got ${x}`);
  return BigInt(x);
};

function checkInputPath(path: unknown, what: string): void {
  const problem = typeof path === "string" ? pathProblem(path) : "is not a string";
  if (problem !== undefined) {
    throw new TidemarkError("InvalidArgument", `cannot commit: ${what} ${JSON.stringify(path)} ${problem}`);
  }
}

/**
 * A table on an object store (layout in docs/layout.md): snapshots are
 * manifests at `metadata/v{N}.manifest.bin`, each written create-only (the
 * commit point), chained by `previous_snapshot_id`.
 *
 * Several `Catalog`s, in several processes, may commit to one table at once:
 * the create-only PUT picks one winner per version and the others rebase.
 *
 * It reads through a {@link TableReader}, so it also reads merutable's
 * primary (the posix layout, `version-hint.text`); it never writes one:
 * `commit` and `expire` on a posix table are `NotSupported` (merutable's
 * engine is that table's only writer, and it keeps its state in memory).
 */
export class Catalog {
  /** The store holding the table (keys relative to the table root). */
  readonly store: ObjectStore;
  readonly #now: () => number;
  readonly #maxAttempts: number;
  readonly #backoff: RetryPolicy;
  readonly #newUuid: () => string;
  readonly #safe: () => Promise<void>;
  readonly #table: TableReader;
  readonly #schema: TableSchema | undefined;
  readonly #schemaJson: string | undefined;
  #head = 0;

  private constructor(store: ObjectStore, opts: CatalogOptions) {
    this.store = store;
    this.#table = new TableReader(store);
    this.#schema = opts.schema === undefined ? undefined : checkTableSchema(opts.schema);
    this.#schemaJson = this.#schema && schemaJson(this.#schema);
    this.#now = opts.now ?? (() => Date.now());
    this.#maxAttempts = numberOption("maxCommitAttempts", opts.maxCommitAttempts, 32, { min: 1 });
    this.#backoff = {
      ...opts.backoff,
      baseDelayMs: numberOption("backoff.baseDelayMs", opts.backoff?.baseDelayMs, 2, {
        min: 0,
        max: MAX_TIMER_MS,
      }),
      maxDelayMs: numberOption("backoff.maxDelayMs", opts.backoff?.maxDelayMs, 200, {
        min: 0,
        max: MAX_TIMER_MS,
      }),
    };
    this.#newUuid = opts.newTableUuid ?? (() => crypto.randomUUID());
    this.#safe = safetyGate(opts.requireSafeStore, store, "catalog", "Catalog");
  }

  /**
   * Opens the table on `store` (which may be empty, or any layout: see
   * `openTable`) and discovers its HEAD.
   *
   * @throws TidemarkError `InvalidArgument` for a bad option, a malformed
   *   `schema` (naming the field), or one the table's own schema rules out;
   *   `Corrupt` when low_water or `version-hint.text` names a missing
   *   manifest or is garbage, when posix manifests exist without
   *   `version-hint.text`,
   *   or when HEAD's schema property is malformed; store errors
   *   (`Transient`, `PermissionDenied`, ...).
   */
  static async open(store: ObjectStore, opts: CatalogOptions = {}): Promise<Catalog> {
    const c = new Catalog(store, opts);
    const head = await c.head();
    if (c.#schema !== undefined && head > 0) {
      const persisted = readTableSchema(await c.manifest(head), c.#table.manifestKey(head));
      if (persisted !== undefined) checkSchemaCompatible(persisted, c.#schema);
    }
    return c;
  }

  /** The table's layout, as the last HEAD discovery found it. */
  get layout(): TableHead["layout"] {
    return this.#table.layout;
  }

  /**
   * The current HEAD version (0 for an empty table), re-discovered from the
   * last one seen: two `head` requests and a read of low_water when nothing
   * changed (the cached HEAD is never trusted below low_water).
   *
   * @throws TidemarkError as {@link discoverHead}.
   */
  async head(): Promise<number> {
    return (await this.#discover()).version;
  }

  async #discover(): Promise<TableHead> {
    const d = await this.#table.discover(this.#head > 0 ? { from: this.#head } : {});
    this.#head = d.version;
    return d;
  }

  /** `NotSupported` for a write to a posix table (merutable's engine is its only writer). */
  #refusePosix(what: string): void {
    if (this.#table.layout !== "posix") return;
    throw new TidemarkError(
      "NotSupported",
      `cannot ${what}: ${this.store.name} is merutable's posix layout (version-hint.text), which merutable's engine writes; ` +
        "tidemark reads it (inspect, mirror, restore) but does not write it",
    );
  }

  /**
   * Snapshot `version`'s manifest.
   *
   * @throws TidemarkError `NotFound` (never written, or expired), `Corrupt`,
   *   `InvalidArgument` for a bad version, store errors.
   */
  async manifest(version: number): Promise<Manifest> {
    return this.#table.manifest(version);
  }

  /**
   * Snapshot `version`'s manifest file, bytes as stored.
   *
   * @throws TidemarkError as {@link Catalog.manifest}.
   */
  async manifestBytes(version: number): Promise<Uint8Array> {
    return this.#table.manifestBytes(version);
  }

  /**
   * Commits snapshot HEAD+1: HEAD's live files minus `remove`, plus `add`
   * (status added; carried entries become status existing; removed entries are
   * dropped from `data_files`, not kept as status deleted), with `properties`
   * merged in. Written create-only; when another writer took the version, HEAD
   * is re-discovered and the transaction rebased onto it (appends commute),
   * with jittered backoff, at most `maxCommitAttempts` times.
   *
   * Maintains `snapshot_id` (= version), `previous_snapshot_id`,
   * `sequence_number` (strictly increasing, at least the largest `seq_max`
   * added), `last_updated_ms` (the clock, never below the previous value),
   * `table_uuid` (set on v1, kept), row lineage (the snapshot's
   * `first_row_id` is the previous `next_row_id`, each added file gets the
   * next `first_row_id`, and `next_row_id` grows by the rows added), and the
   * link to the manifest it was built on ({@link PREVIOUS_LINK_PROPERTY}).
   *
   * **The GC boundary.** A create succeeds whenever the key is free, and a
   * version expire deleted is free again: a writer that stalled between
   * reading HEAD and its create could write an expired number, which no
   * fresh reader would ever see. So after the create, low_water is read
   * (SlateDB's RFC-0026 boundary check); a version below it is withdrawn
   * (deleted) and the commit fails, never acknowledged. The first commit of
   * a table lists `metadata/` once and refuses to start a history where
   * manifests exist without low_water to find them.
   *
   * **The schema.** With a `schema` option the manifest carries it
   * (`merutable.schema.json`, `merutable.format_version`, and its
   * `schema_id` and `last_column_id`); without one, HEAD's schema is carried
   * forward (validated).
   *
   * @returns the committed version.
   * @throws TidemarkError `InvalidArgument` (bad path, duplicate path, bad
   *   number); `PreconditionFailed` when a removed path is not live in HEAD
   *   (removed concurrently, or never there) or an added path already is, or
   *   when the commit landed below the GC boundary (an expire ran while this
   *   writer stalled: its added files may have been deleted with the withdrawn
   *   version; upload them again before committing again); `Corrupt` when the
   *   table has manifests HEAD discovery cannot reach (low_water missing or
   *   garbage), or HEAD's schema property is malformed; `NotSupported` on a
   *   posix table; `Transient` when contention outlasts the attempts; store errors.
   */
  async commit(txn: CommitInput): Promise<number> {
    const add = txn.add ?? [];
    const remove = txn.remove ?? [];
    const seen = new Set<string>();
    for (const f of add) {
      checkInputPath(f.path, "added path");
      if (f.dvPath !== undefined) checkInputPath(f.dvPath, "added dv_path");
      if (seen.has(f.path))
        throw new TidemarkError("InvalidArgument", `cannot commit: ${f.path} added twice`);
      seen.add(f.path);
    }
    for (const p of remove) {
      checkInputPath(p, "removed path");
      if (seen.has(p))
        throw new TidemarkError("InvalidArgument", `cannot commit: ${p} both added and removed`);
    }
    // Build once against an empty base to reject bad numbers before any request.
    this.#build(undefined, 1, add, [], txn.properties, undefined);
    await this.#safe();

    const token = newWriterToken();
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const head = await this.head();
      this.#refusePosix("commit");
      let base: ManifestFile | undefined;
      if (head > 0) {
        base = await readManifestIfExists(this.store, head);
        if (base === undefined) continue; // HEAD moved on and was expired meanwhile: look again.
      } else if (await this.#hiddenHistory()) {
        // A first commit raced ours since we looked: look again. Still none
        // found: the manifests are there, but no reader can find them.
        const again = await this.head();
        if (again > 0) continue;
        throw new TidemarkError(
          "Corrupt",
          "cannot commit: metadata/ holds manifests but HEAD discovery finds no table (low_water missing and v1 gone): " +
            "refusing to start a second history over it; restore metadata/low_water.txt to the oldest version kept",
          { key: LOW_WATER_KEY },
        );
      }
      const version = head + 1;
      const link = base ? await manifestDigest(base.bytes) : undefined;
      const bytes = encodeManifest(this.#build(base?.manifest, version, add, remove, txn.properties, link));
      const key = manifestKey(version);
      let created = false;
      try {
        await this.store.put(key, bytes, {
          mode: "create",
          contentType: "application/octet-stream",
          metadata: { [COMMIT_TOKEN_KEY]: token },
        });
        created = true;
      } catch (e) {
        const lost = isTidemarkError(e, "AlreadyExists");
        if (!lost && !isTidemarkError(e, "Transient")) throw e;
        // Ours already (a retried create whose first response was lost)? Then it is created;
        // rebasing would commit the same files twice.
        created = await this.#isOurs(key, token);
        if (!created && !lost) throw e;
        // The winner's version exists: re-discover from there.
        if (!created && version > this.#head) this.#head = version;
      }
      if (created) {
        this.#table.assumeLayout("object-store");
        await this.#checkBoundary(version);
        this.#head = version;
        return version;
      }
      await (this.#backoff.sleep ?? sleep)(backoffDelay(attempt, this.#backoff));
    }
    throw new TidemarkError(
      "Transient",
      `cannot commit: lost the race for the next version ${this.#maxAttempts} times`,
    );
  }

  /**
   * After creating `version`: is it at or above the GC boundary? Below it, it
   * reused a number expire had deleted: withdraw it and fail the commit.
   */
  async #checkBoundary(version: number): Promise<void> {
    const boundary = (await readBoundary(this.store)).version ?? 0;
    if (version >= boundary) return;
    // Best effort: a withdrawn manifest left behind is below low_water, where
    // no discovery starts and no expire keeps it.
    await this.store.delete(manifestKey(version)).catch(() => {});
    this.#head = 0;
    throw new TidemarkError(
      "PreconditionFailed",
      `cannot commit: v${version} was created below the table's GC boundary (low_water ${boundary}): ` +
        "an expire ran while this writer stalled, so the commit was withdrawn; its added files may have been " +
        "deleted with the expired version: upload them again, then commit again",
      { key: manifestKey(version) },
    );
  }

  /**
   * Before the first commit of a table: does the store hold manifests that
   * discovery did not find (low_water missing while v1 is gone, or posix
   * manifests without `version-hint.text`)? Then it is not an empty table.
   * One listing of `metadata/v`, only when HEAD is 0 (skipped by a store
   * that cannot list).
   */
  async #hiddenHistory(): Promise<boolean> {
    return (await findManifestKey(this.store)) !== undefined;
  }

  async #isOurs(key: string, token: string): Promise<boolean> {
    try {
      return (await this.store.head(key)).metadata?.[COMMIT_TOKEN_KEY] === token;
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return false;
      throw e;
    }
  }

  #build(
    base: Manifest | undefined,
    version: number,
    add: DataFileInput[],
    remove: string[],
    properties: Record<string, string | null> | undefined,
    link: string | undefined,
  ): Manifest {
    const carried = base ? base.dataFiles.filter(isLive) : [];
    const live = new Set(carried.map((f) => f.path));
    for (const p of remove) {
      if (!live.has(p)) {
        throw new TidemarkError(
          "PreconditionFailed",
          `cannot commit: ${p} is not live in snapshot ${version - 1} (removed concurrently, or never added)`,
        );
      }
    }
    for (const f of add) {
      if (live.has(f.path)) {
        throw new TidemarkError(
          "PreconditionFailed",
          `cannot commit: ${f.path} is already live in snapshot ${version - 1}`,
        );
      }
    }
    const removed = new Set(remove);
    const firstRowId = base?.nextRowId ?? 0n;
    let nextRowId = firstRowId;
    let sequence = (base?.sequenceNumber ?? 0n) + 1n;
    const dataFiles: DataFileRef[] = [];
    for (const f of carried) {
      if (removed.has(f.path)) continue;
      dataFiles.push(create(DataFileRefSchema, { ...f, status: FILE_STATUS.existing }));
    }
    for (const f of add) {
      const rows = toBig(f.numRows, "numRows");
      const size = toBig(f.fileSize, "fileSize");
      if (rows < 0n || size < 0n)
        throw new TidemarkError("InvalidArgument", `cannot commit: ${f.path} has a negative size`);
      const ref = create(DataFileRefSchema, {
        path: f.path,
        fileSize: size,
        numRows: rows,
        level: f.level ?? 0,
        seqMin: toBig(f.seqMin ?? 0, "seqMin"),
        seqMax: toBig(f.seqMax ?? 0, "seqMax"),
        keyMin: f.keyMin ?? new Uint8Array(0),
        keyMax: f.keyMax ?? new Uint8Array(0),
        status: FILE_STATUS.added,
        firstRowId: nextRowId,
      });
      if (f.dvPath !== undefined) ref.dvPath = f.dvPath;
      if (f.dvOffset !== undefined) ref.dvOffset = toBig(f.dvOffset, "dvOffset");
      if (f.dvLength !== undefined) ref.dvLength = toBig(f.dvLength, "dvLength");
      if (f.format !== undefined) ref.format = f.format;
      if (ref.seqMax > sequence) sequence = ref.seqMax;
      nextRowId += rows;
      dataFiles.push(ref);
    }
    const props: Record<string, string> = { ...base?.properties };
    for (const [k, v] of Object.entries(properties ?? {})) {
      if (k === PREVIOUS_LINK_PROPERTY) {
        throw new TidemarkError("InvalidArgument", `cannot commit: property ${k} is set by the catalog`);
      }
      if (k === SCHEMA_PROPERTY || k === FORMAT_VERSION_PROPERTY) {
        throw new TidemarkError(
          "InvalidArgument",
          `cannot commit: property ${k} is set by the catalog from its schema option (Catalog.open(store, { schema }))`,
        );
      }
      if (v === null) delete props[k];
      else props[k] = v;
    }
    if (link === undefined) delete props[PREVIOUS_LINK_PROPERTY];
    else props[PREVIOUS_LINK_PROPERTY] = link;
    const schema = this.#schemaOf(base, version - 1, props);
    const now = BigInt(Math.floor(this.#now()));
    const m = create(ManifestSchema, {
      snapshotId: BigInt(version),
      sequenceNumber: sequence,
      schemaId: schema ? (schema.schema_id ?? 0) : (base?.schemaId ?? 0),
      partitionSpecId: base?.partitionSpecId ?? 0,
      dataFiles,
      deleteFiles: base?.deleteFiles ?? [],
      // Set on v1 only: giving an existing table (one written without a uuid) a new
      // identity would make its mirrors see another table (SplitBrain).
      tableUuid: base ? base.tableUuid : this.#newUuid(),
      // Writers' clocks differ: never let the timestamp go backwards along the chain.
      lastUpdatedMs: base && base.lastUpdatedMs > now ? base.lastUpdatedMs : now,
      properties: props,
      lastColumnId: schema ? (schema.last_column_id ?? 0) : (base?.lastColumnId ?? 0),
      nextRowId,
      firstRowId,
    });
    if (base) m.previousSnapshotId = base.snapshotId;
    // Keep fields this version of tidemark does not know (a newer writer's).
    if (base?.$unknown) m.$unknown = base.$unknown;
    return m;
  }

  /**
   * The schema snapshot `version` carries, set into `props` (the new
   * manifest's properties, copied from `base`'s): this catalog's schema when
   * it has one (checked against the base's: another writer may have set
   * one since `open`), else the base's, validated.
   */
  #schemaOf(
    base: Manifest | undefined,
    baseVersion: number,
    props: Record<string, string>,
  ): TableSchema | undefined {
    const persisted = base && readTableSchema(base, manifestKey(baseVersion));
    if (this.#schema === undefined || this.#schemaJson === undefined) return persisted;
    if (persisted !== undefined) checkSchemaCompatible(persisted, this.#schema);
    props[SCHEMA_PROPERTY] = this.#schemaJson;
    props[FORMAT_VERSION_PROPERTY] ??= String(MERUTABLE_FORMAT_VERSION);
    return this.#schema;
  }

  /**
   * The table's retained history, newest first: from HEAD back through
   * `previous_snapshot_id` while manifests exist, down to low_water (the
   * oldest version expire keeps; anything below it is expired, or a leftover
   * of an expire that could not delete it). A manifest that is not the one
   * its successor was built on ends the walk too (see `walkChain`). Needs no
   * listing.
   *
   * A manifest that is not what its key promises comes with an `anomaly`
   * (see `ChainEntry`), and the walk goes on.
   *
   * @throws TidemarkError `Corrupt` when a manifest does not decode; store errors.
   */
  async *snapshots(): AsyncIterable<TableSnapshot> {
    const d = await this.#discover();
    yield* this.#table.snapshots(d.version, { stopBelow: d.lowWater });
  }

  /**
   * Expires all but the last `keepLast` snapshots, in the order that keeps
   * readers and writers safe:
   *
   * 1. low_water advances to the oldest retained version (the GC boundary:
   *    discovery never starts below it, and a commit that lands below it is
   *    withdrawn), before anything is deleted;
   * 2. the manifests below it are deleted: the expired versions, and leftovers
   *    from earlier expires that could not delete them (found by one listing
   *    of `metadata/` where the store can list);
   * 3. then the files those manifests referenced that no retained manifest,
   *    and no manifest the store refused to delete, references.
   *
   * A manifest the store refuses to delete keeps its files, so a manifest on
   * the store always has its files; the next expire retries it. A crash
   * between steps 2 and 3 leaks the files of the manifests deleted (nothing
   * references them any more).
   *
   * @throws TidemarkError `InvalidArgument` unless `keepLast` is an integer >= 1;
   *   store errors.
   */
  async expire(opts: { keepLast: number }): Promise<ExpireResult> {
    const keepLast = checkNumber("keepLast", opts?.keepLast, { min: 1 });
    await this.#safe();
    const head = await this.head();
    this.#refusePosix("expire");
    const lw = await readLowWater(this.store);
    const oldStart = Math.max(1, lw.version ?? 1);
    const cutoff = head - keepLast;
    const newLowWater = Math.max(oldStart, cutoff + 1);

    // Everything below the new boundary goes: expired versions and old leftovers.
    const expired = new Set<number>();
    if (capabilitiesOf(this.store).list) {
      for await (const m of this.store.list(`${METADATA_PREFIX}v`)) {
        const v = parseManifestKey(m.key);
        if (v !== undefined && v < newLowWater) expired.add(v);
      }
    } else {
      for (let v = oldStart; v < newLowWater; v++) expired.add(v);
    }
    const none: ExpireResult = {
      deletedManifests: 0,
      deletedFiles: 0,
      lowWater: lw.version ?? 0,
      errors: [],
    };
    if (expired.size === 0) return none;

    const refs = (m: Manifest): string[] => referencedFiles(m).map((f) => f.path);
    const retained = new Set<string>();
    for (let v = newLowWater; v <= head; v++) {
      for (const p of refs(await this.manifest(v))) retained.add(p);
    }
    const expiredFiles = new Map<number, string[]>();
    for (const v of [...expired].sort((a, b) => a - b)) {
      let f: ManifestFile | undefined;
      try {
        f = await readManifestIfExists(this.store, v);
      } catch (e) {
        // An undecodable manifest below the boundary: delete it, its files are unknown.
        if (!isTidemarkError(e, "Corrupt")) throw e;
        expiredFiles.set(v, []);
        continue;
      }
      if (f !== undefined) expiredFiles.set(v, refs(f.manifest));
    }

    const lowWater =
      newLowWater > (lw.version ?? 0) ? await advanceLowWater(this.store, newLowWater) : oldStart;
    const errors: DeleteError[] = [];
    const manifests = [...expiredFiles.keys()];
    const manifestsResult = await this.store.deleteMany(manifests.map(manifestKey));
    errors.push(...manifestsResult.errors);
    // A manifest that stays keeps its files: a reader may still meet it.
    const stayed = new Set(manifestsResult.errors.map((e) => parseManifestKey(e.key)));
    for (const v of stayed) for (const p of (v !== undefined && expiredFiles.get(v)) || []) retained.add(p);
    const candidates = new Set<string>();
    for (const [v, paths] of expiredFiles) {
      if (stayed.has(v)) continue;
      for (const p of paths) if (!retained.has(p)) candidates.add(p);
    }
    const filesResult = await this.store.deleteMany(candidates);
    errors.push(...filesResult.errors);
    return {
      deletedManifests: manifests.length - manifestsResult.errors.length,
      deletedFiles: candidates.size - filesResult.errors.length,
      lowWater,
      errors,
    };
  }
}
