/**
 * `tidemark/server`: the read-only HTTP layer, usable on every runtime hono
 * runs on: `inspectApp` (a table's status, snapshots and verification as
 * JSON, and its objects for browsers), `serveObject` (GET/HEAD with `ETag`,
 * `Range` and `If-None-Match` from any store) and `errorResponse` (a
 * `TidemarkError` as the JSON answer these give, for routes of your own).
 *
 * @module
 */
export { type ErrorResponseInit, errorResponse } from "./error-response.ts";
export {
  type InspectAppOptions,
  inspectApp,
  type MirrorStatusSource,
  type PerRequest,
  type SnapshotSummary,
} from "./inspect-app.ts";
export { serveObject } from "./objects.ts";
