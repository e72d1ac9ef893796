/**
 * THE mapping of S3 answers to tidemark error codes (every S3 failure goes
 * through {@link classifyS3Error}; vendor quirks are normalised there, with
 * links), and the error a failed exchange becomes.
 *
 * @module
 */
import { type ErrorCode, TidemarkError } from "../../errors.ts";
import { codeOfHttpStatus } from "../wire.ts";

/** The conditional header a request carried, which changes what 412/404 mean. */
export type S3Condition = "create" | "ifMatch";

/** One failed S3 exchange, as {@link classifyS3Error} and {@link s3Error} take it. */
export interface S3Failure {
  /** What tidemark was doing: "get", "put", "list", "complete multipart upload", ... */
  op: string;
  /** The object key (as the caller named it), if any. */
  key?: string;
  /** HTTP status; `undefined` when `fetch` itself threw (network error). */
  status?: number;
  /** The S3 error code from the body (`NoSuchKey`, `SlowDown`, ...). */
  s3Code?: string;
  /** The S3 error message from the body. */
  s3Message?: string;
  /** The request id, for support tickets (not a secret). */
  requestId?: string;
  condition?: S3Condition;
}

// Error codes meaning "try again", whatever the status (some arrive in a 200
// body, e.g. CompleteMultipartUpload, or with an unusual status).
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "TooManyRequests",
  // 409, "A conflicting conditional operation is currently in progress against
  // this resource. Try again." (AWS, racing conditional writes); retry is the
  // documented answer. https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
  "ConditionalRequestConflict",
  "OperationAborted",
]);

const AUTH_CODES = new Set([
  "AccessDenied",
  "SignatureDoesNotMatch",
  "InvalidAccessKeyId",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
  "AccountProblem",
  "InvalidSecurity",
  "RequestTimeTooSkewed",
]);

const NOT_FOUND_CODES = new Set(["NoSuchKey", "NoSuchBucket", "NoSuchUpload"]);

/**
 * THE mapping from an S3 answer to a tidemark error code (every S3 failure
 * goes through here). Vendor differences normalised:
 *
 * - Create-only (`If-None-Match: *`) on an existing key: AWS and RGW answer
 *   412 PreconditionFailed, R2 412 too (error 10031), while RFC 9110 has 304
 *   for `If-None-Match` on GET/HEAD and some stores copy that onto PUT: both
 *   mean `AlreadyExists`. https://developers.cloudflare.com/r2/api/error-codes/
 * - AWS answers 409 ConditionalRequestConflict to racing conditional writes and
 *   asks for a retry: `Transient`.
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 * - `If-Match` on a missing key: AWS answers 404 NoSuchKey, and so does moto
 *   (which follows AWS), while RGW 16 and R2 answer 412: both are
 *   `PreconditionFailed` (the contract: a CAS on a missing key fails its
 *   precondition); the condition decides, since a plain 404 is `NotFound`.
 *   Both answers are seen on real servers by `doctor`'s `if-match-missing`.
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 *   https://github.com/getmoto/moto/blob/master/moto/s3/responses.py (put_object)
 *   https://github.com/minio/minio/issues/21526
 * - RGW 16 answers 500 to concurrent `If-Match` writers that lost the race:
 *   5xx is `Transient` (re-read and try again; measured on RGW 16.2.15).
 * - 403 (and the auth error codes, some of which come as 400) is `PermissionDenied`.
 * - 429, 5xx, `SlowDown` (503, or 429 on R2 for >1 write/s per key), network
 *   errors (`status` undefined): `Transient`.
 * - An `<Error>` body under HTTP 200 (CompleteMultipartUpload, CopyObject):
 *   classified by its code; `InternalError` there is `Transient`.
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
 */
export function classifyS3Error(f: Pick<S3Failure, "status" | "s3Code" | "condition">): ErrorCode {
  const { status, condition } = f;
  const code = f.s3Code ?? "";
  if (status === undefined) return codeOfHttpStatus(status);
  if (condition === "create" && (status === 412 || status === 304 || code === "PreconditionFailed")) {
    return "AlreadyExists";
  }
  if (TRANSIENT_CODES.has(code)) return "Transient";
  if (condition === "ifMatch" && (status === 412 || status === 404 || code === "PreconditionFailed")) {
    return "PreconditionFailed";
  }
  if (AUTH_CODES.has(code)) return "PermissionDenied";
  if (NOT_FOUND_CODES.has(code)) return "NotFound";
  if (code === "InvalidRange") return "InvalidArgument";
  // The body is not the checksum the put gave (a header or a trailer).
  // https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
  if (code === "BadDigest" || code === "XAmzContentChecksumMismatch") return "Corrupt";
  if (code === "NotImplemented") return "NotSupported";
  if (code === "PreconditionFailed") return "PreconditionFailed";
  // Everything else by HTTP status alone, as every HTTP adapter maps it.
  return codeOfHttpStatus(status);
}

/**
 * Whether a failed write may still have taken effect: the request reached the
 * server and it failed without saying (a network error after sending, a 500,
 * 502 or 504). 429, 503 and 409 ConditionalRequestConflict refuse the write
 * before applying it. A compare-and-swap is not retried blindly after an
 * ambiguous failure (its own first attempt could make the retry fail).
 */
export function isAmbiguousFailure(f: Pick<S3Failure, "status" | "s3Code">): boolean {
  const code = f.s3Code ?? "";
  if (f.status === undefined) return true;
  if (code === "SlowDown" || code === "ConditionalRequestConflict" || code === "OperationAborted")
    return false;
  return f.status >= 500 && f.status !== 503 && f.status !== 501;
}

/** The `TidemarkError` for a failed S3 exchange: code from {@link classifyS3Error}, a message naming the operation, key, status and S3 code. */
export function s3Error(
  f: S3Failure,
  scrub: (s: string) => string = (s) => s,
  cause?: unknown,
): TidemarkError {
  const code = classifyS3Error(f);
  const what = f.key === undefined ? `s3 ${f.op}` : `s3 ${f.op} ${JSON.stringify(f.key)}`;
  let why: string;
  if (f.status === undefined) {
    why = "network error";
  } else {
    const parts = [`HTTP ${f.status}`];
    if (f.s3Code) parts.push(f.s3Code);
    why = parts.join(" ");
    if (f.s3Message) why += `: ${f.s3Message}`;
    if (f.requestId) why += ` (request id ${f.requestId})`;
  }
  const explain =
    code === "AlreadyExists"
      ? "object already exists; "
      : code === "PreconditionFailed" && f.condition === "ifMatch"
        ? "etag does not match (or no object); "
        : "";
  const options: { key?: string; cause?: unknown } = {};
  if (f.key !== undefined) options.key = f.key;
  if (cause !== undefined) options.cause = cause;
  return new TidemarkError(code, scrub(`${what}: ${explain}${why}`), options);
}
