import { create } from "@bufbuild/protobuf";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { decodeManifest, encodeManifest, FILE_STATUS } from "../manifest/codec.ts";
import {
  type DataFileRef,
  DataFileRefSchema,
  type Manifest,
  ManifestSchema,
} from "../manifest/gen/manifest_pb.ts";
import { isLive, referencedFiles } from "../manifest/live.ts";
import { pathProblem } from "../manifest/paths.ts";
import { backoffDelay, type RetryPolicy, sleep } from "../store/retry.ts";
import type { DeleteError, ObjectStore } from "../store/types.ts";
import { newWriterToken } from "../store/writer-token.ts";
import { discoverHead } from "./discover.ts";
import { advanceLowWater, manifestKey, readLowWater } from "./layout.ts";

/** A data file to add in a commit. Sizes and counts may be `number` or `bigint`. */
export interface DataFileInput {
  /** Path relative to the table root (normalised; see DESIGN.md). */
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
}

/** The result of {@link Catalog.expire}. */
export interface ExpireResult {
  /** Manifests deleted (those found among the expired versions). */
  deletedManifests: number;
  /** Files deleted: referenced by an expired snapshot and by no retained one. */
  deletedFiles: number;
  /** The new low_water (the oldest retained version), or the old one when nothing expired. */
  lowWater: number;
  /** Keys the store refused to delete (they stay; a later expire does not retry them). */
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
 * A table on an object store (layout in DESIGN.md): snapshots are manifests
 * at `metadata/v{N}.manifest.bin`, each written create-only (the commit
 * point), chained by `previous_snapshot_id`.
 *
 * Several `Catalog`s, in several processes, may commit to one table at once:
 * the create-only PUT picks one winner per version and the others rebase.
 */
export class Catalog {
  /** The store holding the table (keys relative to the table root). */
  readonly store: ObjectStore;
  readonly #now: () => number;
  readonly #maxAttempts: number;
  readonly #backoff: RetryPolicy;
  readonly #newUuid: () => string;
  #head = 0;

  private constructor(store: ObjectStore, opts: CatalogOptions) {
    this.store = store;
    this.#now = opts.now ?? (() => Date.now());
    this.#maxAttempts = opts.maxCommitAttempts ?? 32;
    if (!Number.isInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new TidemarkError("InvalidArgument", "maxCommitAttempts must be an integer >= 1");
    }
    this.#backoff = { baseDelayMs: 2, maxDelayMs: 200, ...opts.backoff };
    this.#newUuid = opts.newTableUuid ?? (() => crypto.randomUUID());
  }

  /**
   * Opens the table on `store` (which may be empty) and discovers its HEAD.
   *
   * @throws TidemarkError `Corrupt` when low_water names a missing manifest;
   *   store errors (`Transient`, `PermissionDenied`, ...).
   */
  static async open(store: ObjectStore, opts: CatalogOptions = {}): Promise<Catalog> {
    const c = new Catalog(store, opts);
    await c.head();
    return c;
  }

