import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { diffManifests, liveFiles, type ManifestDiff } from "../manifest/live.ts";
import { bytesIfExists, exists } from "../store/exists.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import {
  type ChainEnd,
  decodeAt,
  type ManifestFile,
  type ManifestSource,
  readManifestFile,
  walkChain,
} from "./chain.ts";
import { discoverHead } from "./discover.ts";
import {
  expiredVersionError,
  METADATA_PREFIX,
  manifestExists,
  manifestKey,
  parseManifestKey,
  readRetentionBoundary,
} from "./layout.ts";
import {
  legacyManifestError,
  legacyManifestKey,
  parsePosixManifestKey,
  posixManifestKey,
  readVersionHint,
  VERSION_HINT_KEY,
} from "./posix.ts";

/**
 * How a table is laid out on its store:
 * - `object-store`: `metadata/v{N}.manifest.bin` and `metadata/low_water.txt`
 *   (tidemark's `Catalog`, merutable's and tidemark's mirrors);
 * - `posix`: `version-hint.text` and `metadata/v{N}.metadata.pb`
 *   (merutable's primary, and what `restore` writes);
 * - `empty`: neither (yet).
 */
export type TableLayout = "object-store" | "posix" | "empty";

/** What {@link TableReader.discover} found. */
export interface TableHead {
  /** The HEAD version; 0 for an empty table. */
  version: number;
  layout: TableLayout;
  /** `head` requests made (object-store probes; 0 on a posix table). */
  probes: number;
  /** Object-store layout: the low_water value read last (0 when missing or on a posix table). */
  lowWater: number;
  /** Object-store layout: whether low_water exists. A posix table has none: `missing`. */
  lowWaterStatus: "ok" | "missing";
}

/** One snapshot of a table's history, as {@link TableReader.snapshots} yields it. */
export interface TableSnapshot {
  version: number;
  manifest: Manifest;
  /** The manifest file's bytes as stored. */
  bytes: Uint8Array;
  /** Set when the manifest is not what its key promises (see `ChainEntry.anomaly`). */
  anomaly?: string;
}

/** Options of {@link TableReader.snapshots}. */
export interface SnapshotsOptions {
  /** Stop before versions below this one (a primary's retained history starts at low_water). */
  stopBelow?: number;
  /** Told why and where the walk ended. */
  onEnd?: (end: ChainEnd) => void;
}

/**
 * The first manifest key in `metadata/` of the given layouts (default: both),
 * or `undefined`: one listing of `metadata/v`, stopped at the first match;
 * `undefined` on a store that cannot list. For a table whose pointer is
 * missing: are there manifests no reader can reach?
 */
export async function findManifestKey(
  store: ObjectStore,
  layouts: ReadonlyArray<"object-store" | "posix"> = ["object-store", "posix"],
): Promise<string | undefined> {
  if (!capabilitiesOf(store).list) return undefined;
  const objectStore = layouts.includes("object-store");
  const posix = layouts.includes("posix");
  for await (const m of store.list(`${METADATA_PREFIX}v`)) {
    if (objectStore && parseManifestKey(m.key) !== undefined) return m.key;
    if (posix && parsePosixManifestKey(m.key) !== undefined) return m.key;
  }
  return undefined;
}

/**
 * A read-only view of the table on a store, whichever of merutable's two
 * layouts it has (see {@link TableLayout}). Uses `get` and `head` only, plus
 * one listing when a table looks empty (never over HTTP, which cannot list),
 * so it works over `HttpStore` in a browser.
 *
 * The layout is detected on the first read and kept once a table is found
 * (a posix table stays posix); while the store looks empty, every HEAD
 * discovery looks again.
 *
 * Costs: HEAD of a posix table is one GET of `version-hint.text`; of an
 * object-store table, O(log gap) HEAD probes and one or two reads of
 * low_water (an idle re-check from a known HEAD: 2 HEADs and 1 GET). The
 * first discovery of an object-store table also GETs `version-hint.text`
 * (missing) once.
 */
export class TableReader implements ManifestSource {
  /** The store holding the table (keys relative to the table root). */
  readonly store: ObjectStore;
  #layout: TableLayout = "empty";
  #checkedForHidden = false;

  constructor(store: ObjectStore) {
    if (!store || typeof store.get !== "function") {
      throw new TidemarkError("InvalidArgument", "a table reader needs an ObjectStore");
    }
    this.store = store;
  }

  /** The layout found by the last discovery (`empty` before the first). */
  get layout(): TableLayout {
    return this.#layout;
  }

  /**
   * Tells the reader the table's layout, known otherwise (a writer that has
   * just created a manifest in it), which saves the detection's read of
   * `version-hint.text` at the next discovery.
   */
  assumeLayout(layout: "object-store" | "posix"): void {
    this.#layout = layout;
  }

