/**
 * `tidemark/http`: the read-only HTTP layer, usable on every runtime hono
 * runs on: `inspectApp` (a table's status, snapshots and verification as
 * JSON, and its objects for browsers), `serveObject` (GET/HEAD with `ETag`,
 * `Range` and `If-None-Match` from any store), and the helpers the Worker
 * builds its own routes from.
 *
 * @module
 */
export {
  decodeObjectKey,
  EXPOSED_HEADERS,
  errorResponse,
  type InspectAppOptions,
  inspectApp,
  type MirrorStatusSource,
  type PerRequest,
  parseVersion,
  type SnapshotSummary,
  summarize,
  wildcardTail,
} from "./inspect-app.ts";
export { type Json, toJsonSafe } from "./json.ts";
export { parseRange, serveObject } from "./objects.ts";
