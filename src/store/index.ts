export { batches, DELETE_BATCH, forEachLimit } from "./batch.ts";
export { collectBody, objectBody, readAll, streamOf } from "./body.ts";
export { type CopySource, copySourceBody } from "./copy-source.ts";
export { type FaultKind, type FaultPlan, type FaultyStore, faulty, seededRandom } from "./faulty.ts";
export { HttpStore, type HttpStoreOptions } from "./http.ts";
export type { FetchLike } from "./http-common.ts";
export { codeOfHttpStatus } from "./http-status.ts";
export { compareKeys, MAX_KEY_BYTES, validateKey } from "./keys.ts";
export { MemoryStore, type MemoryStoreOptions } from "./memory.ts";
export { type MeteredStore, metered, type RequestCounts } from "./metered.ts";
export { prefixed } from "./prefixed.ts";
export {
  mapR2Error,
  type R2BucketLike,
  type R2ConditionalLike,
  type R2ObjectBodyLike,
  type R2ObjectLike,
  type R2ObjectsLike,
  R2Store,
  type R2StoreOptions,
} from "./r2.ts";
export { backoffDelay, DEFAULT_RETRY, type RetryPolicy, retryDelay, sleep, withRetry } from "./retry.ts";
export { retrying } from "./retrying.ts";
export {
  classifyS3Error,
  parseS3Error,
  type S3Condition,
  type S3ErrorBody,
  type S3Failure,
  S3Store,
  type S3StoreOptions,
} from "./s3/index.ts";
export { type S3Signer, type SignableRequest, type SigningKey, webCryptoSigner } from "./signer.ts";
export {
  fetchTransport,
  type HeadersLike,
  type HttpTransport,
  type TransportRequest,
  type TransportResponse,
} from "./transport.ts";
export * from "./types.ts";
export {
  checkS3Endpoint,
  type ParseStoreUrlOptions,
  parseStoreUrl,
  quoteStoreUrl,
  type S3Credentials,
  type StoreUrl,
  type StoreUrlKind,
  s3StoreOptions,
} from "./url.ts";
export { createWithRetry, newWriterToken, WRITER_TOKEN_KEY } from "./writer-token.ts";
