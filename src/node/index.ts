/**
 * `tidemark/node`: the pieces that need Node (or Deno's `node:` modules) and
 * so stay out of the isomorphic core: a store on a local directory, and an
 * HTTP transport for `S3Store` on `node:http`.
 *
 * @module
 */
export { FileStore, type FileStoreOptions } from "./fs-store.ts";
export {
  type NodeHttpTransport,
  type NodeHttpTransportOptions,
  nodeHttpTransport,
} from "./http-transport.ts";
export { nodeSigner } from "./signer.ts";