  /**
   * Finds HEAD. On an object-store table, `from` (a version known to have
   * existed) starts the probes there; it is checked against low_water, never
   * trusted on its own (see `discoverHead`). On a posix table it is ignored:
   * HEAD is what `version-hint.text` says.
   *
   * @throws TidemarkError `Corrupt` when `version-hint.text` is not a decimal
   *   version, when low_water is garbage or names a missing manifest, or when
   *   `metadata/` holds posix manifests (`v{N}.metadata.pb`) but no
   *   `version-hint.text` (merutable refuses to open such a directory); store
   *   errors.
   */
  async discover(opts: { from?: number } = {}): Promise<TableHead> {
    const d = await this.#detect(opts);
    if (d.layout !== "empty" || this.#checkedForHidden) return d;
    // Posix manifests without version-hint.text are damage (merutable refuses them). Object-store
    // manifests without low_water and v1 are not: a mirror that crashed between a manifest and its
    // low_water leaves them, and its next tick writes low_water (a Catalog refuses to commit there).
    const found = await findManifestKey(this.store, ["posix"]);
    if (found === undefined) {
      this.#checkedForHidden = true;
      return d;
    }
    // A first commit may have raced the listing: look again before calling it damage.
    const again = await this.#detect(opts);
    if (again.layout !== "empty") return again;
    throw new TidemarkError(
      "Corrupt",
      `${found} exists but ${VERSION_HINT_KEY} is missing: refusing to read the table as empty ` +
        `(merutable refuses to open it too); restore ${VERSION_HINT_KEY}, or move metadata/ aside`,
      { key: found },
    );
  }

  async #detect(opts: { from?: number }): Promise<TableHead> {
    if (this.#layout !== "object-store") {
      const hint = await readVersionHint(this.store);
      if (hint !== undefined) {
        this.#layout = "posix";
        return { version: hint.version, layout: "posix", probes: 0, lowWater: 0, lowWaterStatus: "missing" };
      }
      // A posix table whose hint is gone is not a table any more: look afresh.
      this.#layout = "empty";
    }
    const d = await discoverHead(this.store, opts.from !== undefined ? { from: opts.from } : {});
    if (d.version > 0 || d.lowWaterStatus === "ok") {
      this.#layout = "object-store";
      return { ...d, layout: "object-store" };
    }
    return { ...d, layout: "empty" };
  }

  /** The HEAD version (0: an empty table). See {@link TableReader.discover}. */
  async head(): Promise<number> {
    return (await this.discover()).version;
  }

  /** The key of version `v`'s manifest in this table's layout (the object-store key while empty). */
  manifestKey(version: number): string {
    return this.#layout === "posix" ? posixManifestKey(version) : manifestKey(version);
  }

  async #known(): Promise<TableLayout> {
    if (this.#layout === "empty") await this.discover();
    return this.#layout;
  }

