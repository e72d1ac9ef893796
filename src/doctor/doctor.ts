/**
 * `doctor(store)`: a live capability probe. It runs each check of
 * {@link DOCTOR_CHECKS} against the real store, under a scratch prefix it
 * deletes afterwards, and reports one row per check: ok, failed or
 * unsupported, and why (with the vendor's answer). A store that ignores
 * `If-None-Match` (SeaweedFS once let 3 of 3 concurrent creators win) fails
 * `create-only` and `concurrent-create` here, before it costs a mirror or a
 * checkpoint its safety.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import { numberOption } from "../options.ts";
import { prefixed } from "../store/prefixed.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import { newWriterToken } from "../store/writer-token.ts";
import {
  type CheckContext,
  DOCTOR_CHECKS,
  type DoctorCheckId,
  type DoctorCheckResult,
  runCheck,
} from "./checks.ts";

/** Options of {@link doctor}. */
export interface DoctorOptions {
  /** The checks to run (default: all of {@link DOCTOR_CHECKS}, in that order). */
  checks?: readonly DoctorCheckId[];
  /**
   * Where the scratch objects go (default `_tidemark-doctor/<time>-<random>/`);
   * everything under it is deleted afterwards.
   */
  prefix?: string;
  /** Concurrent creators in `concurrent-create` (2–64, default 8). */
  concurrency?: number;
  /**
   * Keys written by `list-pagination` (2–100,000; default the store's list
   * page size + 1, so the listing needs two pages: 1,001 on S3 and R2).
   */
  listPageKeys?: number;
  /** Skew of the store's clock above which `clock-skew` fails, in ms (default 300,000: 5 min). */
  maxClockSkewMs?: number;
  /**
   * The same store with a wrong secret (or a function making it), for
   * `auth-failure`; without it that check is `unsupported`. The CLI and the
   * worker pass one for S3 stores.
   */
  badCredentials?: ObjectStore | (() => ObjectStore);
  /**
   * Check Object Lock in this mode (`object-lock`: a short retention is
   * written, must refuse deletes until it ends, then allow them; the check
   * waits about 4.5 s). Without it that check is `unsupported`.
   */
  lock?: { mode: "governance" | "compliance" };
  /** Called with each result as it is known (progress). */
  onCheck?: (result: DoctorCheckResult) => void;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** Waits (default a timer): `object-lock` waits for its retention to end. */
  sleep?: (ms: number) => Promise<void>;
}

/** What {@link doctor} found. */
export interface DoctorReport {
  /** The store's name (never a secret). */
  store: string;
  /** True when no check failed (`unsupported` is not a failure). */
  ok: boolean;
  /** The checks that failed, by id. */
  failed: DoctorCheckId[];
  /** One row per check run, in {@link DOCTOR_CHECKS} order. */
  checks: DoctorCheckResult[];
  /** The scratch prefix the probe wrote under. */
  prefix: string;
  /** Whether the scratch objects were all deleted afterwards. */
  cleanup: { ok: boolean; deleted: number; detail?: string };
  /** ISO time the probe started, and how long it took. */
  startedAt: string;
  ms: number;
}

/** Checks `ids` are known check ids; `InvalidArgument` naming the first that is not. */
export function validateCheckIds(ids: readonly string[], what = "checks"): DoctorCheckId[] {
  const known = new Set<string>(DOCTOR_CHECKS);
  for (const id of ids) {
    if (!known.has(id)) {
      throw new TidemarkError(
        "InvalidArgument",
        `${what}: unknown check ${JSON.stringify(id)} (known: ${DOCTOR_CHECKS.join(", ")})`,
      );
    }
  }
  return ids as DoctorCheckId[];
}

/**
 * The checks to run from comma-separated lists (a CLI flag, a query
 * parameter): `only` (default: every check) minus `skip`, in
 * {@link DOCTOR_CHECKS} order.
 *
 * @throws TidemarkError `InvalidArgument` naming an unknown check and the list it came from.
 */
export function selectChecks(
  only: string | undefined,
  skip: string | undefined,
  names: { only: string; skip: string } = { only: "checks", skip: "skip" },
): DoctorCheckId[] {
  const parse = (text: string, what: string) =>
    validateCheckIds(
      text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
      what,
    );
  const chosen = new Set(only === undefined ? DOCTOR_CHECKS : parse(only, names.only));
  const skipped = new Set(skip === undefined ? [] : parse(skip, names.skip));
  return DOCTOR_CHECKS.filter((id) => chosen.has(id) && !skipped.has(id));
}

/**
 * A secret no store has: the CLI and the worker sign `auth-failure`'s request
 * with it to see what the store's auth failure looks like.
 */
export const DOCTOR_WRONG_SECRET = "tidemark-doctor-deliberately-wrong-secret-0000";

/**
 * A store that records every key written through it (so the scratch prefix
 * can be cleaned up even where listing is broken or missing).
 */
