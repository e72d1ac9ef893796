/**
 * merutable's internal key (`_merutable_ikey`): the primary-key fields,
 * each encoded so that comparing bytes compares values, then an 8-byte
 * big-endian tag `((2^56 - 1 - seq) << 8) | op`. Comparing whole ikeys as
 * bytes orders by key ascending, then by sequence number descending
 * (https://github.com/salesforce-misc/merutable/blob/41101e3/crates/merutable/src/types/key.rs).
 *
 * The field encodings are self-delimiting (fixed widths; byte arrays escaped
 * and terminated), so an encoded key is never a proper prefix of another
 * key of the same schema, and a key compares with an ikey as it compares
 * with that ikey's user key.
 *
 * @module
 */
import type { ColumnType, TableSchema } from "../catalog/schema.ts";
import { TidemarkError } from "../errors.ts";

/** A primary-key value: Boolean, Int32 and Float/Double numbers, Int64 bigints, text or bytes. */
export type KeyValue = boolean | number | bigint | string | Uint8Array;

/** merutable's `SEQNUM_MAX`: tags store `SEQNUM_MAX - seq`, so newer rows sort first. */
export const SEQNUM_MAX = (1n << 56n) - 1n;
/** `_merutable_op` of a delete (a tombstone). */
export const OP_DELETE = 0;
/** `_merutable_op` of a put. */
export const OP_PUT = 1;

/** Bytes of an internal key's tag (sequence number and op, after the user key). */
export const TAG_BYTES = 8;
const encoder = new TextEncoder();

/** Compares bytes as unsigned, shorter first on a common prefix (memcmp order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Whether `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The parts of an internal key. */
export interface InternalKeyParts {
  /** The encoded primary key (the ikey without its tag). */
  userKey: Uint8Array;
  seq: bigint;
  /** {@link OP_PUT} or {@link OP_DELETE}. */
  op: number;
}

/**
 * Splits an internal key into its user key, sequence number and op.
 *
 * @throws TidemarkError `Corrupt` for a key shorter than its tag, an
 *   inverted sequence number above `SEQNUM_MAX` or an op other than 0 or 1
 *   (merutable refuses the same).
 */
export function splitInternalKey(ikey: Uint8Array, where = "_merutable_ikey"): InternalKeyParts {
  if (ikey.length < TAG_BYTES) {
    throw new TidemarkError("Corrupt", `${where}: an internal key of ${ikey.length} bytes (at least 8)`);
  }
  const view = new DataView(ikey.buffer, ikey.byteOffset + ikey.length - TAG_BYTES, TAG_BYTES);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const op = lo & 0xff;
  // (tag >> 8) in two halves: bigints only where needed.
  const inverted = (BigInt(hi) << 24n) | BigInt(lo >>> 8);
  if (inverted > SEQNUM_MAX) {
    throw new TidemarkError("Corrupt", `${where}: inverted sequence number ${inverted} exceeds 2^56 - 1`);
  }
  if (op !== OP_PUT && op !== OP_DELETE) throw new TidemarkError("Corrupt", `${where}: unknown op ${op}`);
  return { userKey: ikey.subarray(0, ikey.length - TAG_BYTES), seq: SEQNUM_MAX - inverted, op };
}

/** Builds an internal key (for fixtures and tests): the user key, then the tag. */
export function internalKey(userKey: Uint8Array, seq: bigint, op: number): Uint8Array {
  const out = new Uint8Array(userKey.length + TAG_BYTES);
  out.set(userKey);
  new DataView(out.buffer).setBigUint64(userKey.length, ((SEQNUM_MAX - seq) << 8n) | BigInt(op));
  return out;
}

function typeName(t: ColumnType): string {
  return typeof t === "string" ? t : `FixedLenByteArray(${t.FixedLenByteArray})`;
}

/** Bits of a float in key order: a positive value with its sign bit flipped, a negative one inverted. */
function orderedFloat(bytes: Uint8Array): void {
  if (((bytes[0] as number) & 0x80) === 0) bytes[0] = (bytes[0] as number) ^ 0x80;
  else for (let i = 0; i < bytes.length; i++) bytes[i] = ~(bytes[i] as number) & 0xff;
}

/** The inverse of {@link orderedFloat}: a stored top bit 1 was a positive value, 0 a negative one. */
function unorderedFloat(bytes: Uint8Array): void {
  if (((bytes[0] as number) & 0x80) !== 0) bytes[0] = (bytes[0] as number) ^ 0x80;
  else for (let i = 0; i < bytes.length; i++) bytes[i] = ~(bytes[i] as number) & 0xff;
}

function fieldError(name: string, t: ColumnType, v: unknown, why: string): TidemarkError {
  const shown = typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `${v.length} bytes` : String(v);
  return new TidemarkError("InvalidArgument", `key column ${name} (${typeName(t)}): ${shown} ${why}`);
}