  /**
   * Version `version`'s manifest file: its bytes as stored and their decoding.
   *
   * A missing manifest below the table's retention boundary is reported as
   * expired, naming the oldest version retained (one GET more, only then).
   *
   * @throws TidemarkError `NotFound` naming the version and key; `NotSupported`
   *   naming the file when a posix table has only a legacy JSON manifest for
   *   it; `Corrupt` naming the key when it does not decode; store errors.
   */
  async read(version: number): Promise<ManifestFile> {
    if ((await this.#known()) !== "posix") {
      try {
        return await readManifestFile(this.store, version);
      } catch (e) {
        if (isTidemarkError(e, "NotFound")) await this.checkRetained(version);
        throw e;
      }
    }
    const file = await this.readManifestIfExists(version);
    if (file === undefined) {
      const key = posixManifestKey(version);
      throw new TidemarkError("NotFound", `snapshot v${version} is not on ${this.store.name} (${key})`, {
        key,
      });
    }
    return file;
  }

  /**
   * {@link TableReader.read}, or `undefined` when the manifest is not there.
   *
   * @throws TidemarkError as {@link TableReader.read}, but for `NotFound`.
   */
  async readManifestIfExists(version: number): Promise<ManifestFile | undefined> {
    const layout = await this.#known();
    const key = layout === "posix" ? posixManifestKey(version) : manifestKey(version);
    const bytes = await bytesIfExists(this.store, key);
    if (bytes === undefined) {
      if (layout === "posix" && (await exists(this.store, legacyManifestKey(version)))) {
        throw legacyManifestError(legacyManifestKey(version));
      }
      return undefined;
    }
    // merutable sniffs the payload: a JSON manifest under any name is legacy.
    if (layout === "posix" && bytes[0] === 0x7b) throw legacyManifestError(key);
    return { version, bytes, manifest: decodeAt(key, bytes) };
  }

  /**
   * The oldest version the table retains by its published retention boundary
   * (a mirror with a retention policy: `metadata/oldest_retained.txt`), 0
   * when it publishes none (it keeps every version it holds; a posix table
   * never has one). One GET.
   *
   * @throws TidemarkError `Corrupt` when the boundary is not a decimal version; store errors.
   */
  async retentionBoundary(): Promise<number> {
    if ((await this.#known()) === "posix") return 0;
    return readRetentionBoundary(this.store);
  }

  /**
   * {@link TableReader.read} of a version the table retains: one below the
   * retention boundary is refused (`NotFound` naming the oldest version
   * retained) even while its bytes are still on the store (a delete pending,
   * an Object Lock not released yet), and a manifest missing because an
   * expiry raced the read is reported the same way. One GET more than `read`.
   *
   * @throws TidemarkError as {@link TableReader.read}.
   */
  async readRetained(version: number): Promise<ManifestFile> {
    await this.checkRetained(version);
    return this.read(version);
  }

  /**
   * Throws the expired error (`NotFound` naming the oldest version retained)
   * when `version` lies below the retention boundary now: before a read, or
   * after a read of the version's manifest or files failed, to tell an
   * expiry that raced it from damage.
   */
  async checkRetained(version: number): Promise<void> {
    const boundary = await this.retentionBoundary();
    if (version < boundary) throw expiredVersionError(this.store, version, boundary);
  }

  /** Version `version`'s manifest. See {@link TableReader.read}. */
  async manifest(version: number): Promise<Manifest> {
    return (await this.read(version)).manifest;
  }

  /** Version `version`'s manifest file, bytes as stored. See {@link TableReader.read}. */
  async manifestBytes(version: number): Promise<Uint8Array> {
    return (await this.read(version)).bytes;
  }

  /**
   * Whether version `version` has a manifest (one HEAD; on a posix table, a
   * second for a legacy JSON manifest when the protobuf one is missing).
   */
  async exists(version: number): Promise<boolean> {
    if ((await this.#known()) !== "posix") return manifestExists(this.store, version);
    return (
      (await exists(this.store, posixManifestKey(version))) || exists(this.store, legacyManifestKey(version))
    );
  }

  /**
   * Snapshots from HEAD (or from version `from`, e.g. a HEAD just read with
   * `head()`, so both describe one moment) backwards through
   * `previous_snapshot_id` (see `walkChain`): until one is missing (expired,
   * or never mirrored), lies below `opts.stopBelow` or the table's retention
   * boundary, is a legacy JSON manifest, or is not the manifest its successor
   * was built on. A manifest that is not what its key promises is yielded
   * with its `anomaly`, and the walk goes on.
   */
  async *snapshots(from?: number, opts: SnapshotsOptions = {}): AsyncIterable<TableSnapshot> {
    const head = from ?? (await this.head());
    if (head === 0) {
      opts.onEnd?.({ version: 0, reason: "start" });
      return;
    }
    const stopBelow = Math.max(opts.stopBelow ?? 0, await this.retentionBoundary());
    for await (const f of walkChain(this, head, { ...opts, stopBelow })) {
      const s: TableSnapshot = { version: f.version, manifest: f.manifest, bytes: f.bytes };
      if (f.anomaly !== undefined) s.anomaly = f.anomaly;
      yield s;
    }
  }

  /** Version `version`'s live files (data files and deletion vectors). */
  async files(version: number): Promise<string[]> {
    return liveFiles(await this.manifest(version));
  }

  /** The live files added and removed from version `a` to version `b`. */
  async diff(a: number, b: number): Promise<ManifestDiff> {
    return diffManifests(await this.manifest(a), await this.manifest(b));
  }
}

/**
 * A reader of the table on `store` (see {@link TableReader}) that reads
 * nothing until a method is called.
 */
export function tableReader(store: ObjectStore): TableReader {
  return new TableReader(store);
}

/**
 * Opens the table on `store`, whichever layout it has, and discovers its
 * HEAD (see {@link TableReader.discover}):
 * - `version-hint.text` present: a posix table (merutable's primary, or a
 *   restore), HEAD in one GET;
 * - else `metadata/low_water.txt` or `metadata/v1.manifest.bin`: an
 *   object-store table (a tidemark `Catalog`, a mirror);
 * - neither: an empty table, or `Corrupt` when `metadata/` holds posix
 *   manifests without `version-hint.text` (as merutable refuses). Object-store
 *   manifests that no low_water reaches read as an empty table: a mirror that
 *   crashed between a manifest and its low_water leaves them, and its next
 *   tick repairs it (a `Catalog` refuses to commit over them).
 *
 * @throws TidemarkError as {@link TableReader.discover}.
 */
export async function openTable(store: ObjectStore): Promise<TableReader> {
  const t = new TableReader(store);
  await t.discover();
  return t;
}
