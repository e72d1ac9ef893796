/**
 * The checks of `doctor`: each probes one property tidemark relies on, on a
 * live store, under a scratch prefix of its own, and says ok, failed or
 * unsupported, and why (with the vendor's answer when the store gave one).
 * This module holds their ids, the shape of a result, and the runner; the
 * probes live under `checks/`, one module per theme, assembled here into
 * the one table `runCheck` and `checkTitle` read.
 *
 * @module
 */
import type { ErrorCode } from "../errors.ts";
import type { ObjectStore, StoreCapabilities } from "../store/types.ts";
import type { DoctorCheckId } from "./check-ids.ts";
import { CHECKSUM_CHECKS } from "./checks/checksums.ts";
import { CLOCK_AUTH_CHECKS } from "./checks/clock-auth.ts";
import { CONDITIONAL_WRITE_CHECKS } from "./checks/conditional-writes.ts";
import { CONSISTENCY_CHECKS } from "./checks/consistency.ts";
import { OBJECT_LOCK_CHECKS } from "./checks/object-lock.ts";
import { type CheckDef, CheckFailed, unexpected } from "./checks/probe.ts";
import { READ_UPLOAD_CHECKS } from "./checks/reads-uploads.ts";

export { DOCTOR_CHECKS, type DoctorCheckId } from "./check-ids.ts";

/** What a check found: `unsupported` when the store cannot be asked (read-only, no listing, no credentials). */
export type DoctorStatus = "ok" | "failed" | "unsupported";

/** The result of one check. */
export interface DoctorCheckResult {
  id: DoctorCheckId;
  /** What the check proves, in words. */
  title: string;
  status: DoctorStatus;
  /** Why: what the store answered (and what was expected, when it failed). */
  detail: string;
  /**
   * The vendor's answer behind the decisive refusal or failure, as the
   * adapter reported it (`HTTP 412 PreconditionFailed`), when it gave one.
   */
  vendor?: string;
  /** The tidemark code of an unexpected error that failed the check (a `Transient` one is worth a re-run). */
  errorCode?: ErrorCode;
  /** Milliseconds the check took. */
  ms: number;
}

/** What a check runs with. */
export interface CheckContext {
  /** The store under this check's own scratch prefix. */
  store: ObjectStore;
  caps: StoreCapabilities;
  /** Concurrent creators of `concurrent-create`. */
  concurrency: number;
  /** Keys written by `list-pagination`. */
  listPageKeys: number;
  /** Skew above which `clock-skew` fails, ms. */
  maxClockSkewMs: number;
  /** The same store with a wrong secret, under the same scratch prefix (for `auth-failure`). */
  badCredentials: ObjectStore | undefined;
  /** The Object Lock mode `object-lock` writes with (absent: that check is `unsupported`). */
  lock?: { mode: "governance" | "compliance" } | undefined;
  now(): number;
  /** Waits (`object-lock` waits for its retention to end; default a timer). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** What a check returns (`ms` and `title` are added by the runner). */
export type Outcome = Omit<DoctorCheckResult, "id" | "title" | "ms">;

/** Every check, by id: one module per theme under `checks/`, assembled here. */
const CHECKS: Record<DoctorCheckId, CheckDef> = {
  ...CONDITIONAL_WRITE_CHECKS,
  ...CONSISTENCY_CHECKS,
  ...READ_UPLOAD_CHECKS,
  ...CHECKSUM_CHECKS,
  ...CLOCK_AUTH_CHECKS,
  ...OBJECT_LOCK_CHECKS,
};

/** The title of a check. */
export function checkTitle(id: DoctorCheckId): string {
  return CHECKS[id].title;
}

/** Runs one check; never throws (every error is a `failed` result). */
export async function runCheck(id: DoctorCheckId, c: CheckContext): Promise<DoctorCheckResult> {
  const def = CHECKS[id];
  const t0 = c.now();
  let outcome: Outcome;
  const missing = def.needs.filter((cap) => !c.caps[cap]);
  if (missing.length > 0) {
    outcome = {
      status: "unsupported",
      detail: `the store declares no ${missing.join(" and ")} capability`,
    };
  } else {
    try {
      outcome = await def.run(c);
    } catch (e) {
      outcome = e instanceof CheckFailed ? e.outcome : unexpected("check", e).outcome;
    }
  }
  return { id, title: def.title, ...outcome, ms: Math.max(0, c.now() - t0) };
}
