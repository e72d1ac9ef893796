/**
 * JSON for API responses: protobuf-es messages carry `bigint` (int64) and
 * `Uint8Array` (bytes) fields that `JSON.stringify` refuses or mangles.
 *
 * @module
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * `value` as plain JSON: a `bigint` becomes a number when it is a safe
 * integer and a decimal string otherwise (no silent precision loss); bytes
 * become lower-case hex; protobuf-es bookkeeping (`$typeName`, `$unknown`) and
 * `undefined` fields are dropped; a `Map` becomes an object; a `Date` an ISO string.
 */
export function toJsonSafe(value: unknown): Json {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "string":
    case "boolean":
      return value;
    case "object":
      break;
    default:
      return null;
  }
  if (value instanceof Uint8Array) return hex(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value instanceof Map) {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of value) out[String(k)] = toJsonSafe(v);
    return out;
  }
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith("$") || v === undefined) continue;
    out[k] = toJsonSafe(v);
  }
  return out;
}
