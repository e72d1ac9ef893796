/**
 * The parts of the Apache Iceberg table spec, format version 2, that a view
 * of a merutable table writes
 * (https://github.com/apache/iceberg/blob/7f879b1/format/spec.md): the Avro
 * schemas of manifest entries and manifest lists with their field ids, the
 * reserved field ids of position-delete files, table metadata and snapshots,
 * and merutable's schema as an Iceberg schema with its name mapping
 * (merutable's data files carry no field ids: "Column Projection").
 *
 * @module
 */
import type { ColumnDef, TableSchema } from "../catalog/schema.ts";
import { IKEY_COLUMN, OP_COLUMN, SEQ_COLUMN, VALUE_COLUMN } from "../rows/data-file-entry.ts";
import type { AvroField, AvroType } from "./avro.ts";

/** Iceberg's reserved field id of a position-delete file's `file_path` column. */
export const DELETE_FILE_PATH_ID = 2147483546;
/** Iceberg's reserved field id of a position-delete file's `pos` column. */
export const DELETE_POS_ID = 2147483545;

/** Manifest entry status. */
export const EXISTING = 0;
export const ADDED = 1;
export const DELETED = 2;

/** `data_file.content`: data, or position deletes. */
export const CONTENT_DATA = 0;
export const CONTENT_POSITION_DELETES = 1;

const opt = (name: string, type: AvroType, id: number): AvroField => ({
  name,
  type: ["null", type],
  default: null,
  "field-id": id,
});

/** An Iceberg map with non-string keys: an array of key-value records (spec, Appendix A). */
const intMap = (name: string, id: number, keyId: number, valueId: number, value: AvroType): AvroField =>
  opt(
    name,
    {
      type: "array",
      logicalType: "map",
      items: {
        type: "record",
        name: `k${keyId}_v${valueId}`,
        fields: [
          { name: "key", type: "int", "field-id": keyId },
          { name: "value", type: value, "field-id": valueId },
        ],
      },
    },
    id,
  );

/** `manifest_entry` (v2) of an unpartitioned table, as the reference implementation names its records. */
export const MANIFEST_ENTRY_SCHEMA: AvroType = {
  type: "record",
  name: "manifest_entry",
  fields: [
    { name: "status", type: "int", "field-id": 0 },
    opt("snapshot_id", "long", 1),
    opt("sequence_number", "long", 3),
    opt("file_sequence_number", "long", 4),
    {
      name: "data_file",
      "field-id": 2,
      type: {
        type: "record",
        name: "r2",
        fields: [
          { name: "content", type: "int", "field-id": 134 },
          { name: "file_path", type: "string", "field-id": 100 },
          { name: "file_format", type: "string", "field-id": 101 },
          { name: "partition", type: { type: "record", name: "r102", fields: [] }, "field-id": 102 },
          { name: "record_count", type: "long", "field-id": 103 },
          { name: "file_size_in_bytes", type: "long", "field-id": 104 },
          intMap("column_sizes", 108, 117, 118, "long"),
          intMap("value_counts", 109, 119, 120, "long"),
          intMap("null_value_counts", 110, 121, 122, "long"),
          intMap("nan_value_counts", 137, 138, 139, "long"),
          intMap("lower_bounds", 125, 126, 127, "bytes"),
          intMap("upper_bounds", 128, 129, 130, "bytes"),
          opt("key_metadata", "bytes", 131),
          opt("split_offsets", { type: "array", items: "long", "element-id": 133 }, 132),
          opt("equality_ids", { type: "array", items: "int", "element-id": 136 }, 135),
          opt("sort_order_id", "int", 140),
          opt("referenced_data_file", "string", 143),
        ],
      },
    },
  ],
};

/** `manifest_file` (v2): one entry of a manifest list. */
export const MANIFEST_FILE_SCHEMA: AvroType = {
  type: "record",
  name: "manifest_file",
  fields: [
    { name: "manifest_path", type: "string", "field-id": 500 },
    { name: "manifest_length", type: "long", "field-id": 501 },
    { name: "partition_spec_id", type: "int", "field-id": 502 },
    { name: "content", type: "int", "field-id": 517 },
    { name: "sequence_number", type: "long", "field-id": 515 },
    { name: "min_sequence_number", type: "long", "field-id": 516 },
    { name: "added_snapshot_id", type: "long", "field-id": 503 },
    { name: "added_files_count", type: "int", "field-id": 504 },
    { name: "existing_files_count", type: "int", "field-id": 505 },
    { name: "deleted_files_count", type: "int", "field-id": 506 },
    { name: "added_rows_count", type: "long", "field-id": 512 },
    { name: "existing_rows_count", type: "long", "field-id": 513 },
    { name: "deleted_rows_count", type: "long", "field-id": 514 },
    opt(
      "partitions",
      {
        type: "array",
        "element-id": 508,
        items: {
          type: "record",
          name: "r508",
          fields: [
            { name: "contains_null", type: "boolean", "field-id": 509 },
            opt("contains_nan", "boolean", 518),
            opt("lower_bound", "bytes", 510),
            opt("upper_bound", "bytes", 511),
          ],
        },
      },
      507,
    ),
    opt("key_metadata", "bytes", 519),
  ],
};

/** One `manifest_entry` as written and read here (longs as bigint when read). */
export interface ManifestEntry {
  status: number;
  snapshot_id: bigint | number | null;
  sequence_number: bigint | number | null;
  file_sequence_number: bigint | number | null;
  data_file: {
    content: number;
    file_path: string;
    file_format: string;
    partition: Record<string, never>;
    record_count: bigint | number;
    file_size_in_bytes: bigint | number;
    lower_bounds?: Array<{ key: number; value: Uint8Array }> | null;
    upper_bounds?: Array<{ key: number; value: Uint8Array }> | null;
    referenced_data_file?: string | null;
  };
}

