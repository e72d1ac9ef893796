/**
 * tidemark: versioned table snapshots and checkpoint state on object storage,
 * mirrored between stores. The isomorphic core: web-standard globals only.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./store/index.ts";
