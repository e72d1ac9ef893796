/**
 * merutable's schema and keys as the page shows them: the schema JSON of a
 * manifest, column types, user and internal keys as text. What the first
 * paint needs of it (a snapshot's files and their key ranges) without the
 * Parquet reader.
 */
import { type ColumnType, checkTableSchema, type TableSchema } from "../../src/catalog/schema.ts";
import { decodeUserKey, splitInternalKey } from "../../src/rows/ikey.ts";
import { cellText } from "../../src/rows/json.ts";

/** merutable's `TableSchema` JSON (the manifest property `merutable.schema.json`). */
export type MeruSchema = TableSchema;

/** Parses merutable's schema JSON; `undefined` when absent or not of that shape. */
export function parseMeruSchema(json: string | undefined): MeruSchema | undefined {
  if (json === undefined) return undefined;
  try {
    return checkTableSchema(JSON.parse(json));
  } catch {
    return undefined;
  }
}

/** A column type as text: `Int64`, `FixedLenByteArray(16)`. */
export function meruType(t: ColumnType): string {
  return typeof t === "string" ? t : `FixedLenByteArray(${t.FixedLenByteArray})`;
}

/** Bytes as a person reads them: the text when they are printable UTF-8, else `0x` and hex. */
export const readableBytes = (b: Uint8Array): string => cellText(b, "ByteArray");

/** A user key's values as text (the table's cell forms), or `undefined` when it does not decode. */
function keyTexts(b: Uint8Array, schema: MeruSchema): string[] | undefined {
  try {
    const types = schema.primary_key.map((i) => schema.columns[i]?.col_type);
    return decodeUserKey(b, schema).map((v, i) => cellText(v, types[i]));
  } catch {
    return undefined;
  }
}

/** A user key (a manifest's `key_min`/`key_max`) as text, e.g. `42`; `undefined` if it does not decode. */
export function readableUserKey(b: Uint8Array, schema: MeruSchema | undefined): string | undefined {
  return schema && keyTexts(b, schema)?.join(", ");
}

/**
 * An internal key (`_merutable_ikey`) as text: `id=42 · seq 17 · put`.
 * `undefined` if it does not decode with `schema`.
 */
export function readableInternalKey(b: Uint8Array, schema: MeruSchema | undefined): string | undefined {
  if (!schema) return undefined;
  let parts: ReturnType<typeof splitInternalKey>;
  try {
    parts = splitInternalKey(b);
  } catch {
    return undefined;
  }
  const values = keyTexts(parts.userKey, schema);
  if (!values) return undefined;
  const names = schema.primary_key.map((i) => schema.columns[i]?.name ?? "?");
  const key = values.map((v, i) => `${names[i]}=${v}`).join(", ");
  return `${key} · seq ${parts.seq} · ${parts.op === 1 ? "put" : "delete"}`;
}
