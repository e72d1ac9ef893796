/**
 * The table metadata of an Iceberg view's version (`v{N}.metadata.json`):
 * its schema (the previous one while the fields do not change), its
 * snapshot with the summary readers show, and the bounded snapshot and
 * metadata logs.
 *
 * @module
 */
import type { TableSchema } from "../catalog/schema.ts";
import type { DataFileEntry } from "../rows/data-file-entry.ts";
import type { VersionView } from "../rows/table-files.ts";
import type { TableRows } from "../rows/table-rows.ts";
import {
  fieldIds,
  type IcebergSchema,
  icebergSchema,
  icebergType,
  NAME_MAPPING_PROPERTY,
  nameMapping,
  type Snapshot,
  sameFields,
  type TableMetadata,
} from "./spec.ts";
import type { ViewFiles } from "./view-files.ts";
import type { VersionFiles } from "./view-manifests.ts";
import { metadataKey, type ViewState } from "./view-state.ts";

/** Metadata-log entries kept in each metadata file (the reference implementation's default). */
const METADATA_LOG_MAX = 100;

const encoder = new TextEncoder();

/** A UUID (version 4 layout) made from `text`: the same view gets the same table uuid on every run. */
async function uuidOf(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  d[6] = ((d[6] as number) & 0x0f) | 0x40;
  d[8] = ((d[8] as number) & 0x3f) | 0x80;
  const h = Array.from(d.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const keepLast = <T>(xs: T[], n: number): T[] => (xs.length > n ? xs.slice(xs.length - n) : xs);

/** The version's Iceberg schema: the previous one when its fields did not change. */
export async function viewSchema(
  s: ViewState,
  view: VersionView,
  added: readonly DataFileEntry[],
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
        icebergType(c, await utf8(c.name, view.schema, added.length > 0 ? added : view.files, rows)),
      );
  }
  const next = icebergSchema(view.schema, 0, types);
  if (prev && sameFields(prev, next)) return prev;
  const id = prev ? Math.max(...(s.metadata?.schemas ?? []).map((x) => x["schema-id"])) + 1 : 0;
  return { ...next, "schema-id": id };
}

/** Whether the data files say column `name` holds UTF-8 text (a String annotation), judged by the first that has it. */
async function utf8(
  name: string,
  schema: TableSchema,
  files: readonly DataFileEntry[],
  rows: TableRows,
): Promise<boolean> {
  const c = schema.columns.find((x) => x.name === name);
  if (c?.col_type !== "ByteArray") return false;
  for (const f of files) {
    const el = (await rows.dataFile(f).footer()).columns.get(name);
    if (el) return el.converted_type === "UTF8" || el.logical_type?.type === "STRING";
  }
  return false;
}

/**
 * The table metadata of version `view.version` after `s`: its snapshot
 * (manifest list `listKey`, the summary of `version`'s files), the schemas
 * so far, the last `maxSnapshots` snapshots and the metadata log.
 */
export async function versionMetadata(
  files: ViewFiles,
  s: ViewState,
  view: VersionView,
  schema: IcebergSchema,
  version: VersionFiles,
  listKey: string,
  maxSnapshots: number,
): Promise<TableMetadata> {
  const where = files.where;
  const v = view.version;
  const { data, removed } = version;
  const { deletes, fresh, gone } = version.deletes;
  const parent = s.version > 0 ? s.version : undefined;
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
    "manifest-list": where.ofView(listKey),
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
  return {
    "format-version": 2,
    "table-uuid":
      prev?.["table-uuid"] ??
      (await uuidOf(`tidemark iceberg view\u0000${view.manifest.tableUuid}\u0000${where.table}`)),
    location: where.table,
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
    snapshots: keepLast([...(prev?.snapshots ?? []), snapshot], maxSnapshots),
    "snapshot-log": keepLast(
      [...(prev?.["snapshot-log"] ?? []), { "snapshot-id": v, "timestamp-ms": ts }],
      maxSnapshots,
    ),
    "metadata-log": prev
      ? [
          ...prev["metadata-log"],
          {
            "metadata-file": where.ofView(metadataKey(s.version)),
            "timestamp-ms": prev["last-updated-ms"],
          },
        ].slice(-METADATA_LOG_MAX)
      : [],
    "sort-orders": [{ "order-id": 0, fields: [] }],
    "default-sort-order-id": 0,
  };
}
