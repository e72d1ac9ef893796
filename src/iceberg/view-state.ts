/**
 * What an Iceberg view holds at its latest version: the metadata file, the
 * live data and delete files of its current snapshot and the manifests that
 * list them. Read back from the view's files ({@link loadViewState}), and
 * carried from one version to the next by `IcebergView`.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { DataFileEntry } from "../rows/data-file-entry.ts";
import { CONTENT_DATA, DELETED, type ManifestEntry, type ManifestFile, type TableMetadata } from "./spec.ts";
import type { ViewFiles } from "./view-files.ts";

/** A live data file of the view. */
export interface LiveData {
  key: string;
  size: number;
  records: number;
  snapshot: number;
  seq: number;
}

/** A live position-delete file of the view. */
export interface LiveDelete {
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

/** A manifest of the current snapshot: its entry in the manifest list. */
export interface ManifestRef {
  file: ManifestFile;
}

/** The view at its latest version. */
export interface ViewState {
  version: number;
  metadata: TableMetadata | undefined;
  data: Map<string, LiveData>;
  deletes: LiveDelete[];
  dataManifest: ManifestRef | undefined;
  deleteManifest: ManifestRef | undefined;
}

/** A view with no version yet. */
export const emptyState = (): ViewState => ({
  version: 0,
  metadata: undefined,
  data: new Map(),
  deletes: [],
  dataManifest: undefined,
  deleteManifest: undefined,
});

/** The key of version `v`'s metadata file, relative to the view's prefix. */
export function metadataKey(v: number): string {
  return `metadata/v${v}.metadata.json`;
}

const METADATA_RE = /^metadata\/v([1-9][0-9]*)\.metadata\.json$/;

/** An Avro long or int that may be null (inherited from the manifest list), as a number. */
export const num = (v: bigint | number | null | undefined, fallback: number): number =>
  v === null || v === undefined ? fallback : Number(v);

/** A table metadata file's JSON; `Corrupt` naming it when it is not one (a reader could not use it either). */
function parseMetadata(text: string, name: string): TableMetadata {
  let md: unknown;
  try {
    md = JSON.parse(text);
  } catch {
    throw new TidemarkError("Corrupt", `${name} is not JSON: not an Iceberg table metadata file`, {
      key: name,
    });
  }
  const m = md as Partial<TableMetadata> | null;
  if (typeof m !== "object" || m === null || typeof m.location !== "string" || !Array.isArray(m.snapshots)) {
    throw new TidemarkError(
      "Corrupt",
      `${name} is not an Iceberg table metadata file (no location or snapshots)`,
      {
        key: name,
      },
    );
  }
  return md as TableMetadata;
}

/**
 * The view as stored: its latest metadata file and what its current snapshot
 * holds (a fresh state when there is none).
 *
 * @throws TidemarkError `InvalidArgument` when the prefix holds a view for
 *   another location; `Corrupt` for a damaged view file.
 */
export async function loadViewState(files: ViewFiles): Promise<ViewState> {
  const where = files.where;
  let latest = 0;
  for await (const m of files.store.list("metadata/v")) {
    const v = Number(METADATA_RE.exec(m.key)?.[1] ?? 0);
    if (v > latest) latest = v;
  }
  const s = emptyState();
  if (latest === 0) return s;
  const key = metadataKey(latest);
  const md = parseMetadata(await (await files.store.get(key)).text(), `${where.prefix}/${key}`);
  if (md.location !== where.table) {
    throw new TidemarkError(
      "InvalidArgument",
      `${where.prefix}/ holds an Iceberg view for ${md.location}, not ${where.table}: give this location a prefix of its own`,
      { key },
    );
  }
  s.version = latest;
  s.metadata = md;
  const snap = md.snapshots.find((x) => x["snapshot-id"] === md["current-snapshot-id"]);
  if (!snap) throw new TidemarkError("Corrupt", `${key}: no current snapshot`, { key });
  const list = await files.readAvro(snap["manifest-list"]);
  for (const mf of list as ManifestFile[]) {
    const entries = (await files.readAvro(mf.manifest_path)) as ManifestEntry[];
    const ref = { file: mf };
    if (mf.content === CONTENT_DATA) s.dataManifest = ref;
    else s.deleteManifest = ref;
    for (const e of entries) {
      if (e.status === DELETED) continue;
      const snapshot = num(e.snapshot_id, num(mf.added_snapshot_id, 0));
      const seq = num(e.sequence_number, num(mf.sequence_number, 0));
      const f = e.data_file;
      if (mf.content === CONTENT_DATA) {
        const k = files.mirrorKey(f.file_path);
        s.data.set(k, {
          key: k,
          size: Number(f.file_size_in_bytes),
          records: Number(f.record_count),
          snapshot,
          seq,
        });
      } else {
        const vk = files.viewKey(f.file_path);
        const rows = await files.readDeletes(vk);
        s.deletes.push({
          key: vk,
          size: Number(f.file_size_in_bytes),
          records: Number(f.record_count),
          snapshot,
          seq,
          targets: new Set(rows.map((r) => files.mirrorKey(r.path))),
          lower: rows[0]?.path ?? "",
          upper: rows.at(-1)?.path ?? "",
        });
      }
    }
  }
  return s;
}

/**
 * The data files of version `v` (its live `files`) after `s`: each live,
 * a file already in the view keeping its snapshot and sequence number; the
 * ones it adds (new, or a size that changed), and the ones it removes.
 */
export function nextDataFiles(
  s: ViewState,
  v: number,
  files: readonly DataFileEntry[],
): { data: Map<string, LiveData>; added: DataFileEntry[]; removed: LiveData[] } {
  const live = new Map(files.map((f) => [f.path, f]));
  const added = files.filter((f) => {
    const d = s.data.get(f.path);
    return !d || d.size !== f.size;
  });
  const removed = [...s.data.values()].filter((d) => live.get(d.key)?.size !== d.size);
  const data = new Map<string, LiveData>();
  for (const f of files) {
    const d = s.data.get(f.path);
    data.set(
      f.path,
      d && d.size === f.size ? d : { key: f.path, size: f.size, records: f.numRows, snapshot: v, seq: v },
    );
  }
  return { data, added, removed };
}
