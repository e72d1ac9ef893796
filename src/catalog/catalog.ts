import { safetyGate } from "../doctor/safe-store.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { encodeManifest } from "../manifest/codec.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { checkNumber, MAX_TIMER_MS, numberOption } from "../options.ts";
import { backoffDelay, type RetryPolicy, sleep } from "../store/retry.ts";
import type { ObjectStore } from "../store/types.ts";
import { newWriterToken } from "../store/writer-token.ts";
import { type ManifestFile, manifestDigest, PREVIOUS_LINK_PROPERTY, readManifestIfExists } from "./chain.ts";
import {
  buildManifest,
  COMMIT_TOKEN_KEY,
  type CommitInput,
  checkBoundary,
  checkCommitPaths,
  isOurCommit,
  type ManifestSettings,
} from "./commit.ts";
import { type ExpireResult, expireSnapshots } from "./expire.ts";
import { LOW_WATER_KEY, manifestKey } from "./layout.ts";
import {
  checkSchemaCompatible,
  checkTableSchema,
  readTableSchema,
  schemaJson,
  type TableSchema,
} from "./schema.ts";
import { findManifestKey, type TableHead, TableReader, type TableSnapshot } from "./table.ts";

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
  readonly #maxAttempts: number;
  readonly #backoff: RetryPolicy;
  readonly #safe: () => Promise<void>;
  readonly #table: TableReader;
  readonly #settings: ManifestSettings;
  #head = 0;

  private constructor(store: ObjectStore, opts: CatalogOptions) {
    this.store = store;
    this.#table = new TableReader(store);
    const schema = opts.schema === undefined ? undefined : checkTableSchema(opts.schema);
    this.#settings = {
      schema,
      schemaJson: schema && schemaJson(schema),
      now: opts.now ?? (() => Date.now()),
      newTableUuid: opts.newTableUuid ?? (() => crypto.randomUUID()),
    };
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
    const schema = c.#settings.schema;
    if (schema !== undefined && head > 0) {
      const persisted = readTableSchema(await c.manifest(head), c.#table.manifestKey(head));
      if (persisted !== undefined) checkSchemaCompatible(persisted, schema);
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
    checkCommitPaths(add, remove);
    // Build once against an empty base to reject bad numbers before any request.
    buildManifest(undefined, 1, add, [], txn.properties, undefined, this.#settings);
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
      const bytes = encodeManifest(
        buildManifest(base?.manifest, version, add, remove, txn.properties, link, this.#settings),
      );
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
        created = await isOurCommit(this.store, key, token);
        if (!created && !lost) throw e;
        // The winner's version exists: re-discover from there.
        if (!created && version > this.#head) this.#head = version;
      }
      if (created) {
        this.#table.assumeLayout("object-store");
        const withdrawn = await checkBoundary(this.store, version);
        if (withdrawn) {
          this.#head = 0;
          throw withdrawn;
        }
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
   * Before the first commit of a table: does the store hold manifests that
   * discovery did not find (low_water missing while v1 is gone, or posix
   * manifests without `version-hint.text`)? Then it is not an empty table.
   * One listing of `metadata/v`, only when HEAD is 0 (skipped by a store
   * that cannot list).
   */
  async #hiddenHistory(): Promise<boolean> {
    return (await findManifestKey(this.store)) !== undefined;
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
    return expireSnapshots(this.store, head, keepLast, (v) => this.manifest(v));
  }
}
