/**
 * The admin route `POST /api/tables/:table/doctor`: `doctor` on the table's
 * target store (whatever its configuration names: an R2 binding, an S3
 * bucket), under a scratch prefix it deletes afterwards. Query: `checks` and
 * `skip`, comma-separated check ids. Answers the report as JSON: 200 when no
 * check failed, 502 when one did (the store behind the worker answered wrongly).
 */

import { DOCTOR_WRONG_SECRET, type DoctorReport, doctor, selectChecks } from "../src/doctor/doctor.ts";
import type { Env } from "./env.ts";
import { openRef } from "./stores.ts";
import { resolveTable } from "./tables.ts";

/**
 * Skipped unless asked for with `checks`: `list-pagination` writes 1,001
 * objects, more calls than one invocation may make on the Workers free plan
 * (1,000 to Cloudflare services). https://developers.cloudflare.com/workers/platform/limits/
 */
export const WORKER_DOCTOR_SKIP = "list-pagination";

/** Probes `table`'s target store with the checks `query` selects. */
export async function doctorMirror(env: Env, table: string, query: URLSearchParams): Promise<DoctorReport> {
  const only = query.get("checks") ?? undefined;
  const checks = selectChecks(
    only,
    query.get("skip") ?? (only === undefined ? WORKER_DOCTOR_SKIP : undefined),
  );
  const { target, config } = await resolveTable(env, table);
  // An S3 target has credentials to falsify; an R2 binding has none (auth-failure: unsupported).
  const badCredentials =
    config.target.credentials !== undefined
      ? () =>
          openRef(env, config.target, "target", (name) =>
            name.endsWith("_SECRET_ACCESS_KEY")
              ? DOCTOR_WRONG_SECRET
              : ((env as unknown as Record<string, string | undefined>)[name] ?? undefined),
          ).store
      : undefined;
  // A table with a lock setting: object-lock checks that the bucket enforces one in its mode.
  const lock = config.lock ? { lock: { mode: config.lock.mode } } : {};
  return doctor(target, badCredentials ? { checks, badCredentials, ...lock } : { checks, ...lock });
}
