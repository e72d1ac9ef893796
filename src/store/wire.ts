/**
 * How objects travel over HTTP, for every part that speaks it (`S3Store`,
 * `HttpStore`, the server's `serveObject`): key paths, etags, ranges,
 * `x-amz-meta-*` metadata headers, and the one table from an HTTP status to a
 * code. Web-standard globals only (they run in browsers), and no signing
 * code, so the HTTP store stays small in a browser bundle.
 *
 * @module
 */
import { type ErrorCode, TidemarkError } from "../errors.ts";

// RFC 3986 reserves these, encodeURIComponent leaves them: S3's SigV4 canonical
// path wants them encoded, and aws4fetch encodes them when it signs.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
const RFC3986_EXTRA = /[!'()*]/g;

/** `encodeURIComponent` plus RFC 3986's `!'()*`. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    RFC3986_EXTRA,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The URL path of an object key: each `/`-separated segment percent-encoded
 * (so `+`, `%`, `?`, `#`, spaces and unicode survive; aws4fetch signs a raw `+`
 * as a space). `InvalidArgument` for what a URL cannot carry: a `.` or `..`
 * segment (WHATWG URL parsing removes them, also when written `%2e`) and
 * lone UTF-16 surrogates (not encodable as UTF-8).
 */
export function encodeKeyPath(key: string): string {
  return key
    .split("/")
    .map((segment) => {
      if (segment === "." || segment === "..") {
        throw new TidemarkError(
          "InvalidArgument",
          `object key ${JSON.stringify(key)} has a "${segment}" segment, which URLs cannot carry`,
          { key },
        );
      }
      try {
        return encodeRfc3986(segment);
      } catch {
        throw new TidemarkError("InvalidArgument", "object key contains a lone UTF-16 surrogate", { key });
      }
    })
    .join("/");
}

/** An etag as tidemark gives it: without `W/` and quotes (`"abc"` → `abc`). */
export function stripEtag(etag: string | null | undefined): string {
  if (!etag) return "";
  let e = etag.trim();
  if (e.startsWith("W/")) e = e.slice(2);
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

/** Parses `Content-Range: bytes a-b/total` (or `bytes *\/total`); `undefined` when absent or malformed. */
export function parseContentRange(
  value: string | null,
): { start?: number; end?: number; total?: number } | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const out: { start?: number; end?: number; total?: number } = {};
  if (m[1] !== undefined) out.start = Number(m[1]);
  if (m[2] !== undefined) out.end = Number(m[2]);
  if (m[3] !== undefined && m[3] !== "*") out.total = Number(m[3]);
  return out;
}

/**
 * The `Range` header for a range, or `undefined` when the whole object is
 * wanted (offset 0, no length): no header then, so an empty object reads
 * fine (a `bytes=0-` range of 0 bytes is unsatisfiable, 416).
 */
export function rangeHeader(range: { offset: number; length?: number } | undefined): string | undefined {
  if (!range || (range.offset === 0 && range.length === undefined)) return undefined;
  const end = range.length === undefined ? "" : String(range.offset + range.length - 1);
  return `bytes=${range.offset}-${end}`;
}

const META_PREFIX = "x-amz-meta-";
// A header field name (RFC 9110 token).
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const RFC2047 = /^=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=$/i;

/**
 * `x-amz-meta-*` request headers for user metadata. Keys must be header
 * tokens (`InvalidArgument` otherwise). Values that are not printable ASCII
 * are sent RFC 2047-encoded (`=?UTF-8?B?...?=`), as AWS itself stores and
 * returns non-ASCII metadata; {@link metadataFromHeaders} decodes them.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html#UserMetadata
 */
export function metadataHeaders(
  metadata: Record<string, string> | undefined,
  key: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    const name = k.toLowerCase();
    if (!TOKEN.test(name)) {
      throw new TidemarkError(
        "InvalidArgument",
        `metadata key ${JSON.stringify(k)} is not a valid header name`,
        {
          key,
        },
      );
    }
    out[META_PREFIX + name] =
      PRINTABLE_ASCII.test(v) && !RFC2047.test(v) ? v : `=?UTF-8?B?${base64(new TextEncoder().encode(v))}?=`;
  }
  return out;
}

/** User metadata from `x-amz-meta-*` response headers (keys lower-case, RFC 2047 values decoded). */
export function metadataFromHeaders(headers: {
  forEach(cb: (value: string, name: string) => void): void;
}): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!name.startsWith(META_PREFIX)) return;
    const m = RFC2047.exec(value.trim());
    let v = value;
    if (m?.[1] !== undefined) {
      try {
        v = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64(m[1]));
      } catch {
        v = value;
      }
    }
    out[name.slice(META_PREFIX.length)] = v;
  });
  return out;
}

/** Standard base64 of bytes (no Node `Buffer` in the core). */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** The bytes of standard base64 (`InvalidCharacterError` for anything else, from `atob`). */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * THE table from an HTTP status to a tidemark error code, shared by every
 * HTTP adapter (the S3 store falls back to it after its S3 error codes; the
 * HTTP store uses it as is). `undefined` is a request that got no answer (a
 * network error): `Transient`.
 */
export function codeOfHttpStatus(status: number | undefined): ErrorCode {
  if (status === undefined) return "Transient";
  switch (status) {
    case 400:
    case 411:
    case 413:
    case 414:
    case 416:
      return "InvalidArgument";
    // A store refused: PermissionDenied whichever of the two it answered
    // (`Unauthenticated` is what tidemark's own servers answer their callers).
    case 401:
    case 403:
      return "PermissionDenied";
    case 404:
    case 410:
      return "NotFound";
    case 405:
    case 501:
      return "NotSupported";
    case 408:
    case 429:
      return "Transient";
    case 412:
      return "PreconditionFailed";
  }
  return status >= 500 ? "Transient" : "Unknown";
}
