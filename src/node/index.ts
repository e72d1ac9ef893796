/**
 * `tidemark/node`: the pieces that need Node (or Deno's `node:` modules) and
 * so stay out of the isomorphic core: a store on a local directory.
 *
 * @module
 */
export { FileStore, type FileStoreOptions } from "./fs-store.ts";