function encodeField(out: number[], v: KeyValue, t: ColumnType, name: string): void {
  switch (t) {
    case "Boolean":
      if (typeof v !== "boolean") throw fieldError(name, t, v, "is not true or false");
      out.push(v ? 1 : 0);
      return;
    case "Int32": {
      if (typeof v !== "number" || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
        throw fieldError(name, t, v, "is not a 32-bit integer");
      }
      const u = (v ^ 0x8000_0000) >>> 0;
      out.push(u >>> 24, (u >>> 16) & 0xff, (u >>> 8) & 0xff, u & 0xff);
      return;
    }
    case "Int64": {
      const b = typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : v;
      if (typeof b !== "bigint" || b < -(1n << 63n) || b >= 1n << 63n) {
        throw fieldError(name, t, v, "is not a 64-bit integer");
      }
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, b) ^ (1n << 63n));
      out.push(...bytes);
      return;
    }
    case "Float":
    case "Double": {
      if (typeof v !== "number" || Number.isNaN(v))
        throw fieldError(name, t, v, "is not a number (NaN is refused)");
      const n = t === "Float" ? 4 : 8;
      const bytes = new Uint8Array(n);
      const view = new DataView(bytes.buffer);
      if (n === 4) {
        if (Math.fround(v) !== v) throw fieldError(name, t, v, "is not a 32-bit float");
        view.setFloat32(0, v);
      } else view.setFloat64(0, v);
      orderedFloat(bytes);
      out.push(...bytes);
      return;
    }
    case "ByteArray": {
      const bytes = typeof v === "string" ? encoder.encode(v) : v;
      if (!(bytes instanceof Uint8Array)) throw fieldError(name, t, v, "is not text or bytes");
      for (const x of bytes) {
        if (x === 0) out.push(0, 0xff);
        else out.push(x);
      }
      out.push(0, 0);
      return;
    }
    default: {
      const bytes = typeof v === "string" ? encoder.encode(v) : v;
      if (!(bytes instanceof Uint8Array) || bytes.length !== t.FixedLenByteArray) {
        throw fieldError(name, t, v, `is not ${t.FixedLenByteArray} bytes`);
      }
      out.push(...bytes);
    }
  }
}

/** The primary key's columns: name and type, in key order. */
export function keyColumns(schema: TableSchema): Array<{ name: string; type: ColumnType; index: number }> {
  return schema.primary_key.map((i) => {
    const c = schema.columns[i];
    if (!c) throw new TidemarkError("InvalidArgument", `primary key column ${i} is not in the schema`);
    return { name: c.name, type: c.col_type, index: i };
  });
}

/**
 * Encodes primary-key values as merutable does (its `encode_pk_fields`).
 * `values` may be a prefix of the key's columns (1 to all of them): such a
 * partial key is a range bound that sorts before every key starting with it.
 *
 * @throws TidemarkError `InvalidArgument` naming the column for a value of
 *   the wrong type or range, a NaN float, or more values than key columns.
 */
export function encodeUserKey(values: readonly KeyValue[], schema: TableSchema): Uint8Array {
  const cols = keyColumns(schema);
  if (values.length === 0 || values.length > cols.length) {
    throw new TidemarkError(
      "InvalidArgument",
      `a key of table ${JSON.stringify(schema.table_name)} has ${cols.length} column(s) (${cols.map((c) => c.name).join(", ")}), got ${values.length} value(s)`,
    );
  }
  const out: number[] = [];
  values.forEach((v, i) => {
    const c = cols[i] as { name: string; type: ColumnType };
    encodeField(out, v, c.type, c.name);
  });
  return Uint8Array.from(out);
}

/**
 * Decodes a complete user key (a manifest's `key_min`/`key_max`, or an ikey
 * without its tag) into its values, in key-column order: Int64 as bigint,
 * Int32, Float and Double as numbers (floats exactly: merutable's own
 * decoder inverts the wrong case, this one does not), ByteArray and
 * FixedLenByteArray as bytes.
 *
 * @throws TidemarkError `Corrupt` when the bytes do not hold exactly one key.
 */
