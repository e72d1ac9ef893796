import type { ErrorCode } from "../errors.ts";

/**
 * THE table from an HTTP status to a tidemark error code, shared by every
 * HTTP adapter (the S3 store falls back to it after its S3 error codes; the
 * HTTP store uses it as is). `undefined` is a request that got no answer (a
 * network error): `Transient`.
 */
export function codeOfHttpStatus(status: number | undefined): ErrorCode {
  if (status === undefined) return "Transient";
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
    case 410:
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
  return status >= 500 ? "Transient" : "Unknown";
}
