/**
 * What every `doctor` check is written with: the shape of a check
 * ({@link CheckDef}), how a failed step becomes a `failed` outcome
 * ({@link CheckFailed}, {@link step}, {@link failed}), how a refusal is
 * read (its tidemark code and the vendor's answer, {@link vendorAnswerOf}),
 * and the small reads the probes share. The checks themselves live in one
 * module per theme next to this one; `../checks.ts` assembles them.
 *
 * @module
 */
import { errorCodeOf } from "../../errors.ts";
import type { ObjectMeta, ObjectStore, StoreCapabilities } from "../../store/types.ts";
import type { CheckContext, DoctorStatus, Outcome } from "../checks.ts";

/** One check: what it proves, what it needs of the store, and the probe. */
export interface CheckDef {
  title: string;
  /** Capabilities without which the check cannot be asked (then `unsupported`). */
  needs: ReadonlyArray<keyof Pick<StoreCapabilities, "write" | "list" | "compareAndSwap">>;
  run(c: CheckContext): Promise<Outcome>;
}

/**
 * A failed step of a check: thrown inside a check, turned into a `failed`
 * outcome by `runCheck`.
 */
export class CheckFailed {
  readonly outcome: Outcome;
  constructor(outcome: Outcome) {
    this.outcome = outcome;
  }
}

/**
 * The vendor's answer an adapter error names: S3Store and HttpStore messages
 * carry `HTTP <status>` and, for S3, the error code (`HTTP 412
 * PreconditionFailed`), or `network error`.
 */
export function vendorAnswerOf(e: unknown): string | undefined {
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : "";
  const http = /\bHTTP (\d{3})(?: ([A-Z][A-Za-z0-9]*))?/.exec(message);
  if (http) return http[2] ? `HTTP ${http[1]} ${http[2]}` : `HTTP ${http[1]}`;
  if (/\bnetwork error\b/.test(message)) return "network error";
  return undefined;
}

/** "AlreadyExists (HTTP 412 PreconditionFailed)" or just the code. */
export function describeRefusal(code: string, vendor: string | undefined): string {
  return vendor ? `${code} (${vendor})` : code;
}

/** An error's message, for a check's detail. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An outcome, with the vendor's answer when there is one. */
function outcome(status: DoctorStatus, detail: string, vendor: string | undefined): Outcome {
  return vendor ? { status, detail, vendor } : { status, detail };
}

/** The failed outcome for an unexpected error during `step`. */
export function unexpected(step: string, e: unknown): CheckFailed {
  const out = outcome("failed", `${step}: ${messageOf(e)}`, vendorAnswerOf(e));
  out.errorCode = errorCodeOf(e) ?? "Unknown";
  return new CheckFailed(out);
}

/** Runs one step; an error fails the check naming the step. */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    throw unexpected(name, e);
  }
}

/** The check passed: `detail` says what the store did, `vendor` its refusal's answer. */
export function passed(detail: string, vendor?: string): Outcome {
  return outcome("ok", detail, vendor);
}

/** The check failed: thrown from inside a check. */
export function failed(detail: string, vendor?: string): CheckFailed {
  return new CheckFailed(outcome("failed", detail, vendor));
}

/** The body of `key`, as text. */
export async function text(s: ObjectStore, key: string): Promise<string> {
  return (await s.get(key)).text();
}

/** Every entry a listing of `prefix` returns, in order. */
export async function listAll(
  s: ObjectStore,
  prefix: string,
  opts?: { startAfter?: string; delimiter?: string },
) {
  const out: ObjectMeta[] = [];
  for await (const m of s.list(prefix, opts)) out.push(m);
  return out;
}

/** How `p` was refused: `{ code, vendor }`, or `undefined` when it succeeded. */
export async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; vendor?: string; error: unknown } | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    const r: { code: string; vendor?: string; error: unknown } = {
      code: errorCodeOf(e) ?? "Unknown",
      error: e,
    };
    const vendor = vendorAnswerOf(e);
    if (vendor) r.vendor = vendor;
    return r;
  }
}
