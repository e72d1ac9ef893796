/**
 * The S3 adapter (see store.ts for how the folder is laid out).
 *
 * @module
 */
export { classifyS3Error, isAmbiguousFailure, type S3Condition, type S3Failure, s3Error } from "./errors.ts";
export { MAX_SINGLE_PUT, MIN_PART_SIZE, type S3StoreOptions } from "./options.ts";
export { S3Store } from "./store.ts";
export { decodeS3Url, parseS3Error, parseXml, type S3ErrorBody, type XmlNode, type XmlValue } from "./xml.ts";
