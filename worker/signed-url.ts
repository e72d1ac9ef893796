/**
 * Signed object URLs: `GET /api/tables/:table/sign?key=K` (a read
 * credential needed) returns a short-lived URL of the object route,
 * `/objects/{table}/{key}?exp=E&sig=S`, that a browser or a Parquet reader
 * can GET, HEAD and Range-read without any header. `S` is HMAC-SHA256, keyed
 * by the secret `SIGNING_KEY`, over the table, the key, the method class
 * (`read`: GET and HEAD) and the expiry `E` (Unix seconds), so a URL names
 * one object of one table until it expires, and nothing else. Checked with
 * `crypto.subtle.verify`, which compares in constant time.
 */
import { TidemarkError } from "../src/errors.ts";
import { parseNumberOption } from "../src/options.ts";
import { validateKey } from "../src/store/keys.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";

/** Default lifetime of a signed URL, seconds. */
export const SIGNED_URL_TTL_SECS = 300;
/** Longest lifetime `?ttl=` may ask for, seconds. */
export const MAX_SIGNED_URL_TTL_SECS = 3600;
/** The shortest `SIGNING_KEY` accepted (characters): an HMAC key is only as strong as it is long. */
export const MIN_SIGNING_KEY_LENGTH = 32;

const encoder = new TextEncoder();

/** The HMAC key of `SIGNING_KEY`, checked and imported once per `env` (worker/per-env.ts). */
const signingKey = perEnv((env: Env): Promise<CryptoKey> => {
  const secret = env.SIGNING_KEY;
  if (!secret) {
    throw new TidemarkError(
      "NotSupported",
      "signed URLs need the secret SIGNING_KEY (wrangler secret put SIGNING_KEY)",
    );
  }
  if (secret.length < MIN_SIGNING_KEY_LENGTH) {
    throw new TidemarkError(
      "InvalidArgument",
      `SIGNING_KEY must be at least ${MIN_SIGNING_KEY_LENGTH} characters`,
    );
  }
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
});

/** What is signed: every part that a URL must not be able to change. */
function payload(table: string, key: string, exp: number): Uint8Array {
  return encoder.encode(`tidemark-object-url-v1\n${table}\n${key}\nread\n${exp}`);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(s: string): Uint8Array | undefined {
  // HMAC-SHA256: 32 bytes, 43 characters unpadded.
  if (!/^[A-Za-z0-9_-]{43}$/.test(s)) return undefined;
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The object route's path of `key` in `table`: each key segment percent-encoded (what `decodeObjectKey` undoes). */
export function objectPath(table: string, key: string): string {
  return `/objects/${table}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * Refuses a key with a `.` or `..` segment: every URL parser resolves them
 * (`/objects/t/a/../b` is `/objects/t/b`, and `..` twice leaves the table), so
 * a URL signed for such a key would name another object, or another table's,
 * and never verify. No object of a table has one (manifest paths cannot).
 */
function checkSignableKey(key: string): void {
  validateKey(key);
  for (const seg of key.split("/")) {
    if (seg === "." || seg === "..") {
      throw new TidemarkError(
        "InvalidArgument",
        `cannot sign key ${JSON.stringify(key.slice(0, 200))}: a "${seg}" segment is resolved by every URL, so the URL would name another object`,
      );
    }
  }
}

/**
 * A signed URL of object `key` of `table`, relative to `base` (the worker's
 * origin), valid `ttl` seconds (text from `?ttl=`: 1 to 3600, default 300).
 *
 * @throws TidemarkError `InvalidArgument` for a bad key (a `.` or `..`
 *   segment included) or ttl or a short `SIGNING_KEY`; `NotSupported` when
 *   `SIGNING_KEY` is unset.
 */
export async function signObjectUrl(
  env: Env,
  base: string,
  table: string,
  key: string,
  ttl: string | undefined,
  nowMs = Date.now(),
): Promise<{ url: string; expiresAt: string }> {
  checkSignableKey(key);
  const secs = parseNumberOption("ttl", ttl, SIGNED_URL_TTL_SECS, { min: 1, max: MAX_SIGNED_URL_TTL_SECS });
  const exp = Math.floor(nowMs / 1000) + secs;
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", await signingKey(env), payload(table, key, exp)),
  );
  const url = new URL(objectPath(table, key), base);
  url.search = `exp=${exp}&sig=${base64url(sig)}`;
  return { url: url.href, expiresAt: new Date(exp * 1000).toISOString() };
}

/** True when the request carries a signature (`exp` or `sig`): it is then judged by it alone. */
export function isSigned(params: URLSearchParams): boolean {
  return params.has("sig") || params.has("exp");
}

/**
 * Checks a signed request for object `key` of `table`: `undefined` when the
 * signature is right and unexpired, else why not (never quoting it).
 */
export async function checkSignedUrl(
  env: Env,
  table: string,
  key: string,
  params: URLSearchParams,
  nowMs = Date.now(),
): Promise<string | undefined> {
  const expText = params.get("exp") ?? "";
  const sig = fromBase64url(params.get("sig") ?? "");
  if (
    !/^\d{1,12}$/.test(expText) ||
    sig === undefined ||
    params.getAll("sig").length > 1 ||
    params.getAll("exp").length > 1
  ) {
    return "malformed signed URL";
  }
  const exp = Number(expText);
  const ok = await crypto.subtle.verify("HMAC", await signingKey(env), sig, payload(table, key, exp));
  if (!ok) return "the signed URL does not match this object";
  if (nowMs >= exp * 1000) return "the signed URL has expired";
  return undefined;
}