function recordingWrites(store: ObjectStore, written: Set<string>): ObjectStore {
  return {
    name: store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    get: (k, o) => store.get(k, o),
    head: (k) => store.head(k),
    put: (k, b, o) => {
      written.add(k);
      return store.put(k, b, o);
    },
    delete: (k) => store.delete(k),
    deleteMany: (ks, o) => store.deleteMany(ks, o),
    list: (p, o) => store.list(p, o),
  };
}

/**
 * Probes a live store: runs the checks (default all of
 * {@link DOCTOR_CHECKS}) one after the other, each under its own part of a
 * scratch prefix, then deletes everything under that prefix. Never throws
 * for what the store does: a refusal, a wrong answer or an error is a
 * `failed` row naming the step and the vendor's answer.
 *
 * Costs (S3): about 70 requests plus `listPageKeys` puts for
 * `list-pagination` (1,001 by default) and one DeleteObjects per 1,000 keys.
 *
 * @throws TidemarkError `InvalidArgument` for bad options (an unknown check,
 *   a count out of range, a prefix starting with `/`).
 */
export async function doctor(store: ObjectStore, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const now = opts.now ?? Date.now;
  const checks = validateCheckIds(opts.checks ?? DOCTOR_CHECKS);
  const caps = capabilitiesOf(store);
  const concurrency = numberOption("concurrency", opts.concurrency, 8, { min: 2, max: 64 });
  const listPageKeys = numberOption("listPageKeys", opts.listPageKeys, caps.listPageSize + 1, {
    min: 2,
    max: 100_000,
  });
  const maxClockSkewMs = numberOption("maxClockSkewMs", opts.maxClockSkewMs, 300_000, { min: 0 });
  const base = opts.prefix ?? `_tidemark-doctor/${now()}-${newWriterToken().slice(0, 12)}/`;
  if (base === "" || base.startsWith("/")) {
    throw new TidemarkError("InvalidArgument", "doctor prefix must be non-empty and not start with '/'");
  }
  const prefix = base.endsWith("/") ? base : `${base}/`;
  const bad = typeof opts.badCredentials === "function" ? opts.badCredentials() : opts.badCredentials;
  const lock = opts.lock;
  if (lock !== undefined && lock?.mode !== "governance" && lock?.mode !== "compliance") {
    throw new TidemarkError("InvalidArgument", 'doctor lock.mode must be "governance" or "compliance"');
  }

  const started = now();
  const written = new Set<string>();
  const scratch = recordingWrites(prefixed(store, prefix), written);
  const badScratch = bad ? recordingWrites(prefixed(bad, prefix), written) : undefined;
  const results: DoctorCheckResult[] = [];
  let cleanup: DoctorReport["cleanup"];
  try {
    for (const id of DOCTOR_CHECKS) {
      if (!checks.includes(id)) continue;
      const ctx: CheckContext = {
        store: prefixed(scratch, id),
        caps,
        concurrency,
        listPageKeys,
        maxClockSkewMs,
        badCredentials: badScratch ? prefixed(badScratch, id) : undefined,
        lock,
        now,
        sleep: opts.sleep,
      };
      const r = await runCheck(id, ctx);
      results.push(r);
      opts.onCheck?.(r);
    }
  } finally {
    // Even when an onCheck callback threw: the scratch objects never stay behind.
    cleanup = await cleanUp(store, prefix, written, caps.list && caps.write);
  }
  const failed = results.filter((r) => r.status === "failed").map((r) => r.id);
  return {
    store: store.name,
    ok: failed.length === 0,
    failed,
    checks: results,
    prefix,
    cleanup,
    startedAt: new Date(started).toISOString(),
    ms: Math.max(0, now() - started),
  };
}

/** Deletes every scratch object: the keys written, plus whatever a listing of the prefix shows. */
async function cleanUp(
  store: ObjectStore,
  prefix: string,
  written: Set<string>,
  canList: boolean,
): Promise<DoctorReport["cleanup"]> {
  const keys = new Set([...written].map((k) => `${prefix}${k}`));
  let detail: string | undefined;
  if (canList) {
    try {
      for await (const m of store.list(prefix)) if (!m.isPrefix) keys.add(m.key);
    } catch (e) {
      detail = `listing the scratch prefix failed: ${(e as Error).message}`;
    }
  }
  if (keys.size === 0) return detail ? { ok: true, deleted: 0, detail } : { ok: true, deleted: 0 };
  try {
    // Every version: on a versioned bucket a plain delete would leave them all behind.
    const r = await store.deleteMany(keys, { allVersions: true });
    if (r.errors.length > 0) {
      return {
        ok: false,
        deleted: r.deleted,
        detail: `${r.errors.length} scratch objects were not deleted (first: ${r.errors[0]?.key}: ${r.errors[0]?.code})`,
      };
    }
    return detail ? { ok: true, deleted: r.deleted, detail } : { ok: true, deleted: r.deleted };
  } catch (e) {
    return { ok: false, deleted: 0, detail: `deleting the scratch prefix failed: ${(e as Error).message}` };
  }
}
