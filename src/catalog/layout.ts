import { isTidemarkError, TidemarkError } from "../errors.ts";
import { exists, getIfExists } from "../store/exists.ts";
import { backoffDelay, sleep } from "../store/retry.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";

/** The folder of manifests and low_water, relative to the table root. */
export const METADATA_PREFIX = "metadata/";
/** Where HEAD discovery starts: a decimal version, never moving backwards. */
export const LOW_WATER_KEY = "metadata/low_water.txt";
/**
 * A mirror's retention boundary: the oldest version it retains (decimal,
 * never moving backwards), published before retention deletes anything below
 * it. On a mirror low_water is the latest version mirrored (merutable's
 * meaning), so the boundary needs a key of its own; it lives under
 * `metadata/`, which no manifest entry may name, and matches neither
 * layout's manifest names, so layout detection never mistakes it.
 */
export const RETENTION_KEY = "metadata/oldest_retained.txt";

const MANIFEST_KEY_RE = /^metadata\/v([1-9][0-9]*)\.manifest\.bin$/;

function checkVersion(v: number, what = "version"): void {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new TidemarkError("InvalidArgument", `${what} must be an integer >= 1, got ${v}`);
  }
}

/**
 * The key of snapshot `v`'s manifest: `metadata/v{N}.manifest.bin` (unpadded,
 * as merutable writes it).
 *
 * @throws TidemarkError `InvalidArgument` unless `v` is a safe integer >= 1.
 */
export function manifestKey(v: number): string {
  checkVersion(v);
  return `${METADATA_PREFIX}v${v}.manifest.bin`;
}

/**
 * True when snapshot `v`'s manifest exists on `store` (one HEAD). Errors other
 * than `NotFound` propagate: a transient failure is not "missing".
 */
export function manifestExists(store: ObjectStore, v: number): Promise<boolean> {
  return exists(store, manifestKey(v));
}

