/**
 * `tidemark/node`: the pieces that need Node (or Deno's `node:` modules) and
 * so stay out of the isomorphic core: a store on a local directory, an
 * HTTP transport for `S3Store` on `node:http`, and SHA-256 on `node:crypto`.
 *
 * @module
 */
export { FileStore, type FileStoreOptions } from "./fs-store.ts";
export {
  type NodeHttpTransport,
  type NodeHttpTransportOptions,
  nodeHttpTransport,
} from "./http-transport.ts";
export { nodeSha256 } from "./sha256.ts";
export { nodeSigner } from "./signer.ts";