  /**
   * The current HEAD version (0 for an empty table), re-discovered from the
   * last one seen: about two `head` requests when nothing changed.
   *
   * @throws TidemarkError as {@link discoverHead}.
   */
  async head(): Promise<number> {
    const d = await discoverHead(this.store, this.#head > 0 ? { from: this.#head } : {});
    this.#head = d.version;
    return d.version;
  }

  /**
   * Snapshot `version`'s manifest.
   *
   * @throws TidemarkError `NotFound` (never written, or expired), `Corrupt`,
   *   `InvalidArgument` for a bad version, store errors.
   */
  async manifest(version: number): Promise<Manifest> {
    const key = manifestKey(version);
    const body = await this.store.get(key);
    const bytes = await body.bytes();
    try {
      return decodeManifest(bytes);
    } catch (e) {
      if (isTidemarkError(e, "Corrupt")) {
        throw new TidemarkError("Corrupt", `${key}: ${(e as Error).message.replace(/^\[Corrupt\] /, "")}`, {
          key,
          cause: e,
        });
      }
      throw e;
    }
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
   * `table_uuid` (set on v1, kept) and row lineage: the snapshot's
   * `first_row_id` is the previous `next_row_id`, each added file gets the next
   * `first_row_id`, and `next_row_id` grows by the rows added.
   *
   * @returns the committed version.
   * @throws TidemarkError `InvalidArgument` (bad path, duplicate path, bad
   *   number); `PreconditionFailed` when a removed path is not live in HEAD
   *   (removed concurrently, or never there) or an added path already is;
   *   `Transient` when contention outlasts the attempts; store errors.
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
    this.#build(undefined, 1, add, [], txn.properties);

    const token = newWriterToken();
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const head = await this.head();
      let base: Manifest | undefined;
      if (head > 0) {
        try {
          base = await this.manifest(head);
        } catch (e) {
          if (!isTidemarkError(e, "NotFound")) throw e;
          continue; // HEAD moved on and was expired meanwhile: look again.
        }
      }
      const version = head + 1;
      const bytes = encodeManifest(this.#build(base, version, add, remove, txn.properties));
      const key = manifestKey(version);
      try {
        await this.store.put(key, bytes, {
          mode: "create",
          contentType: "application/octet-stream",
          metadata: { [COMMIT_TOKEN_KEY]: token },
        });
        this.#head = version;
        return version;
      } catch (e) {
        const lost = isTidemarkError(e, "AlreadyExists");
        if (!lost && !isTidemarkError(e, "Transient")) throw e;
        // Ours already (a retried create whose first response was lost)? Then it is committed;
        // rebasing would commit the same files twice.
        if (await this.#isOurs(key, token)) {
          this.#head = version;
          return version;
        }
        if (!lost) throw e;
        // The winner's version exists: re-discover from there.
        if (version > this.#head) this.#head = version;
      }
      await (this.#backoff.sleep ?? sleep)(backoffDelay(attempt, this.#backoff));
    }
    throw new TidemarkError(
      "Transient",
      `cannot commit: lost the race for the next version ${this.#maxAttempts} times`,
    );
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
      if (v === null) delete props[k];
      else props[k] = v;
    }
    const now = BigInt(Math.floor(this.#now()));
    const m = create(ManifestSchema, {
      snapshotId: BigInt(version),
      sequenceNumber: sequence,
      schemaId: base?.schemaId ?? 0,
      partitionSpecId: base?.partitionSpecId ?? 0,
      dataFiles,
      deleteFiles: base?.deleteFiles ?? [],
      // Set on v1 only: giving an existing table (one written without a uuid) a new
      // identity would make its mirrors see another table (SplitBrain).
      tableUuid: base ? base.tableUuid : this.#newUuid(),
      // Writers' clocks differ: never let the timestamp go backwards along the chain.
      lastUpdatedMs: base && base.lastUpdatedMs > now ? base.lastUpdatedMs : now,
      properties: props,
      lastColumnId: base?.lastColumnId ?? 0,
      nextRowId,
      firstRowId,
    });
    if (base) m.previousSnapshotId = base.snapshotId;
    // Keep fields this version of tidemark does not know (a newer writer's).
    if (base?.$unknown) m.$unknown = base.$unknown;
    return m;
  }

  /**
   * The snapshot chain, newest first: from HEAD back through
   * `previous_snapshot_id` until a manifest is missing (expired, or never
   * mirrored). Needs no listing.
   *
   * @throws TidemarkError `Corrupt` when a manifest's `previous_snapshot_id`
   *   does not go backwards; store errors.
   */
  async *snapshots(): AsyncIterable<{ version: number; manifest: Manifest }> {
    let v: number | undefined = await this.head();
    while (v !== undefined && v >= 1) {
      let manifest: Manifest;
      try {
        manifest = await this.manifest(v);
      } catch (e) {
        if (isTidemarkError(e, "NotFound")) return;
        throw e;
      }
      yield { version: v, manifest };
      const prev = manifest.previousSnapshotId;
      if (prev === undefined) return;
      const p = Number(prev);
      if (!(p < v)) {
        throw new TidemarkError(
          "Corrupt",
          `${manifestKey(v)}: previous_snapshot_id ${prev} does not precede it`,
        );
      }
      v = p;
    }
  }

  /**
   * Expires all but the last `keepLast` snapshots, in the order that keeps
   * readers safe (merutable's LESSONS): first low_water advances to the
   * oldest retained version, then the expired manifests are deleted, then the
   * files that an expired snapshot referenced and no retained one does.
   * A crash between the last two steps leaks those files (nothing references
   * them; a later expire does not find them again).
   *
   * @throws TidemarkError `InvalidArgument` unless `keepLast` is an integer >= 1;
   *   store errors.
   */
  async expire(opts: { keepLast: number }): Promise<ExpireResult> {
    const { keepLast } = opts;
    if (!Number.isSafeInteger(keepLast) || keepLast < 1) {
      throw new TidemarkError("InvalidArgument", `keepLast must be an integer >= 1, got ${keepLast}`);
    }
    const head = await this.head();
    const lw = await readLowWater(this.store);
    const oldStart = Math.max(1, lw.version ?? 1);
    const cutoff = head - keepLast;
    const none: ExpireResult = {
      deletedManifests: 0,
      deletedFiles: 0,
      lowWater: lw.version ?? 0,
      errors: [],
    };
    if (cutoff < oldStart) return none;

    const refs = (m: Manifest): string[] => referencedFiles(m).map((f) => f.path);
    const retained = new Set<string>();
    for (let v = cutoff + 1; v <= head; v++) {
      for (const p of refs(await this.manifest(v))) retained.add(p);
    }
    const expiredVersions: number[] = [];
    const candidates = new Set<string>();
    for (let v = oldStart; v <= cutoff; v++) {
      let m: Manifest;
      try {
        m = await this.manifest(v);
      } catch (e) {
        if (isTidemarkError(e, "NotFound")) continue;
        throw e;
      }
      expiredVersions.push(v);
      for (const p of refs(m)) if (!retained.has(p)) candidates.add(p);
    }

    const lowWater = await advanceLowWater(this.store, cutoff + 1);
    const errors: DeleteError[] = [];
    const manifestsResult = await this.store.deleteMany(expiredVersions.map(manifestKey));
    errors.push(...manifestsResult.errors);
    const filesResult = await this.store.deleteMany(candidates);
    errors.push(...filesResult.errors);
    const deletedFiles = candidates.size - filesResult.errors.length;
    return {
      deletedManifests: expiredVersions.length - manifestsResult.errors.length,
      deletedFiles,
      lowWater,
      errors,
    };
  }
}
