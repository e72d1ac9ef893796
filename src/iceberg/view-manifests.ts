/**
 * The manifests of an Iceberg view's version: one of its data files, one of
 * its delete files (each rewritten only when what it lists changed, else the
 * previous one kept), and the manifest list naming them, each an Avro file
 * named by its content.
 *
 * @module
 */
import type { DataFileEntry } from "../rows/data-file-entry.ts";
import { encodeAvroFile } from "./avro.ts";
import {
  ADDED,
  CONTENT_DATA,
  CONTENT_POSITION_DELETES,
  DELETE_FILE_PATH_ID,
  DELETED,
  EXISTING,
  type IcebergSchema,
  MANIFEST_ENTRY_SCHEMA,
  MANIFEST_FILE_SCHEMA,
  type ManifestEntry,
} from "./spec.ts";
import type { NextDeletes } from "./view-deletes.ts";
import { contentHash, type ViewFiles } from "./view-files.ts";
import { type LiveData, type LiveDelete, type ManifestRef, num, type ViewState } from "./view-state.ts";

const encoder = new TextEncoder();

/** What version `v`'s manifests list. */
export interface VersionFiles {
  /** Live data files. */
  data: ReadonlyMap<string, LiveData>;
  /** Data files new at `v` (or whose size changed). */
  added: readonly DataFileEntry[];
  /** Data files that left the table at `v`. */
  removed: readonly LiveData[];
  /** Delete files: live, written, gone. */
  deletes: NextDeletes;
}

/**
 * Writes version `v`'s manifests where what they list changed since `s` (a
 * delete manifest only while there are delete files to list), then its
 * manifest list; returns them and the list's key.
 */
export async function writeManifests(
  files: ViewFiles,
  s: ViewState,
  v: number,
  schema: IcebergSchema,
  version: VersionFiles,
): Promise<{ dataManifest: ManifestRef; deleteManifest: ManifestRef | undefined; listKey: string }> {
  const { data, added, removed } = version;
  const { deletes, fresh, gone } = version.deletes;
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
    for (const d of data.values()) entries.push(dataEntry(files, d, d.snapshot === v ? ADDED : EXISTING, v));
    for (const d of removed) entries.push(dataEntry(files, d, DELETED, v));
    dataManifest = await writeManifest(files, v, "m0", entries, manifestMeta("data"), CONTENT_DATA);
  }
  let deleteManifest = s.deleteManifest;
  if (fresh || gone.length > 0) {
    const entries: ManifestEntry[] = [];
    for (const d of deletes) entries.push(deleteEntry(files, d, d === fresh ? ADDED : EXISTING, v));
    for (const d of gone) entries.push(deleteEntry(files, d, DELETED, v));
    deleteManifest =
      entries.length > 0
        ? await writeManifest(files, v, "m1", entries, manifestMeta("deletes"), CONTENT_POSITION_DELETES)
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
  const listKey = `metadata/snap-${v}-${await contentHash(listBytes)}.avro`;
  await files.put(listKey, listBytes);
  return { dataManifest, deleteManifest, listKey };
}

function dataEntry(files: ViewFiles, d: LiveData, status: number, v: number): ManifestEntry {
  return entry(d, status, v, { content: CONTENT_DATA, file_path: files.where.of(d.key) });
}

function deleteEntry(files: ViewFiles, d: LiveDelete, status: number, v: number): ManifestEntry {
  const bound = (s: string) => [{ key: DELETE_FILE_PATH_ID, value: encoder.encode(s) }];
  return entry(d, status, v, {
    content: CONTENT_POSITION_DELETES,
    file_path: files.where.ofView(d.key),
    lower_bounds: bound(d.lower),
    upper_bounds: bound(d.upper),
    referenced_data_file: d.lower === d.upper ? d.lower : null,
  });
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

/** Writes a manifest of `entries` for version `v`; its entry in a manifest list. */
async function writeManifest(
  files: ViewFiles,
  v: number,
  tag: string,
  entries: ManifestEntry[],
  meta: Record<string, string>,
  content: number,
): Promise<ManifestRef> {
  const bytes = await encodeAvroFile(MANIFEST_ENTRY_SCHEMA, entries, meta);
  const key = `metadata/${v}-${await contentHash(bytes)}-${tag}.avro`;
  await files.put(key, bytes);
  const count = (st: number) => entries.filter((e) => e.status === st).length;
  const rowsOf = (st: number) =>
    entries.filter((e) => e.status === st).reduce((n, e) => n + Number(e.data_file.record_count), 0);
  const liveSeqs = entries.filter((e) => e.status !== DELETED).map((e) => num(e.sequence_number, v));
  return {
    file: {
      manifest_path: files.where.ofView(key),
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
