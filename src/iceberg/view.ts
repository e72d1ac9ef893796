/**
 * A zero-copy Apache Iceberg (format version 2) view of a tidemark mirror:
 * one Iceberg snapshot per mirrored version (snapshot id and sequence number
 * = the version), data files referenced where the mirror keeps them (no byte
 * copied; `schema.name-mapping.default` maps merutable's columns, which carry
 * no field ids), and per version at most one small Parquet position-delete
 * file listing the rows of live files the table does not contain at that
 * version: rows a deletion vector marks, rows a newer row of their key
 * shadows, tombstones (see docs/iceberg.md).
 *
 * Why position deletes: they are what every Iceberg v2 reader applies
 * (Spark, Trino, DuckDB's iceberg extension, pyiceberg, icebird);
 * equality deletes are not read by pyiceberg (apache/iceberg-python#1210)
 * and could not say "this older row of the key" anyway (an equality delete on
 * the key would delete the newer row too); v3 deletion vectors are not read
 * by v2 readers (and merutable's Puffin files do not follow the Puffin
 * footer, so they cannot be referenced as they are).
 *
 * Incremental: a version's new deletes come from the rows whose verdict
 * changed since the view's previous version (`TableRows.reclassify`: the new
 * files whole, of the others only the row groups holding their keys); a
 * shadowed row stays shadowed while its file lives, so earlier delete files
 * stay; a delete file whose data files all left the table leaves with them.
 * A row that comes back (its shadowing row left the table without a newer
 * one) makes the version rewrite the delete files that named it.
 *
 * Crash rules: the view of a version is written after the version itself
 * (the mirror's files, manifest and low_water), its delete file and
 * manifests before its `v{N}.metadata.json` (create-only), so a reader never
 * meets a snapshot whose files are not there. Every file is named by its
 * content (a re-run writes the same bytes under the same name: create-or-same)
 * so a crash at any request leaves leftovers the next run reuses or ignores.
 * `metadata/version-hint.text` (for readers that find the table by it) moves
 * forward once per update, never backwards.
 *
 * `IcebergView.update` walks the versions; each is built in steps that live
 * beside this module: the rows whose verdict changed and the delete files
 * (`view-deletes.ts`), the data files and the state carried from version to
 * version (`view-state.ts`), the manifests and manifest list
 * (`view-manifests.ts`), the table metadata (`view-metadata.ts`), and the
 * view's files read and written by content (`view-files.ts`).
 *
 * @module
 */
