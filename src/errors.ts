/**
 * The one error class of tidemark. Every error the library throws is a
 * `TidemarkError` with a `code`; the message starts with `[Code]` so the code
 * survives transports that keep only the message (Workers RPC drops custom
 * fields and the class name).
 *
 * @module
 */

/**
 * Every error code tidemark uses. `PermissionDenied` is a refusal: a store
 * that refused a request (whatever its HTTP status: S3 answers a bad
 * signature with 403, a bucket a missing login with 401), or a credential
 * that does not cover what was asked (403). `Unauthenticated` is what
 * tidemark's own servers answer a caller who brought no credential, or one
 * that is not valid (401): ask again with one.
 */
export const ERROR_CODES = [
  "NotFound",
  "AlreadyExists",
  "PreconditionFailed",
  "SplitBrain",
  "StaleVersion",
  "Corrupt",
  "InvalidArgument",
  "NotSupported",
  "PermissionDenied",
  "Unauthenticated",
  "Transient",
  "Unknown",
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Options for {@link TidemarkError}. */
export interface TidemarkErrorOptions {
  /** The object key the error is about, if any (never a URL). */
  key?: string;
  /** The underlying error. Must not carry secrets: adapters scrub before wrapping. */
  cause?: unknown;
}

const CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);
const PREFIX = /^\[([A-Za-z]+)\] /;

/**
 * An error with a machine-readable {@link ErrorCode}.
 *
 * Recognise it with {@link isTidemarkError}, which checks the name (and the
 * `[Code]` message prefix), not `instanceof`: two copies of the package, or an
 * error that crossed Workers RPC, must still be recognised.
 */
export class TidemarkError extends Error {
  /** The error code. */
  readonly code: ErrorCode;
  /** The object key the error is about, if any. */
  readonly key: string | undefined;

  constructor(code: ErrorCode, message: string, options: TidemarkErrorOptions = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TidemarkError";
    this.code = code;
    this.key = options.key;
  }
}

/**
 * The code of `e` if it is a tidemark error (by name, or by the `[Code]`
 * prefix of an error that lost its class across RPC), else `undefined`.
 */
export function errorCodeOf(e: unknown): ErrorCode | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const { name, code, message } = e as { name?: unknown; code?: unknown; message?: unknown };
  if (name === "TidemarkError" && typeof code === "string" && CODE_SET.has(code)) {
    return code as ErrorCode;
  }
  if (typeof message === "string") {
    const m = PREFIX.exec(message);
    if (m?.[1] !== undefined && CODE_SET.has(m[1])) return m[1] as ErrorCode;
  }
  return undefined;
}

/** True when `e` is a tidemark error, and (if given) has code `code`. */
export function isTidemarkError(e: unknown, code?: ErrorCode): e is TidemarkError {
  const c = errorCodeOf(e);
  return c !== undefined && (code === undefined || c === code);
}

/**
 * `e` as a `TidemarkError`: itself if it is one, a rebuilt one if it carries a
 * `[Code]` prefix (an error that crossed RPC), else `Unknown` wrapping it.
 */
export function toTidemarkError(e: unknown): TidemarkError {
  if (e instanceof TidemarkError) return e;
  const code = errorCodeOf(e);
  const message = e instanceof Error ? e.message : String(e);
  if (code !== undefined) {
    return new TidemarkError(code, message.replace(PREFIX, ""), { cause: e });
  }
  return new TidemarkError("Unknown", message, { cause: e });
}

/**
 * The HTTP status of each code: NotFound 404, AlreadyExists and SplitBrain
 * 409, PreconditionFailed 412, InvalidArgument 400, Unauthenticated 401,
 * PermissionDenied 403, NotSupported 501, Transient 503, else 500.
 */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case "NotFound":
      return 404;
    case "AlreadyExists":
    case "SplitBrain":
      return 409;
    case "PreconditionFailed":
      return 412;
    case "InvalidArgument":
      return 400;
    case "Unauthenticated":
      return 401;
    case "PermissionDenied":
      return 403;
    case "NotSupported":
      return 501;
    case "Transient":
      return 503;
    default:
      return 500;
  }
}
