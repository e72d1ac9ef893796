/**
 * SigV4 signing of S3 requests, as an interface: `S3Store` signs every
 * request with a signer, by default aws4fetch's (WebCrypto: every runtime).
 * `tidemark/node` has one on `node:crypto` (mhart's `aws4`, aws4fetch's Node
 * sibling), which signs synchronously: WebCrypto's asynchronous jobs cost
 * several times more CPU per request on Node.
 *
 * @module
 */
import { AwsV4Signer } from "aws4fetch";

/** What a request is signed with. */
export interface SigningKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  service: string;
}

/** A request to sign: its URL already encoded, `x-amz-content-sha256` set (`UNSIGNED-PAYLOAD`). */
export interface SignableRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** Signs S3 requests with SigV4 (a maintained library does the signing; none is hand-written here). */
export interface S3Signer {
  /** For diagnostics (`"aws4fetch"`, `"aws4"`). */
  readonly name: string;
  /**
   * The headers to send: the request's own plus the signature's
   * (`authorization`, `x-amz-date`, `x-amz-security-token`), lower-case
   * names, without `host` (the transport sets it from the URL).
   */
  sign(r: SignableRequest, key: SigningKey): Promise<Record<string, string>>;
}

/**
 * The default signer: aws4fetch's `AwsV4Signer` (WebCrypto), used directly
 * (not `AwsClient`, whose `sign()` builds a `Request` per call and whose
 * retries cannot replay streams). One cache of derived signing keys per
 * signer (aws4fetch keys it by secret, date, region and service).
 */
export function webCryptoSigner(): S3Signer {
  const cache = new Map<string, ArrayBuffer>();
  return {
    name: "aws4fetch",
    async sign(r, key) {
      const signed = await new AwsV4Signer({
        ...key,
        cache,
        url: r.url,
        method: r.method,
        headers: r.headers,
      }).sign();
      const out: Record<string, string> = { ...r.headers };
      signed.headers.forEach((v, k) => {
        if (k !== "host") out[k] = v;
      });
      return out;
    },
  };
}
