/**
 * The ids of `doctor`'s checks, apart from the checks themselves, so that the
 * `tidemark` command can list them in its help without loading the doctor.
 *
 * @module
 */

/** Every check `doctor` knows, in the order it runs them. */
export const DOCTOR_CHECKS = [
  "create-only",
  "concurrent-create",
  "stale-if-match",
  "if-match-missing",
  "read-after-write",
  "list-after-write",
  "list-order",
  "list-pagination",
  "list-start-after",
  "list-delimiter",
  "delete-missing",
  "ranged-read",
  "streamed-upload",
  "metadata",
  "sha256-recorded",
  "sha256-checked",
  "clock-skew",
  "auth-failure",
  "object-lock",
] as const;

/** One of {@link DOCTOR_CHECKS}. */
export type DoctorCheckId = (typeof DOCTOR_CHECKS)[number];
