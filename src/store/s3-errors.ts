/**
 * S3 error handling in one place: the XML parser settings, the error-body
 * parser, the ONE function that maps an HTTP status and an S3 error code to a
 * tidemark {@link ErrorCode} (vendor quirks commented there), and scrubbing of
 * secrets from anything that ends up in an error.
 *
 * @module
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { type ErrorCode, TidemarkError } from "../errors.ts";

// Elements that repeat; fast-xml-parser would make a single one a plain value.
const ARRAYS = new Set([
  "ListBucketResult.Contents",
  "ListBucketResult.CommonPrefixes",
  "DeleteResult.Deleted",
  "DeleteResult.Error",
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  // Keys like "00012" must stay strings, and keys may start or end with spaces.
  parseTagValue: false,
  trimValues: false,
  // Numeric character references (&#x1F600;) in keys and messages.
  htmlEntities: true,
  isArray: (_name, jpath) => ARRAYS.has(String(jpath)),
});

/** A parsed XML document (element name → string | element | element[]). */
export type XmlNode = { [name: string]: XmlValue };
/** A value in an {@link XmlNode}. */
export type XmlValue = string | XmlNode | XmlValue[];

/**
 * Parses an S3 XML document; `undefined` when it is not well-formed (a
 * truncated body: "a 200 OK response can contain valid or invalid XML", AWS
 * API reference) or empty.
 */
export function parseXml(text: string): XmlNode | undefined {
  if (text.trim() === "" || XMLValidator.validate(text) !== true) return undefined;
  try {
    return parser.parse(text) as XmlNode;
  } catch {
    return undefined;
  }
}

/** The text of a child element (`""` for an empty one), or `undefined` when absent. */
export function xmlText(node: XmlValue | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return undefined;
  const v = node[name];
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  // An element with only whitespace text around nothing: `#text`, or empty.
  if (!Array.isArray(v)) return typeof v["#text"] === "string" ? v["#text"] : "";
  return undefined;
}

/** A child element as an object (`undefined` when absent or text). */
export function xmlChild(node: XmlValue | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return undefined;
  const v = node[name];
  return v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : undefined;
}

/** Child elements that repeat, always as an array of objects. */
export function xmlList(node: XmlValue | undefined, name: string): XmlNode[] {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return [];
  const v = node[name];
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return all.filter((x): x is XmlNode => typeof x === "object" && x !== null && !Array.isArray(x));
}

/** What an S3 `<Error>` body says. */
export interface S3ErrorBody {
  code?: string;
  message?: string;
  requestId?: string;
}

/**
 * The `<Error>` of an S3 response body, or `undefined` when the body is not
 * an error document (empty, truncated, HTML from a proxy, or a success).
 */
export function parseS3Error(text: string): S3ErrorBody | undefined {
  const doc = parseXml(text);
  const err = xmlChild(doc, "Error");
  if (!err) return undefined;
  const out: S3ErrorBody = {};
  const code = xmlText(err, "Code");
  const message = xmlText(err, "Message");
  const requestId = xmlText(err, "RequestId");
  if (code) out.code = code;
  if (message) out.message = message;
  if (requestId) out.requestId = requestId;
  return out;
}

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
  if (status === undefined) return "Transient";
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
  if (code === "NotImplemented") return "NotSupported";
  if (code === "PreconditionFailed") return "PreconditionFailed";
  switch (status) {
    case 400:
    case 411:
    case 413:
    case 414:
    case 416:
      return "InvalidArgument";
    case 401:
    case 403:
      return "PermissionDenied";
    case 404:
      return "NotFound";
    case 405:
    case 501:
      return "NotSupported";
    case 408:
    case 429:
      return "Transient";
    case 412:
      return "PreconditionFailed";
  }
  if (status >= 500) return "Transient";
  return "Unknown";
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

/**
 * A function that removes secrets from text: the given secret strings
 * (secret key, session token, access key id) and anything shaped like a SigV4
 * signature, credential scope, `Authorization` value or presigned-URL query.
 */
export function makeScrubber(secrets: ReadonlyArray<string | undefined>): (s: string) => string {
  const literal = secrets.filter((s): s is string => typeof s === "string" && s.length >= 4);
  return (text: string) => {
    let out = text;
    for (const s of literal) out = out.split(s).join("[redacted]");
    return out
      .replace(/(X-Amz-(?:Signature|Credential|Security-Token|SignedHeaders)=)[^&\s"'<>]*/gi, "$1[redacted]")
      .replace(/AWS4-HMAC-SHA256[^\n"<]*/g, "AWS4-HMAC-SHA256 [redacted]")
      .replace(/(Signature=)[0-9a-f]+/gi, "$1[redacted]")
      .replace(/(Credential=)[^,\s&]+/gi, "$1[redacted]");
  };
}

/**
 * A copy of an error (and its `cause` chain, and an AggregateError's
 * `errors`) with secrets scrubbed from names, messages and codes, and nothing
 * else kept: runtime errors can carry request objects, headers or URLs.
 */
export function sanitizeCause(e: unknown, scrub: (s: string) => string, depth = 0): unknown {
  if (depth > 5) return undefined;
  if (typeof e !== "object" || e === null) return e === undefined ? undefined : scrub(String(e));
  const src = e as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown; errors?: unknown };
  const cause = src.cause === undefined ? undefined : sanitizeCause(src.cause, scrub, depth + 1);
  const out = new Error(
    scrub(typeof src.message === "string" ? src.message : String(e)),
    cause === undefined ? undefined : { cause },
  ) as Error & { code?: string; errors?: unknown[] };
  out.name = scrub(typeof src.name === "string" ? src.name : "Error");
  if (typeof src.code === "string" || typeof src.code === "number") out.code = scrub(String(src.code));
  if (Array.isArray(src.errors))
    out.errors = src.errors.slice(0, 10).map((x) => sanitizeCause(x, scrub, depth + 1));
  return out;
}
