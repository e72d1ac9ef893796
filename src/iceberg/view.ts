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
 * @module
 */
import { advanceLowWater, METADATA_PREFIX, parseManifestKey, readLowWater } from "../catalog/layout.ts";
import type { TableSchema } from "../catalog/schema.ts";
import { openTable, type TableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import type { DataFileEntry } from "../rows/data-file.ts";
import type { RowVerdict } from "../rows/merge.ts";
import type { TableRows, VersionView } from "../rows/table-rows.ts";
import { sameBytes } from "../store/body.ts";
import { createOrSame } from "../store/exists.ts";
import { prefixed } from "../store/prefixed.ts";
import type { ObjectStore } from "../store/types.ts";
import { decodeAvroFile, encodeAvroFile } from "./avro.ts";
import type { PositionDelete } from "./deletes.ts";
import { ViewLocation } from "./location.ts";
import {
  ADDED,
  CONTENT_DATA,
  CONTENT_POSITION_DELETES,
  DELETE_FILE_PATH_ID,
  DELETED,
  EXISTING,
  fieldIds,
  type IcebergSchema,
  icebergSchema,
  icebergType,
  MANIFEST_ENTRY_SCHEMA,
  MANIFEST_FILE_SCHEMA,
  type ManifestEntry,
  type ManifestFile,
  NAME_MAPPING_PROPERTY,
  nameMapping,
  type Snapshot,
  sameFields,
  type TableMetadata,
} from "./spec.ts";

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
const METADATA_RE = /^metadata\/v([1-9][0-9]*)\.metadata\.json$/;
/** Metadata-log entries kept in each metadata file (the reference implementation's default). */
const METADATA_LOG_MAX = 100;
/** A fresh row reader every this many versions: its caches (footers, manifests) stay bounded. */
const ROWS_REFRESH = 64;

const encoder = new TextEncoder();

/** A live data file of the view. */
interface LiveData {
  key: string;
  size: number;
  records: number;
  snapshot: number;
  seq: number;
}

/** A live position-delete file of the view. */
interface LiveDelete {
  /** View-relative key (`deletes/...`). */
  key: string;
  size: number;
  records: number;
  snapshot: number;
  seq: number;
  /** The data files (mirror keys) it names. */
  targets: Set<string>;
  lower: string;
  upper: string;
}

interface ManifestRef {
  file: ManifestFile;
}

interface ViewState {
  version: number;
  metadata: TableMetadata | undefined;
  data: Map<string, LiveData>;
  deletes: LiveDelete[];
  dataManifest: ManifestRef | undefined;
  deleteManifest: ManifestRef | undefined;
}

const emptyState = (): ViewState => ({
  version: 0,
  metadata: undefined,
  data: new Map(),
  deletes: [],
  dataManifest: undefined,
  deleteManifest: undefined,
});

const notKept = (v: RowVerdict | undefined) => v !== undefined && v !== "kept";

async function sha(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A UUID (version 4 layout) made from `text`: the same view gets the same table uuid on every run. */
async function uuidOf(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  d[6] = ((d[6] as number) & 0x0f) | 0x40;
  d[8] = ((d[8] as number) & 0x3f) | 0x80;
  const h = Array.from(d.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const keepLast = <T>(xs: T[], n: number): T[] => (xs.length > n ? xs.slice(xs.length - n) : xs);

const num = (v: bigint | number | null | undefined, fallback: number): number =>
  v === null || v === undefined ? fallback : Number(v);

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
  readonly #files: ObjectStore;
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
  #writes = { requests: 0, bytes: 0 };

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
    this.#files = prefixed(store, this.where.prefix);
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

  /** Where the view stands as this instance last saw it (version 0 before it looked). */
  snapshotStatus(): IcebergViewStatus {
    return this.#status(this.#state ?? emptyState());
  }

  #status(s: ViewState): IcebergViewStatus {
    return {
      location: this.where.base,
      prefix: this.where.prefix,
      version: s.version,
      metadataLocation: s.version > 0 ? this.where.ofView(metadataKey(s.version)) : null,
    };
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
    this.#writes = { requests: 0, bytes: 0 };
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
      this.#hint ??= (await readLowWater(this.#files, VERSION_HINT)).version ?? 0;
      if (this.#hint < s.version) {
        this.#hint = await advanceLowWater(this.#files, s.version, { key: VERSION_HINT });
        this.#writes.requests++;
        this.#writes.bytes += String(s.version).length;
      }
    }
    return { ...this.#status(s), written, skipped, complete, writes: { ...this.#writes } };
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
    if (this.#state) return this.#state;
    let latest = 0;
    for await (const m of this.#files.list("metadata/v")) {
      const v = Number(METADATA_RE.exec(m.key)?.[1] ?? 0);
      if (v > latest) latest = v;
    }
    const s = emptyState();
    if (latest > 0) {
      const key = metadataKey(latest);
      const md = JSON.parse(await (await this.#files.get(key)).text()) as TableMetadata;
      if (md.location !== this.where.table) {
        throw new TidemarkError(
          "InvalidArgument",
          `${this.where.prefix}/ holds an Iceberg view for ${md.location}, not ${this.where.table}: give this location a prefix of its own`,
          { key },
        );
      }
      s.version = latest;
      s.metadata = md;
      const snap = md.snapshots.find((x) => x["snapshot-id"] === md["current-snapshot-id"]);
      if (!snap) throw new TidemarkError("Corrupt", `${key}: no current snapshot`, { key });
      const list = await this.#readAvro(snap["manifest-list"]);
      for (const mf of list as ManifestFile[]) {
        const entries = (await this.#readAvro(mf.manifest_path)) as ManifestEntry[];
        const ref = { file: mf };
        if (mf.content === CONTENT_DATA) s.dataManifest = ref;
        else s.deleteManifest = ref;
        for (const e of entries) {
          if (e.status === DELETED) continue;
          const snapshot = num(e.snapshot_id, num(mf.added_snapshot_id, 0));
          const seq = num(e.sequence_number, num(mf.sequence_number, 0));
          const f = e.data_file;
          if (mf.content === CONTENT_DATA) {
            const k = this.#mirrorKey(f.file_path);
            s.data.set(k, {
              key: k,
              size: Number(f.file_size_in_bytes),
              records: Number(f.record_count),
              snapshot,
              seq,
            });
          } else {
            const vk = this.#viewKey(f.file_path);
            const rows = await this.#readDeletes(vk);
            s.deletes.push({
              key: vk,
              size: Number(f.file_size_in_bytes),
              records: Number(f.record_count),
              snapshot,
              seq,
              targets: new Set(rows.map((r) => this.#mirrorKey(r.path))),
              lower: rows[0]?.path ?? "",
              upper: rows.at(-1)?.path ?? "",
            });
          }
        }
      }
    }
    this.#state = s;
    return s;
  }

  #mirrorKey(path: string): string {
    const k = this.where.keyOf(path);
    if (k === undefined) {
      throw new TidemarkError("Corrupt", `the Iceberg view names ${path}, outside ${this.where.base}`);
    }
    return k;
  }

  #viewKey(path: string): string {
    const k = this.where.viewKeyOf(path);
    if (k === undefined) {
      throw new TidemarkError("Corrupt", `the Iceberg view names ${path}, outside ${this.where.table}`);
    }
    return k;
  }

  async #readAvro(path: string): Promise<unknown[]> {
    const key = this.#viewKey(path);
    return decodeAvroFile(await (await this.#files.get(key)).bytes(), `${this.where.prefix}/${key}`).records;
  }

  async #readDeletes(key: string): Promise<PositionDelete[]> {
    const { decodeDeleteFile } = await import("./deletes.ts");
    return decodeDeleteFile(await (await this.#files.get(key)).bytes(), `${this.where.prefix}/${key}`);
  }

  async #put(key: string, bytes: Uint8Array): Promise<void> {
    const n = await createOrSame(
      this.#files,
      key,
      bytes,
      () => `${this.where.prefix}/${key} holds other bytes than its name says`,
    );
    this.#writes.requests++;
    this.#writes.bytes += n;
  }

  /** The view's next state: version `view.version` built on `s`, its files written and published. */
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
    const adds: PositionDelete[] = [];
    const back = new Set<string>();
    if (s.version === 0) {
      const c = await rows.classify({ version: v });
      for await (const r of c.rows) {
        if (r.verdict !== "kept") adds.push({ path: this.where.of(r.path), pos: r.position });
      }
    } else {
      for await (const r of await rows.reclassify(s.version, v)) {
        if (notKept(r.after) && !notKept(r.before))
          adds.push({ path: this.where.of(r.path), pos: r.position });
        else if (r.after === "kept" && notKept(r.before)) back.add(`${r.path}\u0000${r.position}`);
      }
    }
    // 2. Data files.
    const live = new Map(view.files.map((f) => [f.path, f]));
    const added = view.files.filter((f) => {
      const d = s.data.get(f.path);
      return !d || d.size !== f.size;
    });
    const removed = [...s.data.values()].filter((d) => live.get(d.key)?.size !== d.size);
    const data = new Map<string, LiveData>();
    for (const f of view.files) {
      const d = s.data.get(f.path);
      data.set(
        f.path,
        d && d.size === f.size ? d : { key: f.path, size: f.size, records: f.numRows, snapshot: v, seq: v },
      );
    }
    // 3. Delete files: the ones whose data files all left go; the ones naming a row that came back, or all of
    // them when there are too many, are rewritten into this version's.
    const retired: LiveDelete[] = [];
    let kept: LiveDelete[] = [];
    for (const d of s.deletes) {
      if ([...d.targets].some((t) => data.has(t))) kept.push(d);
      else retired.push(d);
    }
    const backFiles = new Set([...back].map((b) => b.slice(0, b.indexOf("\u0000"))));
    const rewrite = kept.filter(
      (d) =>
        kept.length + (adds.length > 0 ? 1 : 0) > this.#maxDeleteFiles ||
        [...d.targets].some((t) => backFiles.has(t)),
    );
    kept = kept.filter((d) => !rewrite.includes(d));
    const positions = [...adds];
    for (const d of rewrite) {
      for (const r of await this.#readDeletes(d.key)) {
        const k = this.#mirrorKey(r.path);
        if (data.has(k) && !back.has(`${k}\u0000${r.pos}`)) positions.push(r);
      }
    }
    let fresh: LiveDelete | undefined;
    if (positions.length > 0) {
      const { encodeDeleteFile } = await import("./deletes.ts");
      const { bytes, rows: sorted } = encodeDeleteFile(positions);
      const key = `deletes/${v}-${await sha(bytes)}-deletes.parquet`;
      await this.#put(key, bytes);
      fresh = {
        key,
        size: bytes.length,
        records: sorted.length,
        snapshot: v,
        seq: v,
        targets: new Set(sorted.map((r) => this.#mirrorKey(r.path))),
        lower: sorted[0]?.path ?? "",
        upper: sorted.at(-1)?.path ?? "",
      };
    }
    const deletes = fresh ? [...kept, fresh] : kept;
    const gone = [...retired, ...rewrite];
    // 4. Manifests: rewritten when what they list changed, else the previous ones kept.
    const schema = await this.#schema(s, view, added, rows);
    const manifestMeta = (content: "data" | "deletes") => ({
      schema: JSON.stringify(schema),
      "schema-id": String(schema["schema-id"]),
      "partition-spec": "[]",
      "partition-spec-id": "0",
      "format-version": "2",
      content,
    });
    let dataManifest = s.dataManifest;
    if (!dataManifest || added.length > 0 || removed.length > 0) {
      const entries: ManifestEntry[] = [];
      for (const d of data.values()) entries.push(this.#dataEntry(d, d.snapshot === v ? ADDED : EXISTING, v));
      for (const d of removed) entries.push(this.#dataEntry(d, DELETED, v));
      dataManifest = await this.#manifest(v, "m0", entries, manifestMeta("data"), CONTENT_DATA);
    }
    let deleteManifest = s.deleteManifest;
    if (fresh || gone.length > 0) {
      const entries: ManifestEntry[] = [];
      for (const d of deletes) entries.push(this.#deleteEntry(d, d === fresh ? ADDED : EXISTING, v));
      for (const d of gone) entries.push(this.#deleteEntry(d, DELETED, v));
      deleteManifest =
        entries.length > 0
          ? await this.#manifest(v, "m1", entries, manifestMeta("deletes"), CONTENT_POSITION_DELETES)
          : undefined;
    }
    const list = [dataManifest, deleteManifest].filter((m) => m !== undefined).map((m) => m.file);
    const parent = s.version > 0 ? s.version : undefined;
    const listBytes = await encodeAvroFile(MANIFEST_FILE_SCHEMA, list, {
      "snapshot-id": String(v),
      "parent-snapshot-id": String(parent ?? null),
      "sequence-number": String(v),
      "format-version": "2",
    });
    const listKey = `metadata/snap-${v}-${await sha(listBytes)}.avro`;
    await this.#put(listKey, listBytes);
    // 5. The table metadata, last: the snapshot is published.
    const prev = s.metadata;
    const written = Number(view.manifest.lastUpdatedMs);
    const ts = Math.max(written > 0 ? written : 0, prev?.["last-updated-ms"] ?? 0);
    const sum = (xs: Iterable<{ records: number }>) => [...xs].reduce((n, x) => n + x.records, 0);
    const size = (xs: Iterable<{ size: number }>) => [...xs].reduce((n, x) => n + x.size, 0);
    const addedData = [...data.values()].filter((d) => d.snapshot === v);
    const snapshot: Snapshot = {
      "snapshot-id": v,
      ...(parent !== undefined ? { "parent-snapshot-id": parent } : {}),
      "sequence-number": v,
      "timestamp-ms": ts,
      "manifest-list": this.where.ofView(listKey),
      summary: {
        operation: removed.length === 0 && !fresh && gone.length === 0 ? "append" : "overwrite",
        "added-data-files": String(addedData.length),
        "deleted-data-files": String(removed.length),
        "total-data-files": String(data.size),
        "added-delete-files": String(fresh ? 1 : 0),
        "removed-delete-files": String(gone.length),
        "total-delete-files": String(deletes.length),
        "added-records": String(sum(addedData)),
        "deleted-records": String(sum(removed)),
        "total-records": String(sum(data.values())),
        "added-files-size": String(size(addedData)),
        "removed-files-size": String(size(removed)),
        "total-files-size": String(size(data.values())),
        "added-position-deletes": String(fresh?.records ?? 0),
        "total-position-deletes": String(sum(deletes)),
      },
      "schema-id": schema["schema-id"],
    };
    const schemas = prev ? [...prev.schemas] : [];
    if (!schemas.some((x) => x["schema-id"] === schema["schema-id"])) schemas.push(schema);
    const lastColumnId = Math.max(
      prev?.["last-column-id"] ?? 0,
      view.schema.last_column_id ?? 0,
      ...schema.fields.map((f) => f.id),
    );
    const metadata: TableMetadata = {
      "format-version": 2,
      "table-uuid":
        prev?.["table-uuid"] ??
        (await uuidOf(`tidemark iceberg view\u0000${view.manifest.tableUuid}\u0000${this.where.table}`)),
      location: this.where.table,
      "last-sequence-number": v,
      "last-updated-ms": ts,
      "last-column-id": lastColumnId,
      schemas,
      "current-schema-id": schema["schema-id"],
      "partition-specs": [{ "spec-id": 0, fields: [] }],
      "default-spec-id": 0,
      // The reference implementation's value for an unpartitioned table (partition field ids start at 1000).
      "last-partition-id": 999,
      properties: {
        [NAME_MAPPING_PROPERTY]: nameMapping(schema),
        "tidemark.table-uuid": view.manifest.tableUuid,
        "write.metadata.previous-versions-max": String(METADATA_LOG_MAX),
      },
      "current-snapshot-id": v,
      refs: { main: { "snapshot-id": v, type: "branch" } },
      snapshots: keepLast([...(prev?.snapshots ?? []), snapshot], this.#maxSnapshots),
      "snapshot-log": keepLast(
        [...(prev?.["snapshot-log"] ?? []), { "snapshot-id": v, "timestamp-ms": ts }],
        this.#maxSnapshots,
      ),
      "metadata-log": prev
        ? [
            ...prev["metadata-log"],
            {
              "metadata-file": this.where.ofView(metadataKey(s.version)),
              "timestamp-ms": prev["last-updated-ms"],
            },
          ].slice(-METADATA_LOG_MAX)
        : [],
      "sort-orders": [{ "order-id": 0, fields: [] }],
      "default-sort-order-id": 0,
    };
    const mdKey = metadataKey(v);
    const mdBytes = encoder.encode(JSON.stringify(metadata));
    try {
      await this.#files.put(mdKey, mdBytes, { mode: "create", contentType: "application/json" });
      this.#writes.requests++;
      this.#writes.bytes += mdBytes.length;
    } catch (e) {
      if (!isTidemarkError(e, "AlreadyExists")) throw e;
      // Published already: by our own earlier attempt (same bytes), or by another writer of this view.
      const there = await (await this.#files.get(mdKey)).bytes();
      if (!sameBytes(there, mdBytes)) {
        this.#state = undefined;
        return this.#load();
      }
    }
    return { version: v, metadata, data, deletes, dataManifest, deleteManifest };
  }

  /** The version's Iceberg schema: the previous one when its fields did not change. */
  async #schema(
    s: ViewState,
    view: VersionView,
    added: DataFileEntry[],
    rows: TableRows,
  ): Promise<IcebergSchema> {
    const prev = s.metadata?.schemas.find((x) => x["schema-id"] === s.metadata?.["current-schema-id"]);
    const known = new Map(prev?.fields.map((f) => [f.name, f]));
    const ids = fieldIds(view.schema);
    const types: string[] = [];
    for (const [i, c] of view.schema.columns.entries()) {
      const f = known.get(c.name);
      if (f && f.id === ids[i]) types.push(f.type);
      else
        types.push(
          icebergType(c, await this.#utf8(c.name, view.schema, added.length > 0 ? added : view.files, rows)),
        );
    }
    const next = icebergSchema(view.schema, 0, types);
    if (prev && sameFields(prev, next)) return prev;
    const id = prev ? Math.max(...(s.metadata?.schemas ?? []).map((x) => x["schema-id"])) + 1 : 0;
    return { ...next, "schema-id": id };
  }

  /** Whether the data files say column `name` holds UTF-8 text (a String annotation), judged by the first that has it. */
  async #utf8(name: string, schema: TableSchema, files: DataFileEntry[], rows: TableRows): Promise<boolean> {
    const c = schema.columns.find((x) => x.name === name);
    if (c?.col_type !== "ByteArray") return false;
    for (const f of files) {
      const el = (await rows.dataFile(f).footer()).columns.get(name);
      if (el) return el.converted_type === "UTF8" || el.logical_type?.type === "STRING";
    }
    return false;
  }

  #dataEntry(d: LiveData, status: number, v: number): ManifestEntry {
    return entry(d, status, v, { content: CONTENT_DATA, file_path: this.where.of(d.key) });
  }

  #deleteEntry(d: LiveDelete, status: number, v: number): ManifestEntry {
    const bound = (s: string) => [{ key: DELETE_FILE_PATH_ID, value: encoder.encode(s) }];
    return entry(d, status, v, {
      content: CONTENT_POSITION_DELETES,
      file_path: this.where.ofView(d.key),
      lower_bounds: bound(d.lower),
      upper_bounds: bound(d.upper),
      referenced_data_file: d.lower === d.upper ? d.lower : null,
    });
  }

  /** Writes a manifest of `entries` for version `v`; its entry in a manifest list. */
  async #manifest(
    v: number,
    tag: string,
    entries: ManifestEntry[],
    meta: Record<string, string>,
    content: number,
  ): Promise<ManifestRef> {
    const bytes = await encodeAvroFile(MANIFEST_ENTRY_SCHEMA, entries, meta);
    const key = `metadata/${v}-${await sha(bytes)}-${tag}.avro`;
    await this.#put(key, bytes);
    const count = (st: number) => entries.filter((e) => e.status === st).length;
    const rowsOf = (st: number) =>
      entries.filter((e) => e.status === st).reduce((n, e) => n + Number(e.data_file.record_count), 0);
    const liveSeqs = entries.filter((e) => e.status !== DELETED).map((e) => num(e.sequence_number, v));
    return {
      file: {
        manifest_path: this.where.ofView(key),
        manifest_length: bytes.length,
        partition_spec_id: 0,
        content,
        sequence_number: v,
        min_sequence_number: liveSeqs.length > 0 ? Math.min(...liveSeqs) : v,
        added_snapshot_id: v,
        added_files_count: count(ADDED),
        existing_files_count: count(EXISTING),
        deleted_files_count: count(DELETED),
        added_rows_count: rowsOf(ADDED),
        existing_rows_count: rowsOf(EXISTING),
        deleted_rows_count: rowsOf(DELETED),
        partitions: null,
        key_metadata: null,
      },
    };
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
  const prefixes = new Set<string>();
  for (const v of views) {
    const p = v.where.prefix;
    if ([...prefixes].some((q) => p === q || p.startsWith(`${q}/`) || q.startsWith(`${p}/`))) {
      throw new TidemarkError(
        "InvalidArgument",
        `two Iceberg views under prefix ${p}: give each location a prefix of its own`,
      );
    }
    prefixes.add(p);
  }
  return views;
}

/**
 * The manifest entry of file `f` with `status` in version `v`'s manifest: a new
 * entry inherits its snapshot and sequence numbers from the manifest list,
 * an existing or deleted one carries them (a deleted one names `v`).
 */
function entry(
  f: { snapshot: number; seq: number; records: number; size: number },
  status: number,
  v: number,
  file: Pick<ManifestEntry["data_file"], "content" | "file_path"> & Partial<ManifestEntry["data_file"]>,
): ManifestEntry {
  return {
    status,
    snapshot_id: status === ADDED ? null : status === DELETED ? v : f.snapshot,
    sequence_number: status === ADDED ? null : f.seq,
    file_sequence_number: status === ADDED ? null : f.seq,
    data_file: {
      file_format: "PARQUET",
      partition: {},
      record_count: f.records,
      file_size_in_bytes: f.size,
      ...file,
    },
  };
}

/** The key of version `v`'s metadata file, relative to the view's prefix. */
export function metadataKey(v: number): string {
  return `metadata/v${v}.metadata.json`;
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
