/**
 * The conformance matrix (docs/conformance.md) is generated from a test run:
 * each test that probes a store with `doctor` records its report on the
 * vitest task (`task.meta.conformance`), the JSON reporter writes it to
 * test-output/vitest.json, and scripts/conformance.ts renders the page from
 * there. Works inside workerd too (task meta travels back to the reporter).
 */
import type { DoctorReport, DoctorStatus } from "../../src/index.ts";

/** The matrix's columns, in order: id → heading. */
export const CONFORMANCE_COLUMNS = {
  memory: "MemoryStore",
  filestore: "FileStore",
  rgw: "Ceph RGW 16 (S3Store)",
  "rgw-lock": "Ceph RGW 16, an Object Lock bucket (S3Store, --lock compliance)",
  moto: "moto, signatures unchecked (S3Store)",
  "moto-lock": "moto, an Object Lock bucket (S3Store, --lock compliance)",
  "moto-auth": "moto, signatures checked (S3Store)",
  r2: "R2 binding in workerd (R2Store)",
  "drops-if-none-match": "moto behind a proxy that drops If-None-Match (S3Store)",
} as const;

export type ConformanceColumn = keyof typeof CONFORMANCE_COLUMNS;

/** One column's results, as recorded on a task. */
export interface ConformanceRecord {
  column: ConformanceColumn;
  checks: { id: string; status: DoctorStatus; vendor?: string; detail: string }[];
}

declare module "vitest" {
  interface TaskMeta {
    conformance?: ConformanceRecord;
  }
}

/**
 * A report's details without what changes from run to run: the random
 * scratch prefix, request ids and timings, so the page only changes when a
 * store's behaviour does.
 */
function stable(detail: string, prefix: string): string {
  return detail
    .split(prefix)
    .join("")
    .replace(/\s*\(request id [^)]*\)/g, "")
    .replace(/\(round trip \d+ ms\)/g, "")
    .replace(/\d+(\.\d+)? s (ahead|behind)/g, "N s $2")
    .trim();
}

/** Records `report` as the results of `column` on the running vitest task. */
export function recordConformance(
  ctx: { task: { meta: { conformance?: ConformanceRecord } } },
  column: ConformanceColumn,
  report: DoctorReport,
): void {
  ctx.task.meta.conformance = {
    column,
    checks: report.checks.map((c) => ({
      id: c.id,
      status: c.status,
      ...(c.vendor ? { vendor: c.vendor } : {}),
      detail: stable(c.detail, report.prefix),
    })),
  };
}
