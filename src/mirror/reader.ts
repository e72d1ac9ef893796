import { manifestAnomaly } from "../catalog/chain.ts";
import { type TableLayout, type TableSnapshot, tableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { diffManifests, liveFiles, type ManifestDiff, referencedFiles } from "../manifest/live.ts";
import { forEachLimit } from "../store/batch.ts";
import { headIfExists } from "../store/exists.ts";
import { type ObjectStore, storeId } from "../store/types.ts";
import { proveOrigin } from "./origin.ts";
import type { DeepVerifyOptions, DeepVerifyResult } from "./verify.ts";

/**
 * A read-only view of a mirrored (or primary) table, of either layout (a
 * mirror, a `Catalog`'s table, merutable's primary or a restore of it: see
 * `openTable`). Uses only `get` and `head`, never a write (and a listing only
 * when the table looks empty, to tell an empty table from a damaged one; never
 * on a store that cannot list), so it works over `HttpStore` in a browser.
 */
export interface MirrorReader {
  /**
   * The HEAD version (0: nothing mirrored yet): low_water, then O(log gap)
   * HEAD probes; on a posix table one GET of `version-hint.text`.
   */
  head(): Promise<number>;
  /** The layout the last read found (`empty` before the first). */
  readonly layout: TableLayout;
  /**
   * Snapshots from HEAD (or from version `from`, e.g. a HEAD just read with
   * `head()`, so both describe one moment) backwards through
   * `previous_snapshot_id`, until one is missing (expired on the primary
   * before it was mirrored, or never mirrored) or is not the manifest its
   * successor was built on. A manifest that is not what its key promises (a
   * merutable mirror can hold snapshot N+1 in `v{N}.manifest.bin`) comes with
   * an `anomaly`, and the walk goes on.
   */
  snapshots(from?: number): AsyncIterable<TableSnapshot>;
  /**
   * Snapshot `version`'s manifest. `NotFound` if it is not on the store, or
   * if it lies below the table's retention boundary (the message names the
   * oldest version retained); `Corrupt` if it does not decode.
   */
  manifest(version: number): Promise<Manifest>;
  /** The oldest version the table retains by its published retention boundary (0: none published). */
  retentionBoundary(): Promise<number>;
  /** Snapshot `version`'s live files (data files and deletion vectors). */
  files(version: number): Promise<string[]>;
  /** The live files added and removed from snapshot `a` to snapshot `b`. */
  diff(a: number, b: number): Promise<ManifestDiff>;
}

/**
 * Opens the read-only view of the table on `store` (see {@link MirrorReader}).
 * Nothing is read until a method is called.
 */
export function openMirror(store: ObjectStore): MirrorReader {
  const table = tableReader(store);
  return {
    head: () => table.head(),
    get layout() {
      return table.layout;
    },
    // On a mirror, low_water is the latest version mirrored, not a retention
    // boundary: the history below it is the mirror's time travel, down to the
    // retention boundary (metadata/oldest_retained.txt) where it has one.
    snapshots: (from?: number) => table.snapshots(from),
    manifest: async (version) => (await table.readRetained(version)).manifest,
    retentionBoundary: () => table.retentionBoundary(),
    files: async (version) => liveFiles((await table.readRetained(version)).manifest),
    diff: async (a, b) =>
      diffManifests((await table.readRetained(a)).manifest, (await table.readRetained(b)).manifest),
  };
}

/** What {@link verifyMirror} found. */
export interface VerifyResult {
  /** The version checked (0: the store has no snapshot; then `ok`). */
  version: number;
  /** Every referenced file is present with the right size (and, given a source, its bytes). */
  ok: boolean;
  /** Referenced files that are not on the store. */
  missing: string[];
  /**
   * Referenced files of the wrong size: a data file whose size differs from
   * its manifest `file_size`, or a deletion-vector file smaller than the
   * largest `dv_offset + dv_length` pointing into it.
   */
  wrongSize: string[];
  /**
   * With `opts.source`: files of the right size whose bytes are not proven
   * the source's (another table's file, or one the source re-wrote).
   */
  foreign: string[];
  /**
   * Set when the manifest is not what its key promises (a merutable mirror
   * can hold snapshot N+1 in `v{N}.manifest.bin`): its files are checked all
   * the same, and `ok` says only whether they are there.
   */
  anomaly?: string;
}

/** Options of {@link verifyMirror}. */
export interface VerifyOptions {
  /**
   * The mirror's source: each file is also proven to hold the source's bytes
   * (the etag the mirror recorded, equal content digests, or the bytes
   * themselves; see `proveOrigin`), not only the right size.
   */
  source?: ObjectStore;
  /** The source identity the mirror recorded on its copies (default `storeId(source)`). */
  sourceId?: string;
}

/**
 * Deep verification, from the mirror alone (no source): every file the
 * version (default HEAD; or every version, `all`) names is read whole and
 * hashed against the SHA-256 the mirror recorded when it copied it, and
 * checked as merutable reads it (Parquet footer, row count, key and
 * sequence ranges, deletion vectors), each manifest against its checksum,
 * its schema and its chain link. See {@link DeepVerifyResult}.
 */
export function verifyMirror(store: ObjectStore, opts: DeepVerifyOptions): Promise<DeepVerifyResult>;
/**
 * Checks that snapshot `version` (default: HEAD) is fully readable on `store`:
 * one HEAD per referenced file (8 at once), sizes checked against the
 * manifest; with a `source`, origins too. Read-only; works over `HttpStore`.
 *
 * A version below the table's retention boundary is refused, and so is one
 * an expiry deleted while it was checked (its missing files are not
 * reported as damage).
 *
 * @throws TidemarkError `NotFound` when the manifest of `version` is missing,
 *   or the version has expired (naming the oldest version retained);
 *   `Corrupt` when it does not decode; store errors.
 */
export function verifyMirror(
  store: ObjectStore,
  version?: number,
  opts?: VerifyOptions,
): Promise<VerifyResult>;
export function verifyMirror(
  store: ObjectStore,
  version?: number | DeepVerifyOptions,
  opts: VerifyOptions = {},
): Promise<VerifyResult | DeepVerifyResult> {
  if (typeof version === "object" && version !== null) {
    if (version.deep !== true) {
      return Promise.reject(
        new TidemarkError("InvalidArgument", "verifyMirror(store, options): options need deep: true"),
      );
    }
    // Loaded when asked for: deep verification brings the Parquet reader and
    // a SHA-256, which a browser page that only checks sizes (the inspector's
    // first paint) should not download.
    const deep = version;
    return import("./verify.ts").then((m) => m.verifyDeep(store, deep));
  }
  return verifyShallow(store, version, opts);
}

async function verifyShallow(
  store: ObjectStore,
  version: number | undefined,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const table = tableReader(store);
  const v = version ?? (await table.head());
  if (v === 0) return { version: 0, ok: true, missing: [], wrongSize: [], foreign: [] };
  const file = await table.readRetained(v);
  const anomaly = manifestAnomaly(file, table.manifestKey(v));
  const files = referencedFiles(file.manifest);
  const missing = new Set<string>();
  const wrongSize = new Set<string>();
  const foreign = new Set<string>();
  const source = opts.source;
  await forEachLimit(files, 8, async (f) => {
    const meta = await headIfExists(store, f.path);
    if (meta === undefined) {
      missing.add(f.path);
      return;
    }
    if (f.size !== undefined ? meta.size !== f.size : meta.size < f.minSize) {
      wrongSize.add(f.path);
      return;
    }
    if (source === undefined) return;
    try {
      await proveOrigin({
        source,
        target: store,
        sourceId: opts.sourceId ?? storeId(source),
        file: f,
        version: v,
        onTarget: meta,
      });
    } catch (e) {
      if (!isTidemarkError(e, "SplitBrain") && !isTidemarkError(e, "NotFound")) throw e;
      foreign.add(f.path);
    }
  });
  // Files gone because an expiry passed the version meanwhile: expired, not damaged.
  if (missing.size > 0) await table.checkRetained(v);
  // Report in manifest order, whatever order the HEADs finished in.
  const order = (s: Set<string>) => files.map((f) => f.path).filter((p) => s.has(p));
  return {
    version: v,
    ok: missing.size === 0 && wrongSize.size === 0 && foreign.size === 0,
    missing: order(missing),
    wrongSize: order(wrongSize),
    foreign: order(foreign),
    ...(anomaly !== undefined ? { anomaly } : {}),
  };
}
