import { TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";

/**
 * merutable's table schema, as its manifests carry it: the JSON of its
 * `TableSchema` (serde's form:
 * https://github.com/salesforce-misc/merutable/blob/41101e3/crates/merutable/src/types/schema.rs)
 * in the manifest property {@link SCHEMA_PROPERTY}. merutable refuses to
 * decode a manifest without it ("protobuf manifest missing
 * 'merutable.schema.json' property"), so a table merutable must open (a
 * restore) needs one.
 *
 * @module
 */

/** The manifest property holding the table schema's JSON. */
export const SCHEMA_PROPERTY = "merutable.schema.json";
/** The manifest property holding merutable's manifest format version (decimal; 3 = Iceberg v3). */
export const FORMAT_VERSION_PROPERTY = "merutable.format_version";
/** The format version merutable writes (its default when the property is missing or garbage). */
export const MERUTABLE_FORMAT_VERSION = 3;

/** A column type: a Parquet physical type, as merutable's `ColumnType` serialises. */
export type ColumnType =
  | "Boolean"
  | "Int32"
  | "Int64"
  | "Float"
  | "Double"
  | "ByteArray"
  | { FixedLenByteArray: number };

/** A typed value (a column default), as merutable's `FieldValue` serialises. */
export type FieldValue =
  | { Boolean: boolean }
  | { Int32: number }
  | { Int64: number }
  | { Float: number }
  | { Double: number }
  | { Bytes: number[] };

/** One column (merutable's `ColumnDef`). */
export interface ColumnDef {
  name: string;
  col_type: ColumnType;
  /** Primary-key columns must not be nullable. */
  nullable: boolean;
  /** Iceberg field id; assigned from `last_column_id + 1` when absent. */
  field_id?: number | null;
  initial_default?: FieldValue | null;
  write_default?: FieldValue | null;
}

/**
 * merutable's `TableSchema`, in its JSON shape (snake_case keys): the table
 * name, the columns, the primary key (column indexes), and Iceberg's schema
 * id and last column id.
 */
export interface TableSchema {
  table_name: string;
  columns: ColumnDef[];
  primary_key: number[];
  schema_id?: number;
  last_column_id?: number;
}

const SIMPLE_TYPES = new Set(["Boolean", "Int32", "Int64", "Float", "Double", "ByteArray"]);
const U32_MAX = 0xffff_ffff;
const I32_MAX = 0x7fff_ffff;

type Fail = (path: string, problem: string) => never;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function u32(v: unknown, path: string, fail: Fail): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
    fail(path, `must be an integer from 0 to ${U32_MAX}`);
  }
  return v as number;
}

function checkColumnType(v: unknown, path: string, fail: Fail): ColumnType {
  if (typeof v === "string" && SIMPLE_TYPES.has(v)) return v as ColumnType;
  if (isObject(v) && Object.keys(v).length === 1 && "FixedLenByteArray" in v) {
    const n = v.FixedLenByteArray;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > I32_MAX) {
      fail(`${path}.FixedLenByteArray`, "must be a byte length from 1 to 2147483647");
    }
    return { FixedLenByteArray: n as number };
  }
  return fail(
    path,
    `is not a known column type (${[...SIMPLE_TYPES].join(", ")} or {"FixedLenByteArray": n}), got ${JSON.stringify(v)}`,
  );
}

function checkFieldValue(v: unknown, path: string, fail: Fail): FieldValue | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v) || Object.keys(v).length !== 1) {
    return fail(path, 'must be null or one typed value such as {"Int64": 0}');
  }
  const [kind, x] = Object.entries(v)[0] as [string, unknown];
  const ok =
    (kind === "Boolean" && typeof x === "boolean") ||
    ((kind === "Int32" || kind === "Int64") && typeof x === "number" && Number.isInteger(x)) ||
    ((kind === "Float" || kind === "Double") && typeof x === "number") ||
    (kind === "Bytes" &&
      Array.isArray(x) &&
      x.every((b) => typeof b === "number" && Number.isInteger(b) && b >= 0 && b <= 255));
  if (!ok)
    fail(path, `is not a typed value (Boolean, Int32, Int64, Float, Double or Bytes): ${JSON.stringify(v)}`);
  return v as FieldValue;
}

