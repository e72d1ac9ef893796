/**
 * Row values as JSON, the form the CLI prints (`--format jsonl`) and pages
 * show: Int64 as a number when its magnitude is at most 2^53 - 1, else as a
 * decimal string; bytes that are not text as base64; Float as the shortest
 * decimal that reads back as the same 32-bit float; NaN and the infinities
 * as strings (JSON has no such numbers).
 *
 * @module
 */
import type { ColumnType, TableSchema } from "../catalog/schema.ts";
import { base64 } from "../store/http-common.ts";
import type { KeyValue } from "./ikey.ts";
import type { Value } from "./values.ts";

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The shortest decimal text that reads back as the 32-bit float `v`. */
export function float32Text(v: number): string {
  for (let p = 1; p < 10; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

/** A value as JSON (see the module notes); `type` tells a Float from a Double. */
export function jsonValue(v: Value | KeyValue, type?: ColumnType): unknown {
  if (v === null) return null;
  if (typeof v === "bigint") return v <= SAFE && v >= -SAFE ? Number(v) : String(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    return type === "Float" ? Number(float32Text(v)) : v;
  }
  if (v instanceof Uint8Array) return base64(v);
  return v;
}

/** A row's values as one JSON object: user columns by name, in schema order. */
export function rowJson(schema: TableSchema, values: readonly Value[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  schema.columns.forEach((c, i) => {
    out[c.name] = jsonValue(values[i] ?? null, c.col_type);
  });
  return out;
}

/** A key's values (in key-column order) as one JSON object: key columns by name. */
export function keyJson(schema: TableSchema, key: readonly Value[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  schema.primary_key.forEach((idx, i) => {
    const c = schema.columns[idx];
    if (c) out[c.name] = jsonValue(key[i] ?? null, c.col_type);
  });
  return out;
}
