/**
 * The one way an error leaves tidemark's servers (`inspectApp`, the
 * Worker): a JSON answer `{ error: code, message }` with the status of the
 * code (`httpStatusOf`). Routes throw `TidemarkError`s; the app's `onError`
 * calls {@link errorResponse}.
 *
 * @module
 */
import type { Context } from "hono";
import { errorCodeOf, httpStatusOf } from "../errors.ts";

/** What {@link errorResponse} may add to the code's answer. */
export interface ErrorResponseInit {
  /**
   * The status, when a route answers this error with another than its
   * code's: the Worker's await route answers its timeout (`Transient`) with
   * 408, the request's own wait having run out, rather than 503.
   */
  status?: number;
  /** More fields of the body (never a secret), e.g. how far a wait got. */
  fields?: Record<string, unknown>;
}

/**
 * How a 401 says what to bring: RFC 9110 requires the header on every 401
 * (https://www.rfc-editor.org/rfc/rfc9110#name-401-unauthorized); tidemark's
 * servers take bearer tokens.
 */
export const WWW_AUTHENTICATE = 'Bearer realm="tidemark"';

/**
 * A JSON error response for `e`: status from the error code (`httpStatusOf`;
 * `Unauthenticated` is 401 with `WWW-Authenticate`), body `{ error: code,
 * message }`; never a stack trace. Unexpected (non-tidemark) errors say only
 * "internal error": their messages are not vetted for secrets.
 */
export function errorResponse(c: Context, e: unknown, init: ErrorResponseInit = {}): Response {
  const code = errorCodeOf(e) ?? "Unknown";
  const message =
    errorCodeOf(e) === undefined ? "internal error" : (e as Error).message.replace(/^\[[A-Za-z]+\] /, "");
  const status = init.status ?? httpStatusOf(code);
  const headers: Record<string, string> = status === 401 ? { "WWW-Authenticate": WWW_AUTHENTICATE } : {};
  return c.json({ error: code, message, ...init.fields }, status as 400, headers);
}
