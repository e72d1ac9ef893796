/**
 * tidemark: versioned table snapshots and checkpoint state on object storage,
 * mirrored between stores. The isomorphic core: web-standard globals only.
 *
 * @module
 */

export * from "./catalog/index.ts";
export * from "./checkpoint/index.ts";
export * from "./doctor/index.ts";
export * from "./errors.ts";
export * from "./http/index.ts";
export * from "./manifest/index.ts";
export * from "./mirror/index.ts";
export { checkNumber, MAX_TIMER_MS, type NumberRule, numberOption, parseNumberOption } from "./options.ts";
export * from "./restore/index.ts";
export * from "./store/index.ts";
