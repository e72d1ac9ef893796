/**
 * Failing closed: `ensureSafeStore(store, checks)` runs the doctor checks a
 * component depends on, once per store instance, and refuses a store that
 * fails one. {@link SAFE_STORE_CHECKS} lists the checks of the catalog, the
 * mirror's target and the checkpoint store.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";
import type { DoctorCheckId, DoctorCheckResult } from "./checks.ts";
import { type DoctorOptions, doctor, validateCheckIds } from "./doctor.ts";

/**
 * The checks each component's safety rests on (on the store it writes):
 *
 * - `catalog`: a commit is a create-only manifest put that racing committers
 *   contend for; low_water moves by create and compare-and-swap; HEAD
 *   discovery reads right after a commit; expire deletes keys that may be gone.
 * - `mirror` (the target): files and manifests are created create-only, by
 *   Durable Object instances that can overlap; low_water by compare-and-swap;
 *   one listing with `startAfter` (merged in byte order) replaces a HEAD per
 *   file; big files are streamed with their size.
 * - `checkpoint`: `_COMMIT` is create-only and contended; a seal lists the
 *   partials it just saw written; the latest committed epoch is a delimiter
 *   listing; prune deletes in batches that may name missing keys.
 *
 * `list-pagination` is left out (it writes a page of objects, 1,001 on S3):
 * run `tidemark doctor` once per store for it.
 */
export const SAFE_STORE_CHECKS = {
  catalog: [
    "create-only",
    "concurrent-create",
    "stale-if-match",
    "if-match-missing",
    "read-after-write",
    "delete-missing",
  ],
  mirror: [
    "create-only",
    "concurrent-create",
    "stale-if-match",
    "if-match-missing",
    "read-after-write",
    "list-after-write",
    "list-order",
    "list-start-after",
    "streamed-upload",
  ],
  checkpoint: [
    "create-only",
    "concurrent-create",
    "read-after-write",
    "list-after-write",
    "list-delimiter",
    "delete-missing",
  ],
} as const satisfies Record<string, readonly DoctorCheckId[]>;

/** Options of {@link ensureSafeStore}. */
export interface EnsureSafeStoreOptions extends Pick<DoctorOptions, "prefix" | "concurrency" | "now"> {
  /** Who needs the store, for the message ("Mirror target", "Catalog"). */
  purpose?: string;
}

// Per store instance, the result of each check (a promise, so concurrent
// callers share one probe). Transient failures are not kept: the next call
// probes again.
const verdicts = new WeakMap<ObjectStore, Map<DoctorCheckId, Promise<DoctorCheckResult>>>();

/**
 * Resolves when `store` passes every check in `checks`; each check runs at
 * most once per store instance (results are cached; concurrent callers share
 * one probe). The probe writes under a scratch prefix of `store` and deletes
 * it afterwards.
 *
 * @throws TidemarkError `NotSupported` naming the first failed (or
 *   unsupported) check, its detail and the vendor's answer; `Transient` when
 *   a check failed on a transient error (not cached: the next call retries);
 *   `InvalidArgument` for an unknown check id.
 */
export async function ensureSafeStore(
  store: ObjectStore,
  checks: readonly DoctorCheckId[],
  opts: EnsureSafeStoreOptions = {},
): Promise<void> {
  validateCheckIds(checks);
  let cache = verdicts.get(store);
  if (!cache) {
    cache = new Map();
    verdicts.set(store, cache);
  }
  const known = cache;
  const todo = checks.filter((id) => !known.has(id));
  if (todo.length > 0) {
    const doctorOpts: DoctorOptions = { checks: todo };
    if (opts.prefix !== undefined) doctorOpts.prefix = opts.prefix;
    if (opts.concurrency !== undefined) doctorOpts.concurrency = opts.concurrency;
    if (opts.now !== undefined) doctorOpts.now = opts.now;
    const report = doctor(store, doctorOpts);
    for (const id of todo) {
      const row = report.then((r) => {
        const found = r.checks.find((c) => c.id === id);
        if (!found) throw new TidemarkError("Unknown", `doctor returned no result for check ${id}`);
        return found;
      });
      // Awaited below, or by a later call; never an unhandled rejection meanwhile.
      row.catch(() => {});
      known.set(id, row);
    }
  }
  const who = opts.purpose ? `${opts.purpose}: ` : "";
  for (const id of checks) {
    const p = known.get(id);
    if (!p) continue;
    let row: DoctorCheckResult;
    try {
      row = await p;
    } catch (e) {
      known.delete(id);
      throw e;
    }
    if (row.status === "ok") continue;
    if (row.errorCode === "Transient") {
      known.delete(id);
      throw new TidemarkError(
        "Transient",
        `${who}cannot tell whether store ${store.name} is safe: check ${id} met a transient error: ${row.detail}`,
      );
    }
    const vendor = row.vendor ? ` [${row.vendor}]` : "";
    throw new TidemarkError(
      "NotSupported",
      `${who}store ${store.name} is not safe to use: check ${id} ${row.status === "failed" ? "failed" : "is unsupported"} (${row.title}): ${row.detail}${vendor}`,
    );
  }
}

/**
 * The gate a component runs before its first write: `ensureSafeStore` with
 * its checks when `require` is set (the `requireSafeStore` option of
 * `Catalog`, `Mirror` and `CheckpointStore`), else nothing.
 */
export function safetyGate(
  require: boolean | undefined,
  store: ObjectStore,
  component: keyof typeof SAFE_STORE_CHECKS,
  purpose: string,
): () => Promise<void> {
  if (!require) return async () => {};
  return () => ensureSafeStore(store, SAFE_STORE_CHECKS[component], { purpose });
}