/**
 * Checks a schema's shape and merutable's invariants (its `validate_readonly`):
 * at least one column, a non-empty primary key of distinct in-range column
 * indexes whose columns are not nullable, known column types, distinct field
 * ids no greater than `last_column_id`. Returns a copy with only the known
 * fields.
 */
function checkShape(input: unknown, fail: Fail): TableSchema {
  if (!isObject(input)) fail("", "must be an object");
  const s = input as Record<string, unknown>;
  if (typeof s.table_name !== "string") fail(".table_name", "must be a string");
  if (!Array.isArray(s.columns) || s.columns.length === 0) fail(".columns", "must be a non-empty array");
  const columns: ColumnDef[] = (s.columns as unknown[]).map((c, i) => {
    const at = `.columns[${i}]`;
    if (!isObject(c)) fail(at, "must be an object");
    const col = c as Record<string, unknown>;
    if (typeof col.name !== "string" || col.name === "") fail(`${at}.name`, "must be a non-empty string");
    if (typeof col.nullable !== "boolean") fail(`${at}.nullable`, "must be true or false");
    const out: ColumnDef = {
      name: col.name as string,
      col_type: checkColumnType(col.col_type, `${at}.col_type`, fail),
      nullable: col.nullable as boolean,
      field_id:
        col.field_id === undefined || col.field_id === null
          ? null
          : u32(col.field_id, `${at}.field_id`, fail),
      initial_default: checkFieldValue(col.initial_default, `${at}.initial_default`, fail),
      write_default: checkFieldValue(col.write_default, `${at}.write_default`, fail),
    };
    return out;
  });
  if (!Array.isArray(s.primary_key) || s.primary_key.length === 0) {
    fail(".primary_key", "must be a non-empty array of column indexes");
  }
  const seen = new Set<number>();
  const primaryKey = (s.primary_key as unknown[]).map((idx, i) => {
    const at = `.primary_key[${i}]`;
    if (typeof idx !== "number" || !Number.isInteger(idx) || idx < 0 || idx >= columns.length) {
      fail(at, `must be a column index from 0 to ${columns.length - 1}, got ${JSON.stringify(idx)}`);
    }
    const n = idx as number;
    if (seen.has(n)) fail(at, `repeats column ${n}`);
    seen.add(n);
    const col = columns[n] as ColumnDef;
    if (col.nullable)
      fail(
        at,
        `names column ${JSON.stringify(col.name)}, which is nullable: primary-key columns must not be`,
      );
    return n;
  });
  const schemaId = s.schema_id === undefined ? 0 : u32(s.schema_id, ".schema_id", fail);
  const lastColumnId = s.last_column_id === undefined ? 0 : u32(s.last_column_id, ".last_column_id", fail);
  return {
    table_name: s.table_name as string,
    columns,
    primary_key: primaryKey,
    schema_id: schemaId,
    last_column_id: lastColumnId,
  };
}

/** The field-id rules of a schema whose ids are assigned (distinct, at most `last_column_id`). */
function checkFieldIds(s: TableSchema, fail: Fail): void {
  const ids = new Set<number>();
  s.columns.forEach((c, i) => {
    if (c.field_id === null || c.field_id === undefined) return;
    if (ids.has(c.field_id)) fail(`.columns[${i}].field_id`, `repeats field id ${c.field_id}`);
    ids.add(c.field_id);
    if (c.field_id > (s.last_column_id ?? 0)) {
      fail(`.columns[${i}].field_id`, `${c.field_id} exceeds last_column_id ${s.last_column_id ?? 0}`);
    }
  });
}

/**
 * Validates a schema given to tidemark (`Catalog.open(store, { schema })`) and
 * normalises it as merutable's `TableSchema::validate` does: columns without
 * a field id get the next ones after `last_column_id`, which then names the
 * last one assigned. The result is what the manifests carry.
 *
 * @throws TidemarkError `InvalidArgument` naming the field (`schema.columns[1].col_type`)
 *   and the problem: not an object, no columns, an unknown column type, a
 *   primary key that is empty, out of range, repeated or names a nullable
 *   column, a bad or repeated field id.
 */