import { advanceLowWater, METADATA_PREFIX, parseManifestKey, readLowWater } from "../catalog/layout.ts";
import { openTable, type TableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError, toTidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import type { VersionView } from "../rows/table-files.ts";
import type { TableRows } from "../rows/table-rows.ts";
import type { ObjectStore } from "../store/types.ts";
import { ViewLocation } from "./location.ts";
import { changedRows, nextDeleteFiles } from "./view-deletes.ts";
import { ViewFiles } from "./view-files.ts";
import { writeManifests } from "./view-manifests.ts";
import { versionMetadata, viewSchema } from "./view-metadata.ts";
import { emptyState, loadViewState, metadataKey, nextDataFiles, type ViewState } from "./view-state.ts";

/** Options of an {@link IcebergView}. */
export interface IcebergViewOptions {
  /**
   * The mirror's root as the view's readers reach it: `s3://bucket/prefix`
   * (S3, R2), or the `https://` base of a Worker's object route or a public
   * bucket. Recorded in the view: a view is for one location.
   */
  location: string;
  /** Where the view's files go, under the mirror's root (default `iceberg`); one prefix per location. */
  prefix?: string;
  /**
   * Live delete files from which a version writes them into one (default 32):
   * readers open every live delete file of a snapshot.
   */
  maxDeleteFiles?: number;
  /**
   * Keep `metadata/version-hint.text` at the latest version (default true),
   * written once per update (a mirror's tick), not per version: readers that
   * open the table by its folder (icebird, DuckDB's `iceberg_scan`, Spark's
   * Hadoop tables) find the latest metadata by it. Off when readers are given
   * a metadata file or a catalog: one write less per update.
   */
  versionHint?: boolean;
  /**
   * Snapshots the latest metadata file lists (default 100; `Infinity`: all):
   * the newest, each version's own. Every version's metadata file stays, and
   * lists its own window: a version that left the list is still read through
   * `v{N}.metadata.json`. Without a bound each version would rewrite the
   * whole history (about 640 bytes a version) into its metadata file.
   */
  maxSnapshots?: number;
}

/** Where a view stands. */
export interface IcebergViewStatus {
  location: string;
  prefix: string;
  /** The last mirrored version the view has a snapshot of (0: none yet). */
  version: number;
  /** The absolute location of that version's metadata file (`null` before the first). */
  metadataLocation: string | null;
  /** Why this instance's last update failed (absent once one succeeds; {@link IcebergView.snapshotStatus} only). */
  lastError?: { message: string; atMs: number };
}

/** What one {@link IcebergView.update} did. */
export interface IcebergUpdateResult extends IcebergViewStatus {
  /** Versions given a snapshot by this update, in order. */
  written: number[];
  /** Versions after the view's previous one that the mirror does not have (its gaps). */
  skipped: number[];
  /** Every version up to `through` has a snapshot or is a gap (false: stopped by `shouldContinue`). */
  complete: boolean;
  /** Requests and bytes this update wrote (view files only: never a data byte). */
  writes: { requests: number; bytes: number };
}

/** Options of {@link IcebergView.update}. */
export interface IcebergUpdateOptions {
  /** The last version to give a snapshot (default: the mirror's HEAD). */
  through?: number;
  /** Asked before each version; `false` stops the update there (the next one goes on). */
  shouldContinue?: () => boolean;
  /** Told each version as its snapshot is published. */
  onVersion?: (version: number) => void;
}

/** The key of the hint readers of a Hadoop-style table follow to its latest metadata file. */
export const VERSION_HINT = "metadata/version-hint.text";
/** A fresh row reader every this many versions: its caches (footers, manifests) stay bounded. */
const ROWS_REFRESH = 64;

const encoder = new TextEncoder();

/**
 * The Iceberg view of the mirror on `store` for one location (see the
 * module notes). Keeps what it knows of the view between calls; one instance
 * per view and process.
 */
export class IcebergView {
  /** The mirror's store (its root). */
  readonly store: ObjectStore;
  readonly where: ViewLocation;
  /** The view's files: the mirror's store under the view's prefix. */
  readonly #files: ViewFiles;
  readonly #maxDeleteFiles: number;
  readonly #versionHint: boolean;
  readonly #maxSnapshots: number;
  #table: TableReader | undefined;
  #rows: TableRows | undefined;
  #rowsUses = 0;
  #state: ViewState | undefined;
  /** The newest mirror version looked at (written, or found to be a gap). */
  #examined = 0;
  /** `version-hint.text` as last read or written. */
  #hint: number | undefined;
  /** Why the last update failed, until one succeeds. */
  #lastError: { message: string; atMs: number } | undefined;

  /**
   * @throws TidemarkError `InvalidArgument` for a bad location, prefix or
   *   `maxDeleteFiles`.
   */
  constructor(store: ObjectStore, opts: IcebergViewOptions) {
    if (!opts || typeof opts !== "object") {
      throw new TidemarkError("InvalidArgument", "an Iceberg view needs { location }");
    }
    this.store = store;
    this.where = new ViewLocation(opts.location, opts.prefix);
    this.#files = new ViewFiles(store, this.where);
    this.#maxDeleteFiles = numberOption("iceberg.maxDeleteFiles", opts.maxDeleteFiles, 32, {
      min: 1,
      max: 100_000,
    });
    this.#versionHint = opts.versionHint ?? true;
    this.#maxSnapshots = numberOption("iceberg.maxSnapshots", opts.maxSnapshots, 100, {
      min: 1,
      infinity: true,
    });
  }

  /** The view's version as last loaded or written (0: none, or not loaded yet). */
  get version(): number {
    return this.#state?.version ?? 0;
  }

  /** Where the view stands (reads it from the store the first time). */
  async status(): Promise<IcebergViewStatus> {
    const s = await this.#load();
    return this.#status(s);
  }

  /**
   * The oldest version a reader of the view's latest metadata can read (its
   * oldest listed snapshot; 0 before the first): a mirror's retention keeps
   * every version from there on, so the view's time travel never meets a
   * deleted file.
   */
  async oldestSnapshot(): Promise<number> {
    const s = await this.#load();
    const ids = (s.metadata?.snapshots ?? []).map((x) => Number(x["snapshot-id"]));
    return ids.length === 0 ? 0 : Math.min(...ids);
  }

  /** Where the view stands as this instance last saw it (version 0 before it looked). */
  snapshotStatus(): IcebergViewStatus {
    const status = this.#status(this.#state ?? emptyState());
    return this.#lastError ? { ...status, lastError: { ...this.#lastError } } : status;
  }

  #status(s: ViewState): IcebergViewStatus {
    return {
      location: this.where.base,
      prefix: this.where.prefix,
      version: s.version,
      metadataLocation: s.version > 0 ? this.where.ofView(metadataKey(s.version)) : null,
    };
  }

  /**
   * Drops what this instance knows of the view and of the mirror's files (a
   * target wiped or swapped under a mirror): the next update reads the view
   * from the store, so it never builds a version on files that are gone.
   */
  forget(): void {
    this.#state = undefined;
    this.#examined = 0;
    this.#hint = undefined;
    this.#table = undefined;
    this.#rows = undefined;
    this.#rowsUses = 0;
  }

  async #tableReader(): Promise<TableReader> {
    this.#table ??= await openTable(this.store);
    return this.#table;
  }

  async #rowsReader(): Promise<TableRows> {
    if (!this.#rows || this.#rowsUses >= ROWS_REFRESH) {
      // The rows reader and the Parquet codecs load when a view first writes,
      // so a Mirror without views (and `tidemark mirror` at start) never loads them.
      const { TableRows } = await import("../rows/table-rows.ts");
      this.#rows = new TableRows(await this.#tableReader());
      this.#rowsUses = 0;
    }
    this.#rowsUses++;
    return this.#rows;
  }

  /**
   * Gives a snapshot to every mirrored version after the view's last one,
   * up to `through` (default the mirror's HEAD), in order; versions the
   * mirror does not have are gaps. Then moves `version-hint.text` to the
   * last one. Idempotent: a view that is up to date writes nothing.
   *
   * @throws TidemarkError `InvalidArgument` when the prefix holds a view for
   *   another location or another table; `NotSupported` for a version whose
   *   manifest carries no `merutable.schema.json` (its rows cannot be
   *   classified); `Corrupt` for a damaged data file, deletion vector or view
   *   file; the store's errors (then the next update goes on where this one
   *   stopped).
   */
  async update(opts: IcebergUpdateOptions = {}): Promise<IcebergUpdateResult> {
    try {
      const result = await this.#update(opts);
      this.#lastError = undefined;
      return result;
    } catch (e) {
      // Kept for the status of a mirror's views (a failed view fails the mirror's tick too).
      this.#lastError = { message: toTidemarkError(e).message, atMs: Date.now() };
      throw e;
    }
  }

  async #update(opts: IcebergUpdateOptions): Promise<IcebergUpdateResult> {
    this.#files.resetWrites();
    let s = await this.#load();
    const table = await this.#tableReader();
    const through =
      opts.through === undefined ? await table.head() : numberOption("through", opts.through, 0, { min: 0 });
    const written: number[] = [];
    const skipped: number[] = [];
    let complete = true;
    const from = Math.max(s.version, this.#examined) + 1;
    const existing = await this.#mirrorVersions(from, through);
    for (let v = from; v <= through; v++) {
      if (existing && !existing.has(v)) {
        skipped.push(v);
        this.#examined = v;
        continue;
      }
      if (opts.shouldContinue && !opts.shouldContinue()) {
        complete = false;
        break;
      }
      const rows = await this.#rowsReader();
      let view: VersionView;
      try {
        view = await rows.version(v);
      } catch (e) {
        // A version the mirror does not have (expired on its source, files gone): a gap here too.
        if (isTidemarkError(e, "NotFound") && !(await table.exists(v))) {
          skipped.push(v);
          this.#examined = v;
          continue;
        }
        throw e;
      }
      s = await this.#build(s, view, rows);
      this.#state = s;
      this.#examined = Math.max(this.#examined, s.version);
      written.push(v);
      opts.onVersion?.(v);
    }
    if (s.version > 0 && this.#versionHint) {
      this.#hint ??= (await readLowWater(this.#files.store, VERSION_HINT)).version ?? 0;
      if (this.#hint < s.version) {
        this.#hint = await advanceLowWater(this.#files.store, s.version, { key: VERSION_HINT });
        this.#files.counted(String(s.version).length);
      }
    }
    return { ...this.#status(s), written, skipped, complete, writes: this.#files.writes };
  }

  /**
   * The mirror's versions from `from` to `to`, from one listing of its
   * manifests when that is cheaper than a request per version; `undefined`:
   * look at each version.
   */
  async #mirrorVersions(from: number, to: number): Promise<Set<number> | undefined> {
    if (to - from < 8) return undefined;
    const out = new Set<number>();
    for await (const m of this.store.list(`${METADATA_PREFIX}v`)) {
      const v = parseManifestKey(m.key);
      if (v !== undefined && v >= from && v <= to) out.add(v);
    }
    return out;
  }

  /** The view as stored: its latest metadata file and what its current snapshot holds. */
  async #load(): Promise<ViewState> {
    this.#state ??= await loadViewState(this.#files);
    return this.#state;
  }

  /**
   * The view's next state: version `view.version` built on `s`, its files
   * written in the order the crash rules ask (the delete file, the
   * manifests, the manifest list, then the metadata file, create-only).
   */
  async #build(s: ViewState, view: VersionView, rows: TableRows): Promise<ViewState> {
    const v = view.version;
    if (s.metadata) {
      const ours = s.metadata.properties["tidemark.table-uuid"];
      if (ours !== undefined && ours !== view.manifest.tableUuid) {
        throw new TidemarkError(
          "InvalidArgument",
          `${this.where.prefix}/ holds an Iceberg view of table ${ours}; the mirror's v${v} is table ${view.manifest.tableUuid}`,
        );
      }
    }
    // 1. The rows whose verdict the version changes.
    const changed = await changedRows(s, v, rows, this.#files);
    // 2. Data files.
    const { data, added, removed } = nextDataFiles(s, v, view.files);
    // 3. Delete files: retired, rewritten, the version's own.
    const deletes = await nextDeleteFiles(this.#files, s, v, data, changed, this.#maxDeleteFiles);
    // 4. Manifests and the manifest list.
    const schema = await viewSchema(s, view, added, rows);
    const version = { data, added, removed, deletes };
    const { dataManifest, deleteManifest, listKey } = await writeManifests(
      this.#files,
      s,
      v,
      schema,
      version,
    );
    // 5. The table metadata, last: the snapshot is published.
    const metadata = await versionMetadata(
      this.#files,
      s,
      view,
      schema,
      version,
      listKey,
      this.#maxSnapshots,
    );
    if (!(await this.#files.publish(metadataKey(v), encoder.encode(JSON.stringify(metadata))))) {
      // Another writer of this view published other bytes first: take the view as it is now.
      this.#state = undefined;
      return this.#load();
    }
    return { version: v, metadata, data, deletes: deletes.deletes, dataManifest, deleteManifest };
  }
}

/** Requests a mirror's tick sets aside for one version's view (its reads and up to 5 writes). */
export const VIEW_VERSION_REQUESTS = 10;

/**
 * The views of the `iceberg` option of a mirror writing to `store`.
 *
 * @throws TidemarkError `InvalidArgument` for a bad view, or two views
 *   under one prefix.
 */
export function icebergViews(
  store: ObjectStore,
  opts: IcebergViewOptions | IcebergViewOptions[] | undefined,
): IcebergView[] {
  if (opts === undefined) return [];
  const views = (Array.isArray(opts) ? opts : [opts]).map((o) => new IcebergView(store, o));
  checkViewPrefixes(views.map((v) => v.where));
  return views;
}

/**
 * Refuses views of one mirror whose prefixes hold one another (each location
 * needs a prefix of its own).
 *
 * @throws TidemarkError `InvalidArgument` naming the prefix.
 */
export function checkViewPrefixes(locations: readonly ViewLocation[]): void {
  const prefixes = new Set<string>();
  for (const { prefix: p } of locations) {
    if ([...prefixes].some((q) => p === q || p.startsWith(`${q}/`) || q.startsWith(`${p}/`))) {
      throw new TidemarkError(
        "InvalidArgument",
        `two Iceberg views under prefix ${p}: give each location a prefix of its own`,
      );
    }
    prefixes.add(p);
  }
}

/**
 * Builds or brings up to date the Iceberg view of the mirror on `store`
 * (see {@link IcebergView.update}).
 *
 * @throws TidemarkError as {@link IcebergView.update}.
 */
export async function updateIcebergView(
  store: ObjectStore,
  opts: IcebergViewOptions & IcebergUpdateOptions,
): Promise<IcebergUpdateResult> {
  return new IcebergView(store, opts).update(opts);
}
