/**
 * The identities LaminarDB's `state-v2` layout writes, in the exact forms
 * its Rust reader accepts: u64 values (decimal path segments and big-endian
 * header fields, kept as `bigint` so values past 2^53 stay exact), SHA-256
 * digests as 64 lowercase hex characters (`digest_hex`, `hex_digest_serde`),
 * and UUIDs as the `uuid` crate parses them.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";

/** The largest u64. */
export const U64_MAX = (1n << 64n) - 1n;
/** The largest u32. */
export const U32_MAX = 0xffff_ffff;

const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * `text` as a u64 when it is what Rust's `format!("{}", u64)` writes (no
 * sign, no leading zero, at most 2^64 - 1), else `undefined`.
 */
export function canonicalU64(text: string): bigint | undefined {
  if (!CANONICAL_DECIMAL.test(text) || text.length > 20) return undefined;
  const n = BigInt(text);
  return n <= U64_MAX ? n : undefined;
}

/** `text` as a u32 written canonically (see {@link canonicalU64}), else `undefined`. */
export function canonicalU32(text: string): number | undefined {
  const n = canonicalU64(text);
  return n !== undefined && n <= BigInt(U32_MAX) ? Number(n) : undefined;
}

/** Lowercase hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Whether `s` is a SHA-256 digest as LaminarDB writes one: 64 lowercase hex characters. */
export function isDigestHex(s: unknown): s is string {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}

/** The bytes of a 64-character lowercase hex digest (checked by {@link isDigestHex} first). */
export function digestBytes(s: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Whether every byte of `bytes` is zero (a nil UUID, an absent digest). */
export function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Whether `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const encoder = new TextEncoder();

/** SHA-256 of a string's UTF-8 bytes (a descriptor key's digest in its header). */
export function sha256OfText(s: string): Uint8Array {
  return sha256(encoder.encode(s));
}

const HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * A UUID's 16 bytes, parsed as the `uuid` crate's `Uuid::parse_str` (and so
 * serde) accepts it: 32 hex digits, hyphenated, `{hyphenated}` or
 * `urn:uuid:hyphenated`, either case; `undefined` otherwise.
 * https://docs.rs/uuid/latest/uuid/struct.Uuid.html#method.parse_str
 */
export function parseUuid(s: string): Uint8Array | undefined {
  let body = s;
  if (body.startsWith("urn:uuid:")) body = body.slice("urn:uuid:".length);
  else if (body.startsWith("{") && body.endsWith("}")) body = body.slice(1, -1);
  let digits: string;
  if (/^[0-9a-fA-F]{32}$/.test(body) && body === s) digits = body;
  else if (HYPHENATED.test(body)) digits = body.replaceAll("-", "");
  else return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A UUID's bytes as the `uuid` crate prints them: lowercase, hyphenated. */
export function formatUuid(bytes: Uint8Array): string {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