/** The version of a manifest key (see {@link manifestKey}), or `undefined` if it is not one. */
export function parseManifestKey(key: string): number | undefined {
  const m = MANIFEST_KEY_RE.exec(key);
  if (m?.[1] === undefined) return undefined;
  const v = Number(m[1]);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** What {@link readLowWater} found. */
export interface LowWaterState {
  /** The stored version; `undefined` when the file is missing or not a decimal integer. */
  version: number | undefined;
  /** The file's etag (for compare-and-swap), `undefined` when missing. */
  etag: string | undefined;
  /** `missing`, `garbage` (present but not a decimal integer) or `ok`. */
  status: "ok" | "missing" | "garbage";
  /** The raw text when `garbage` (cut to 64 characters), for the warning. */
  raw?: string;
}

/** Parses low_water text: a decimal integer, surrounding whitespace allowed. */
function parseLowWater(text: string): number | undefined {
  const t = text.trim();
  if (!/^[0-9]{1,16}$/.test(t)) return undefined;
  const v = Number(t);
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * Reads `metadata/low_water.txt` (or another version pointer at `key`: an
 * Iceberg view's `version-hint.text`). A missing file or unparsable content is
 * reported in `status`, not thrown: HEAD discovery then starts at 1.
 *
 * @throws TidemarkError any store error other than `NotFound` (notably
 *   `Transient`): unlike merutable, a read error is never taken for "start at
 *   1", which on a mirror without v1 would report an empty table.
 */
export async function readLowWater(store: ObjectStore, key = LOW_WATER_KEY): Promise<LowWaterState> {
  const body = await getIfExists(store, key);
  if (body === undefined) return { version: undefined, etag: undefined, status: "missing" };
  const { etag } = body;
  const text = await body.text();
  const version = parseLowWater(text);
  if (version === undefined) return { version, etag, status: "garbage", raw: text.slice(0, 64) };
  return { version, etag, status: "ok" };
}

/**
 * The table's GC boundary: low_water's version, 0 when the file is missing.
 * Versions below it may be deleted by expire; versions at or above it never
 * are. With `key` = {@link RETENTION_KEY}: a mirror's retention boundary.
 *
 * @throws TidemarkError `Corrupt` when the file is not a decimal version
 *   (never guessed: merutable refuses the same way); store errors.
 */
export async function readBoundary(
  store: ObjectStore,
  key = LOW_WATER_KEY,
): Promise<LowWaterState & { status: "ok" | "missing" }> {
  const lw = await readLowWater(store, key);
  if (lw.status === "garbage") {
    throw new TidemarkError(
      "Corrupt",
      `${key} is not a decimal version (${JSON.stringify(lw.raw)}): refusing to guess where the table's history starts`,
      { key },
    );
  }
  return lw as LowWaterState & { status: "ok" | "missing" };
}

/**
 * The oldest version a mirror retains by its published retention boundary
 * ({@link RETENTION_KEY}), 0 when it publishes none (it keeps every version
 * it holds).
 *
 * @throws TidemarkError `Corrupt` when the file is not a decimal version; store errors.
 */
export async function readRetentionBoundary(store: ObjectStore): Promise<number> {
  return (await readBoundary(store, RETENTION_KEY)).version ?? 0;
}

/**
 * The error for a version below a table's retention boundary: expired, and
 * which version is the oldest one left.
 */
export function expiredVersionError(store: ObjectStore, version: number, oldest: number): TidemarkError {
  return new TidemarkError(
    "NotFound",
    `snapshot v${version} of ${store.name} has expired: the oldest version retained is v${oldest} (${RETENTION_KEY})`,
    { key: manifestKey(version) },
  );
}

/** Options of {@link advanceLowWater}. */
export interface AdvanceLowWaterOptions {
  /** Attempts before giving up under contention (default 16). */
  maxAttempts?: number;
  /** Sleeps between contended attempts (default `setTimeout`). */
  sleep?: (ms: number) => Promise<void>;
  /** The pointer to move (default {@link LOW_WATER_KEY}; an Iceberg view moves its `version-hint.text`). */
  key?: string;
}

/**
 * Moves `metadata/low_water.txt` forward to `version`; never backwards. Reads
 * the current value: at or past `version` there is nothing to do; missing, it
 * is created create-only; else replaced with `If-Match` on the etag just read
 * (where the store can compare-and-swap). A lost race (`AlreadyExists`,
 * `PreconditionFailed`, or the `Transient` RGW answers to racing `If-Match`
 * writers) re-reads and tries again, with backoff.
 *
 * On a store without compare-and-swap the replacement is a plain overwrite
 * followed by a re-read; two racing writers can then briefly leave the lower
 * value, and the re-read sees it and writes again.
 *
 * @returns the value now stored (>= `version`).
 * @throws TidemarkError `InvalidArgument` for a bad version; `PreconditionFailed`
 *   if contention outlasts `maxAttempts`; store errors from the reads.
 */
export async function advanceLowWater(
  store: ObjectStore,
  version: number,
  opts: AdvanceLowWaterOptions = {},
): Promise<number> {
  checkVersion(version, "low_water");
  const maxAttempts = opts.maxAttempts ?? 16;
  const cas = capabilitiesOf(store).compareAndSwap;
  const body = String(version);
  const key = opts.key ?? LOW_WATER_KEY;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const cur = await readLowWater(store, key);
    if (cur.version !== undefined && cur.version >= version) return cur.version;
    try {
      if (cur.etag === undefined) {
        await store.put(key, body, { mode: "create", contentType: "text/plain" });
        return version;
      }
      if (cas) {
        await store.put(key, body, { mode: { ifMatch: cur.etag }, contentType: "text/plain" });
        return version;
      }
      await store.put(key, body, { contentType: "text/plain" });
      // Without CAS, a racing writer may have overwritten a higher value with a lower one.
      const after = await readLowWater(store, key);
      if (after.version !== undefined && after.version >= version) return after.version;
    } catch (e) {
      const raced =
        isTidemarkError(e, "AlreadyExists") ||
        isTidemarkError(e, "PreconditionFailed") ||
        isTidemarkError(e, "Transient");
      if (!raced) throw e;
    }
    await (opts.sleep ?? sleep)(backoffDelay(attempt, { baseDelayMs: 5, maxDelayMs: 500 }));
  }
  throw new TidemarkError(
    "PreconditionFailed",
    `${key === LOW_WATER_KEY ? "low_water" : key} did not reach ${version} after ${maxAttempts} contended attempts`,
    { key },
  );
}
