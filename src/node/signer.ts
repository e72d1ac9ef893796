/**
 * A SigV4 signer for `S3Store` on `node:crypto`: mhart's `aws4` (the Node
 * sibling of aws4fetch, by the same author, no dependencies), which hashes
 * synchronously. WebCrypto's digest and HMAC are asynchronous jobs on Node,
 * and with three of them per request they were a fifth of a mirror's CPU
 * (BENCHMARKS.md, "Mirror").
 *
 * @module
 */
import aws4 from "aws4";
import type { S3Signer } from "../store/signer.ts";

/**
 * `new S3Store({ ..., signer: nodeSigner() })` on Node (and Deno's
 * `node:crypto`). Signs the same canonical request as the default signer
 * (each path segment as given, already percent-encoded; the query sorted and
 * RFC 3986-encoded), plus `content-length` when the request has one.
 */
export function nodeSigner(): S3Signer {
  return {
    name: "aws4",
    async sign(r, key) {
      const url = new URL(r.url);
      const signed = aws4.sign(
        {
          host: url.host,
          path: `${url.pathname}${url.search}`,
          method: r.method,
          headers: { ...r.headers },
          service: key.service,
          region: key.region,
        },
        {
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          ...(key.sessionToken === undefined ? {} : { sessionToken: key.sessionToken }),
        },
      );
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(signed.headers)) {
        const name = k.toLowerCase();
        if (name !== "host") out[name] = String(v);
      }
      return out;
    },
  };
}