/** One `manifest_file` of a manifest list. */
export interface ManifestFile {
  manifest_path: string;
  manifest_length: bigint | number;
  partition_spec_id: number;
  content: number;
  sequence_number: bigint | number;
  min_sequence_number: bigint | number;
  added_snapshot_id: bigint | number;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: bigint | number;
  existing_rows_count: bigint | number;
  deleted_rows_count: bigint | number;
  partitions: null;
  key_metadata: null;
}

/** An Iceberg schema field. */
export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: string;
}

/** An Iceberg schema (JSON, Appendix C). */
export interface IcebergSchema {
  type: "struct";
  "schema-id": number;
  "identifier-field-ids"?: number[];
  fields: IcebergField[];
}

/** A snapshot in table metadata. */
export interface Snapshot {
  "snapshot-id": number;
  "parent-snapshot-id"?: number;
  "sequence-number": number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: Record<string, string>;
  "schema-id": number;
}

/** Table metadata (v2), the fields written here. */
export interface TableMetadata {
  "format-version": 2;
  "table-uuid": string;
  location: string;
  "last-sequence-number": number;
  "last-updated-ms": number;
  "last-column-id": number;
  schemas: IcebergSchema[];
  "current-schema-id": number;
  "partition-specs": Array<{ "spec-id": number; fields: [] }>;
  "default-spec-id": number;
  "last-partition-id": number;
  properties: Record<string, string>;
  "current-snapshot-id": number;
  refs: Record<string, { "snapshot-id": number; type: "branch" }>;
  snapshots: Snapshot[];
  "snapshot-log": Array<{ "snapshot-id": number; "timestamp-ms": number }>;
  "metadata-log": Array<{ "metadata-file": string; "timestamp-ms": number }>;
  "sort-orders": Array<{ "order-id": number; fields: [] }>;
  "default-sort-order-id": number;
}

/** The table property holding the name mapping. */
export const NAME_MAPPING_PROPERTY = "schema.name-mapping.default";

/** Iceberg's type of a merutable column; a `ByteArray` whose files say UTF-8 is a `string`. */
export function icebergType(c: ColumnDef, utf8: boolean): string {
  const t = c.col_type;
  if (typeof t === "object") return `fixed[${t.FixedLenByteArray}]`;
  switch (t) {
    case "Boolean":
      return "boolean";
    case "Int32":
      return "int";
    case "Int64":
      return "long";
    case "Float":
      return "float";
    case "Double":
      return "double";
    default:
      return utf8 ? "string" : "binary";
  }
}

/**
 * The field id of each of `schema`'s columns: its own, else the next after
 * `last_column_id` in column order (merutable's `TableSchema::validate`).
 */
export function fieldIds(schema: TableSchema): number[] {
  let next = (schema.last_column_id ?? 0) + 1;
  return schema.columns.map((c) => c.field_id ?? next++);
}

/**
 * merutable's `schema` as an Iceberg schema with id `schemaId`: columns in
 * order with their field ids, nullable ones optional; the primary key as
 * `identifier-field-ids` unless a key column is a float or a double (the
 * spec does not allow them there, and a partial identifier would claim an
 * identity the table does not have). `types` gives each column's Iceberg type.
 */
export function icebergSchema(schema: TableSchema, schemaId: number, types: string[]): IcebergSchema {
  const ids = fieldIds(schema);
  const fields = schema.columns.map((c, i) => ({
    id: ids[i] as number,
    name: c.name,
    required: !c.nullable,
    type: types[i] as string,
  }));
  const out: IcebergSchema = { type: "struct", "schema-id": schemaId, fields };
  const keyTypes = schema.primary_key.map((i) => types[i]);
  if (!keyTypes.some((t) => t === "float" || t === "double")) {
    out["identifier-field-ids"] = schema.primary_key.map((i) => ids[i] as number);
  }
  return out;
}

/**
 * Field ids the name mapping gives merutable's internal columns, which are
 * in every data file but in no schema of the view: the highest ids a table
 * may use (the spec reserves those above 2147483447 for metadata columns),
 * far above any merutable assigns its columns (in order, from 1), so they
 * never name a schema field. To a reader they are columns of the files that
 * the schema does not select, as a dropped column's are.
 */
export const INTERNAL_COLUMN_IDS: ReadonlyArray<readonly [string, number]> = [
  [IKEY_COLUMN, 2147483447],
  [SEQ_COLUMN, 2147483446],
  [OP_COLUMN, 2147483445],
  [VALUE_COLUMN, 2147483444],
];

/**
 * The name mapping of `schema`: each field found by its column name in
 * files without field ids, and each internal column given an id of
 * {@link INTERNAL_COLUMN_IDS}. The spec lets a mapping leave a file's column
 * out (it only supplies the ids a projection looks for), but pyiceberg (0.12)
 * gives a file without field ids a schema through the mapping and refuses a
 * column it does not map ("Could not find field with name: _merutable_ikey"),
 * so every column the data files have is mapped.
 */
export function nameMapping(schema: IcebergSchema): string {
  return JSON.stringify([
    ...schema.fields.map((f) => ({ "field-id": f.id, names: [f.name] })),
    ...INTERNAL_COLUMN_IDS.map(([name, id]) => ({ "field-id": id, names: [name] })),
  ]);
}

/** Whether two schemas have the same fields and identifier (their ids aside). */
export function sameFields(a: IcebergSchema, b: IcebergSchema): boolean {
  return (
    JSON.stringify(a.fields) === JSON.stringify(b.fields) &&
    JSON.stringify(a["identifier-field-ids"] ?? null) === JSON.stringify(b["identifier-field-ids"] ?? null)
  );
}
