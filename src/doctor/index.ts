export { vendorAnswerOf } from "./checks/probe.ts";
export {
  checkTitle,
  DOCTOR_CHECKS,
  type DoctorCheckId,
  type DoctorCheckResult,
  type DoctorStatus,
} from "./checks.ts";
export {
  DOCTOR_WRONG_SECRET,
  type DoctorOptions,
  type DoctorReport,
  doctor,
  selectChecks,
  validateCheckIds,
} from "./doctor.ts";
export { type EnsureSafeStoreOptions, ensureSafeStore, SAFE_STORE_CHECKS } from "./safe-store.ts";
