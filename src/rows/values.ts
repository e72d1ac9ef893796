/**
 * Values of a merutable table's columns, decoded by its schema
 * (`merutable.schema.json`) from what hyparquet reads out of the Parquet
 * columns: Boolean; Int32, Float and Double as numbers; Int64 as bigint
 * (exact beyond 2^53); ByteArray as text where the Parquet column is
 * annotated as a string (UTF-8), else as bytes; FixedLenByteArray as bytes;
 * null.
 *
 * @module
 */
import type { SchemaElement } from "hyparquet";
import type { ColumnDef, ColumnType, FieldValue } from "../catalog/schema.ts";
import { TidemarkError } from "../errors.ts";
import type { ColumnData } from "./column-chunk.ts";
import type { KeyValue } from "./ikey.ts";

/** A value of a user column. */
export type Value = null | boolean | number | bigint | string | Uint8Array;

/** How one user column is read from a data file. */
export interface ColumnPlan {
  /** The column's name (in the schema and in the file). */
  name: string;
  type: ColumnType;
  /** The Parquet column holds UTF-8 text (a string logical or converted type). */
  text: boolean;
  /** Absent from this file (added to the schema later): every row has `fill`. */
  missing: boolean;
  fill: Value;
}

const PHYSICAL: Record<string, string> = {
  Boolean: "BOOLEAN",
  Int32: "INT32",
  Int64: "INT64",
  Float: "FLOAT",
  Double: "DOUBLE",
  ByteArray: "BYTE_ARRAY",
};

/** A column default (merutable's `FieldValue`) as a {@link Value}. */
function defaultValue(v: FieldValue | null | undefined): Value {
  if (!v) return null;
  if ("Boolean" in v) return v.Boolean;
  if ("Int32" in v) return v.Int32;
  if ("Int64" in v) return BigInt(v.Int64);
  if ("Float" in v) return v.Float;
  if ("Double" in v) return v.Double;
  return Uint8Array.from(v.Bytes);
}

/** Whether a Parquet column is annotated as UTF-8 text. */
export function isTextColumn(e: SchemaElement): boolean {
  return e.converted_type === "UTF8" || e.logical_type?.type === "STRING";
}

/**
 * How `col` is read from a file whose Parquet column of that name is `e`
 * (or none). A column missing from an older file reads as its
 * `initial_default` (merutable's schema evolution), else null.
 *
 * @throws TidemarkError `Corrupt` naming the file when the column's physical
 *   type is not the schema's, or a non-nullable column without a default is
 *   missing.
 */
export function planColumn(col: ColumnDef, e: SchemaElement | undefined, file: string): ColumnPlan {
  const type = col.col_type;
  const want = typeof type === "string" ? PHYSICAL[type] : "FIXED_LEN_BYTE_ARRAY";
  if (!e) {
    const fill = defaultValue(col.initial_default);
    if (fill === null && !col.nullable) {
      throw new TidemarkError(
        "Corrupt",
        `${file}: no column ${JSON.stringify(col.name)} (not nullable, no default)`,
        {
          key: file,
        },
      );
    }
    return { name: col.name, type, text: false, missing: true, fill };
  }
  const fixed = typeof type === "object" ? type.FixedLenByteArray : undefined;
  if (e.type !== want || (fixed !== undefined && e.type_length !== fixed)) {
    const got = e.type === "FIXED_LEN_BYTE_ARRAY" ? `FIXED_LEN_BYTE_ARRAY(${e.type_length})` : e.type;
    throw new TidemarkError(
      "Corrupt",
      `${file}: column ${JSON.stringify(col.name)} is ${got}, the schema says ${typeof type === "string" ? type : `FixedLenByteArray(${fixed})`}`,
      { key: file },
    );
  }
  return { name: col.name, type, text: type === "ByteArray" && isTextColumn(e), missing: false, fill: null };
}

// ignoreBOM: a leading U+FEFF is part of the value, never stripped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The value at `row` of a decoded column (what hyparquet returned, with
 * bytes kept as bytes), as the plan says.
 *
 * @throws TidemarkError `Corrupt` for text that is not UTF-8 or a value of
 *   the wrong kind.
 */
export function columnValue(
  plan: ColumnPlan,
  data: ColumnData | undefined,
  row: number,
  file: string,
): Value {
  if (plan.missing || !data) return plan.fill;
  const v = data.get(row);
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean":
    case "bigint":
      return v;
    case "number":
    case "string":
      return v;
    default:
      if (v instanceof Uint8Array) {
        if (!plan.text) return v;
        try {
          return utf8.decode(v);
        } catch {
          throw new TidemarkError(
            "Corrupt",
            `${file}: column ${JSON.stringify(plan.name)} holds text that is not UTF-8`,
            {
              key: file,
            },
          );
        }
      }
      throw new TidemarkError("Corrupt", `${file}: column ${JSON.stringify(plan.name)} holds ${typeof v}`, {
        key: file,
      });
  }
}

/** A key value as the column's {@link Value} (text for a text column), for comparing with the typed column. */
export function keyAsValue(k: KeyValue, plan: ColumnPlan): Value {
  if (k instanceof Uint8Array && plan.text) {
    try {
      return utf8.decode(k);
    } catch {
      return k;
    }
  }
  return k;
}

/** Whether two values are the same (floats by `Object.is`: NaN equals NaN, 0 is not -0; bytes by content). */
export function sameValue(a: Value, b: Value): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Object.is(a, b);
}
