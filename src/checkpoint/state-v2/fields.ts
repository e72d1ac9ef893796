/**
 * Typed reads of parsed JSON with serde's rules, for the documents of the
 * `state-v2` layout (seal, namespace, floor): a missing field is an error
 * unless the field is an `Option` (then `null`), a field given twice is an
 * error, unknown fields are an error only for structs marked
 * `deny_unknown_fields`, and integers must be exact, in range and not
 * written with a fraction or exponent.
 *
 * @module
 */

import { digestBytes, isDigestHex, parseUuid, U32_MAX, U64_MAX } from "./ids.ts";
import { isJsonFloat, isJsonObject, type Json } from "./json.ts";

/** A document that parses as JSON but not as the Rust struct (serde's error, in its words). */
export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchemaError";
  }
}

function describe(v: Json | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "boolean") return `boolean \`${v}\``;
  if (typeof v === "bigint") return `integer \`${v}\``;
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (Array.isArray(v)) return "a sequence";
  if (isJsonFloat(v)) return `floating point \`${v.float}\``;
  return "a map";
}

/**
 * The fields of struct `what`: `v` must be an object; a known field given
 * twice is refused; with `denyUnknown`, so is any field not in `known`.
 */
export function struct(
  v: Json | undefined,
  what: string,
  known: readonly string[],
  denyUnknown = false,
): Map<string, Json> {
  if (!isJsonObject(v)) throw new SchemaError(`invalid type: ${describe(v)}, expected struct ${what}`);
  for (const k of v.duplicates) {
    if (known.includes(k)) throw new SchemaError(`duplicate field \`${k}\` in ${what}`);
  }
  if (denyUnknown) {
    for (const k of v.fields.keys()) {
      if (!known.includes(k)) throw new SchemaError(`unknown field \`${k}\` in ${what}`);
    }
  }
  return v.fields;
}

/** A required field of `fields` (serde: "missing field"). */
export function field(fields: Map<string, Json>, name: string, what: string): Json {
  const v = fields.get(name);
  if (v === undefined) throw new SchemaError(`missing field \`${name}\` in ${what}`);
  return v;
}

/** An `Option` field: absent or `null` is `null`, anything else goes through `read`. */
export function optional<T>(fields: Map<string, Json>, name: string, read: (v: Json) => T): T | null {
  const v = fields.get(name);
  return v === undefined || v === null ? null : read(v);
}

function unsigned(v: Json | undefined, what: string, max: bigint, type: string): bigint {
  if (typeof v !== "bigint")
    throw new SchemaError(`invalid type: ${describe(v)}, expected ${type} (${what})`);
  if (v < 0n || v > max) throw new SchemaError(`invalid value: integer \`${v}\`, expected ${type} (${what})`);
  return v;
}

/** A u64 (`bigint`, exact). */
export function u64(v: Json | undefined, what: string): bigint {
  return unsigned(v, what, U64_MAX, "u64");
}

/** A u32. */
export function u32(v: Json | undefined, what: string): number {
  return Number(unsigned(v, what, BigInt(U32_MAX), "u32"));
}

/** A u16. */
export function u16(v: Json | undefined, what: string): number {
  return Number(unsigned(v, what, 0xffffn, "u16"));
}

/** A u8. */
export function u8(v: Json | undefined, what: string): number {
  return Number(unsigned(v, what, 0xffn, "u8"));
}

/** A string. */
export function str(v: Json | undefined, what: string): string {
  if (typeof v !== "string")
    throw new SchemaError(`invalid type: ${describe(v)}, expected a string (${what})`);
  return v;
}

/** A sequence, each element read by `read`. */
export function seq<T>(v: Json | undefined, what: string, read: (x: Json, i: number) => T): T[] {
  if (!Array.isArray(v)) throw new SchemaError(`invalid type: ${describe(v)}, expected a sequence (${what})`);
  return v.map(read);
}

/** A `uuid::Uuid` (a string the `uuid` crate parses). */
export function uuid(v: Json | undefined, what: string): Uint8Array {
  const s = str(v, what);
  const b = parseUuid(s);
  if (b === undefined) throw new SchemaError(`invalid UUID ${JSON.stringify(s)} (${what})`);
  return b;
}

/** A `[u8; 32]` written by `hex_digest_serde`: 64 lowercase hex characters. */
export function hexDigest(v: Json | undefined, what: string): Uint8Array {
  const s = str(v, what);
  if (!isDigestHex(s)) {
    throw new SchemaError(`SHA-256 digest must be 64 lowercase hexadecimal characters (${what})`);
  }
  return digestBytes(s);
}

/** A plain `[u8; 32]`: serde writes it as a sequence of 32 integers. */
export function byteArray32(v: Json | undefined, what: string): Uint8Array {
  const items = seq(v, what, (x, i) => u8(x, `${what}[${i}]`));
  if (items.length !== 32)
    throw new SchemaError(`invalid length ${items.length}, expected an array of length 32 (${what})`);
  return Uint8Array.from(items);
}
