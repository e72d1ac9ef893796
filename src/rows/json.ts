/**
 * Row values as JSON, the form the CLI prints (`--format jsonl`) and pages
 * show: Int64 as a number when its magnitude is at most 2^53 - 1, else as a
 * decimal string; bytes that are not text as base64; Float as the shortest
 * decimal that reads back as the same 32-bit float; NaN and the infinities
 * as strings (JSON has no such numbers). And as a person reads them in a
 * table ({@link cellText}: the CLI's text tables, the inspector's cells).
 *
 * @module
 */
import type { ColumnType, TableSchema } from "../catalog/schema.ts";
import { base64 } from "../store/wire.ts";
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

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A value as a person reads it in a table: NULL; a Float as its shortest
 * decimal; bytes as text when they are printable UTF-8, else `0x` and hex;
 * text with control characters escaped as JSON.
 */
export function cellText(v: Value, type: ColumnType | undefined): string {
  if (v === null) return "NULL";
  if (typeof v === "number") return type === "Float" && Number.isFinite(v) ? float32Text(v) : String(v);
  if (v instanceof Uint8Array) {
    try {
      const s = utf8.decode(v);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters make bytes binary
      if (!/[\u0000-\u001f\u007f]/.test(s)) return s;
    } catch {
      // not UTF-8
    }
    return `0x${Array.from(v, (x) => x.toString(16).padStart(2, "0")).join("")}`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are shown escaped
  if (typeof v === "string" && /[\u0000-\u001f\u007f]/.test(v)) return JSON.stringify(v);
  return String(v);
}