export function decodeUserKey(bytes: Uint8Array, schema: TableSchema, where = "user key"): KeyValue[] {
  const cols = keyColumns(schema);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: KeyValue[] = [];
  let at = 0;
  const corrupt = (why: string) =>
    new TidemarkError("Corrupt", `${where}: ${why} (${bytes.length} bytes, at byte ${at})`);
  const need = (n: number, name: string) => {
    if (at + n > bytes.length) throw corrupt(`too short for key column ${name}`);
  };
  for (const { name, type } of cols) {
    switch (type) {
      case "Boolean": {
        need(1, name);
        const b = bytes[at++] as number;
        if (b > 1) throw corrupt(`key column ${name}: ${b} is not a boolean`);
        values.push(b === 1);
        break;
      }
      case "Int32":
        need(4, name);
        values.push((view.getUint32(at) ^ 0x8000_0000) | 0);
        at += 4;
        break;
      case "Int64":
        need(8, name);
        values.push(BigInt.asIntN(64, view.getBigUint64(at) ^ (1n << 63n)));
        at += 8;
        break;
      case "Float":
      case "Double": {
        const n = type === "Float" ? 4 : 8;
        need(n, name);
        const raw = bytes.slice(at, at + n);
        unorderedFloat(raw);
        const dv = new DataView(raw.buffer);
        values.push(n === 4 ? dv.getFloat32(0) : dv.getFloat64(0));
        at += n;
        break;
      }
      case "ByteArray": {
        const out: number[] = [];
        for (;;) {
          if (at >= bytes.length) throw corrupt(`key column ${name}: no terminator`);
          const x = bytes[at++] as number;
          if (x !== 0) {
            out.push(x);
            continue;
          }
          const next = bytes[at++];
          if (next === 0xff) out.push(0);
          else if (next === 0) break;
          else throw corrupt(`key column ${name}: 0x00 followed by ${next ?? "nothing"}`);
        }
        values.push(Uint8Array.from(out));
        break;
      }
      default:
        need(type.FixedLenByteArray, name);
        values.push(bytes.slice(at, at + type.FixedLenByteArray));
        at += type.FixedLenByteArray;
    }
  }
  if (at !== bytes.length) throw corrupt(`${bytes.length - at} byte(s) after the key`);
  return values;
}

const scratch = new DataView(new ArrayBuffer(8));
let textScratch = new Uint8Array(256);

/**
 * Whether the user key `buf[start, end)` holds exactly the values of the
 * key columns (`values[columns[k]]` of type `types[k]`, in key order; text
 * for a text column): the key encoded in place, nothing allocated. What a
 * reader checks on every row it returns.
 */
export function keyHolds(
  buf: Uint8Array,
  start: number,
  end: number,
  types: readonly ColumnType[],
  columns: readonly number[],
  values: readonly unknown[],
): boolean {
  let at = start;
  for (let k = 0; k < types.length; k++) {
    const t = types[k] as ColumnType;
    const v = values[columns[k] as number];
    switch (t) {
      case "Boolean":
        if (typeof v !== "boolean" || at >= end || buf[at++] !== (v ? 1 : 0)) return false;
        break;
      case "Int32": {
        if (typeof v !== "number" || at + 4 > end) return false;
        scratch.setInt32(0, v);
        if (buf[at] !== ((scratch.getUint8(0) ^ 0x80) & 0xff)) return false;
        for (let i = 1; i < 4; i++) if (buf[at + i] !== scratch.getUint8(i)) return false;
        at += 4;
        break;
      }
      case "Int64": {
        if (typeof v !== "bigint" || at + 8 > end || v < -(1n << 63n) || v >= 1n << 63n) return false;
        scratch.setBigInt64(0, v);
        if (buf[at] !== ((scratch.getUint8(0) ^ 0x80) & 0xff)) return false;
        for (let i = 1; i < 8; i++) if (buf[at + i] !== scratch.getUint8(i)) return false;
        at += 8;
        break;
      }
      case "Float":
      case "Double": {
        const n = t === "Float" ? 4 : 8;
        if (typeof v !== "number" || at + n > end) return false;
        if (n === 4) scratch.setFloat32(0, v);
        else scratch.setFloat64(0, v);
        const negative = (scratch.getUint8(0) & 0x80) !== 0;
        for (let i = 0; i < n; i++) {
          const b = scratch.getUint8(i);
          const want = negative ? ~b & 0xff : i === 0 ? b ^ 0x80 : b;
          if (buf[at + i] !== want) return false;
        }
        at += n;
        break;
      }
      case "ByteArray": {
        let bytes: Uint8Array;
        if (typeof v === "string") {
          if (textScratch.length < v.length * 3) textScratch = new Uint8Array(v.length * 3);
          bytes = textScratch.subarray(0, encoder.encodeInto(v, textScratch).written);
        } else if (v instanceof Uint8Array) bytes = v;
        else return false;
        for (let i = 0; i < bytes.length; i++) {
          const x = bytes[i] as number;
          if (x === 0) {
            if (at + 2 > end || buf[at] !== 0 || buf[at + 1] !== 0xff) return false;
            at += 2;
          } else if (at >= end || buf[at++] !== x) return false;
        }
        if (at + 2 > end || buf[at] !== 0 || buf[at + 1] !== 0) return false;
        at += 2;
        break;
      }
      default: {
        if (!(v instanceof Uint8Array) || v.length !== t.FixedLenByteArray || at + v.length > end)
          return false;
        for (let i = 0; i < v.length; i++) if (buf[at + i] !== v[i]) return false;
        at += v.length;
      }
    }
  }
  return at === end;
}
