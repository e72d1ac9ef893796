/**
 * The read-only HTTP layer: the `inspectApp` hono app and its helpers.
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
