import { isTidemarkError, TidemarkError } from "../errors.ts";
import { getIfExists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * merutable's primary layout, the POSIX catalog
 * (https://github.com/salesforce-misc/merutable/blob/41101e3/crates/merutable/src/iceberg/catalog.rs):
 * `version-hint.text` names the current version,
 * `metadata/v{N}.metadata.pb` holds the MRUB-framed manifest of version N
 * (the same bytes as an object-store `metadata/v{N}.manifest.bin`), and old
 * catalogs may still hold legacy JSON manifests `metadata/v{N}.metadata.json`.
 * merutable commits by writing the manifest, then replacing the hint (write
 * `version-hint.text.tmp`, rename), so a reader that reads the hint first
 * never meets a torn commit.
 *
 * @module
 */

/** The pointer to the current version of a posix table: decimal, no newline. */
export const VERSION_HINT_KEY = "version-hint.text";

const POSIX_MANIFEST_RE = /^metadata\/v([1-9][0-9]*)\.metadata\.(pb|json)$/;

function checkVersion(v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new TidemarkError("InvalidArgument", `version must be an integer >= 1, got ${v}`);
  }
}

/**
 * The key of version `v`'s manifest in a posix table:
 * `metadata/v{N}.metadata.pb` (unpadded, as merutable writes it).
 *
 * @throws TidemarkError `InvalidArgument` unless `v` is a safe integer >= 1.
 */
export function posixManifestKey(v: number): string {
  checkVersion(v);
  return `metadata/v${v}.metadata.pb`;
}

/** The key of version `v`'s legacy JSON manifest: `metadata/v{N}.metadata.json`. */
export function legacyManifestKey(v: number): string {
  checkVersion(v);
  return `metadata/v${v}.metadata.json`;
}

/**
 * The version and kind of a posix manifest key (`pb`, or legacy `json`), or
 * `undefined` if it is not one.
 */
export function parsePosixManifestKey(key: string): { version: number; kind: "pb" | "json" } | undefined {
  const m = POSIX_MANIFEST_RE.exec(key);
  if (m?.[1] === undefined) return undefined;
  const version = Number(m[1]);
  if (!Number.isSafeInteger(version)) return undefined;
  return { version, kind: m[2] === "json" ? "json" : "pb" };
}

/** What {@link readVersionHint} found. */
export interface VersionHint {
  version: number;
  /** The hint's etag (a restore that continues replaces it with `If-Match`). */
  etag: string;
}

/**
 * Parses `version-hint.text` as merutable does: the text trimmed, then a
 * decimal integer (a leading `+` accepted, as Rust's `i64` parse does).
 * Returns `undefined` for anything else, and for 0 or a negative version,
 * which merutable never writes (versions start at 1).
 */
function parseVersionHint(text: string): number | undefined {
  const t = text.trim();
  if (!/^\+?[0-9]{1,16}$/.test(t)) return undefined;
  const v = Number(t.replace(/^\+/, ""));
  return Number.isSafeInteger(v) && v >= 1 ? v : undefined;
}

/**
 * Reads `version-hint.text`: one GET.
 *
 * @returns the version it names, or `undefined` when it is missing.
 * @throws TidemarkError `Corrupt` when it is not a decimal version >= 1
 *   (merutable refuses it too: "bad version-hint"); store errors other than
 *   `NotFound` (a `Transient` error is never taken for "missing").
 */
export async function readVersionHint(store: ObjectStore): Promise<VersionHint | undefined> {
  const body = await getIfExists(store, VERSION_HINT_KEY);
  if (body === undefined) return undefined;
  const { etag } = body;
  const text = await body.text();
  const version = parseVersionHint(text);
  if (version === undefined) {
    throw new TidemarkError(
      "Corrupt",
      `${VERSION_HINT_KEY} is not a decimal version >= 1 (${JSON.stringify(text.slice(0, 64))}): merutable refuses it too`,
      { key: VERSION_HINT_KEY },
    );
  }
  return { version, etag };
}

/**
 * The error for a legacy JSON manifest, which tidemark does not decode: its
 * bytes cannot be carried into the object-store layout (which holds only
 * MRUB frames) nor restored byte for byte.
 */
export function legacyManifestError(key: string): TidemarkError {
  return new TidemarkError(
    "NotSupported",
    `${key} is a legacy JSON manifest (merutable before its protobuf manifests): tidemark reads only MRUB-framed manifests; ` +
      "a commit by a current merutable writes the next version as metadata/v{N}.metadata.pb",
    { key },
  );
}

/** Whether `e` is {@link legacyManifestError}'s error. */
export function isLegacyManifestError(e: unknown): boolean {
  return isTidemarkError(e, "NotSupported") && (e.key?.endsWith(".metadata.json") ?? false);
}