export function checkTableSchema(input: unknown, name = "schema"): TableSchema {
  const fail: Fail = (path, problem) => {
    throw new TidemarkError("InvalidArgument", `${name}${path} ${problem}`);
  };
  const s = checkShape(input, fail);
  if (s.columns.some((c) => c.field_id === null || c.field_id === undefined)) {
    let next = (s.last_column_id ?? 0) + 1;
    for (const c of s.columns) {
      if (c.field_id === null || c.field_id === undefined) c.field_id = next++;
    }
    if (next - 1 > U32_MAX) fail(".last_column_id", "overflows: too many columns after it");
    s.last_column_id = next - 1;
  }
  checkFieldIds(s, fail);
  return s;
}

/**
 * The JSON merutable writes for `schema` (serde's field order, compact, every
 * optional field present), the value of {@link SCHEMA_PROPERTY}.
 */
export function schemaJson(schema: TableSchema): string {
  return JSON.stringify({
    table_name: schema.table_name,
    columns: schema.columns.map((c) => ({
      name: c.name,
      col_type: c.col_type,
      nullable: c.nullable,
      field_id: c.field_id ?? null,
      initial_default: c.initial_default ?? null,
      write_default: c.write_default ?? null,
    })),
    primary_key: schema.primary_key,
    schema_id: schema.schema_id ?? 0,
    last_column_id: schema.last_column_id ?? 0,
  });
}

/**
 * The schema a manifest carries, validated: `undefined` when it carries none
 * (a table tidemark wrote without a schema; merutable cannot decode it).
 *
 * @param key the manifest's key, for messages.
 * @throws TidemarkError `Corrupt` naming the key and the problem when the
 *   property is not JSON, or not a schema merutable would accept.
 */
export function readTableSchema(manifest: Manifest, key: string): TableSchema | undefined {
  const raw = manifest.properties[SCHEMA_PROPERTY];
  if (raw === undefined) return undefined;
  const fail: Fail = (path, problem) => {
    throw new TidemarkError("Corrupt", `${key}: property ${SCHEMA_PROPERTY}${path} ${problem}`, { key });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return fail("", "is not JSON");
  }
  const s = checkShape(parsed, fail);
  checkFieldIds(s, fail);
  return s;
}

/**
 * Whether a table persisted with `persisted` may be written with `provided`,
 * by merutable's rule for reopening a table (`check_schema_compatible`): the
 * same table name and primary key, every persisted column kept in place with
 * its name, type and nullability, and new columns only appended, each
 * nullable or with a default.
 *
 * @throws TidemarkError `InvalidArgument` naming the first difference.
 */
export function checkSchemaCompatible(persisted: TableSchema, provided: TableSchema): void {
  const table = JSON.stringify(persisted.table_name);
  const refuse = (why: string): never => {
    throw new TidemarkError("InvalidArgument", `schema does not match table ${table}: ${why}`);
  };
  if (persisted.table_name !== provided.table_name) {
    refuse(`the table is named ${table}, the schema ${JSON.stringify(provided.table_name)}`);
  }
  if (provided.columns.length < persisted.columns.length) {
    refuse(
      `it has ${persisted.columns.length} columns, the schema ${provided.columns.length} (columns cannot be removed)`,
    );
  }
  persisted.columns.forEach((p, i) => {
    const v = provided.columns[i] as ColumnDef;
    if (p.name !== v.name)
      refuse(
        `column ${i} is ${JSON.stringify(p.name)}, not ${JSON.stringify(v.name)} (columns are positional)`,
      );
    if (JSON.stringify(p.col_type) !== JSON.stringify(v.col_type)) {
      refuse(
        `column ${JSON.stringify(p.name)} is ${JSON.stringify(p.col_type)}, not ${JSON.stringify(v.col_type)}`,
      );
    }
    if (p.nullable !== v.nullable) refuse(`column ${JSON.stringify(p.name)} has nullable=${p.nullable}`);
  });
  for (const c of provided.columns.slice(persisted.columns.length)) {
    if (!c.nullable && !c.write_default && !c.initial_default) {
      refuse(
        `new column ${JSON.stringify(c.name)} is not nullable and has no default, so existing rows cannot have it`,
      );
    }
  }
  if (JSON.stringify(persisted.primary_key) !== JSON.stringify(provided.primary_key)) {
    refuse(
      `the primary key is ${JSON.stringify(persisted.primary_key)}, not ${JSON.stringify(provided.primary_key)}`,
    );
  }
}
