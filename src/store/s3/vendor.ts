/**
 * What an S3 endpoint's address decides, in one place: the endpoint checked
 * once ({@link parseS3Endpoint}, for `S3Store`, `s3://` URLs and their
 * defaults alike), its vendor ({@link s3Vendor}: AWS S3 or R2 by their host
 * names; anything else, such as Ceph RGW, MinIO or moto, is not assumed to
 * be either), and what differs by vendor before a request is sent: AWS's
 * endpoint of a region, path-style addressing, the header that makes a
 * CopyObject create-only. How each vendor's answers map to codes is
 * `errors.ts` (`classifyS3Error`).
 *
 * @module
 */
import { TidemarkError } from "../../errors.ts";

/** A vendor told by an endpoint's host name. */
export type S3Vendor = "aws" | "r2";

/**
 * Parses an S3 endpoint: an `http:` or `https:` URL with neither user info,
 * nor a query, nor a fragment (even an empty `?` or `#`). An endpoint needs
 * none of them, and what they would carry is never used: a credential there
 * (`?X-Amz-Security-Token=...`) would only be kept in configurations and
 * echoed to whoever reads them. The one rule for every endpoint tidemark
 * accepts: `S3Store` checks its option with it, and so does the store-URL
 * grammar (`?endpoint=`, the CLI's `AWS_ENDPOINT_URL`, the Worker's table
 * configurations). Errors never quote the query or the fragment.
 *
 * @param what names the endpoint in a message (`S3Store endpoint`, `s3 store URL: endpoint`).
 * @throws TidemarkError `InvalidArgument` otherwise.
 */
export function parseS3Endpoint(endpoint: string, what: string): URL {
  const bad = (why: string) => new TidemarkError("InvalidArgument", `${what} ${why}`);
  if (typeof endpoint !== "string") throw bad("must be an http or https URL");
  // Checked on the text: `URL` drops an empty query or fragment without a trace.
  if (endpoint.includes("#")) throw bad("must not have a fragment (#...)");
  if (endpoint.includes("?"))
    throw bad("must not have a query (?...): an endpoint is scheme, host, port and path");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw bad("is not a valid URL (an http or https URL)");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw bad("must be an http: or https: URL");
  if (url.username !== "" || url.password !== "") throw bad("must not carry credentials (user info)");
  return url;
}

/**
 * The vendor of an endpoint, by its host name: `aws` for `*.amazonaws.com`
 * (and `.com.cn`), `r2` for R2's S3 API (`<ACCOUNT_ID>.r2.cloudflarestorage.com`,
 * https://developers.cloudflare.com/r2/api/s3/api/); `undefined` for any other.
 */
export function s3Vendor(endpoint: string | URL): S3Vendor | undefined {
  const host = (typeof endpoint === "string" ? new URL(endpoint) : endpoint).hostname;
  if (/(^|\.)amazonaws\.com(\.cn)?$/i.test(host)) return "aws";
  if (/\.r2\.cloudflarestorage\.com$/i.test(host)) return "r2";
  return undefined;
}

/** AWS S3's endpoint of `region` (the default of an `s3://` URL without one). */
export function awsEndpoint(region: string): string {
  return `https://s3.${region}.amazonaws.com`;
}

const IP_OR_LOCAL = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\]|localhost)$/i;
const DNS_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Whether to address `bucket` path-style by default: on an IP-address or
 * `localhost` endpoint, and for a bucket name that is not a DNS label, only
 * path-style can work (there is no `bucket.host` to resolve).
 */
export function defaultPathStyle(endpoint: URL, bucket: string): boolean {
  return IP_OR_LOCAL.test(endpoint.hostname) || !DNS_BUCKET.test(bucket);
}

/**
 * The header that makes a CopyObject create-only on an endpoint, as its
 * vendor documents it; `undefined` for an endpoint whose vendor is not known
 * (`copy.ts` probes it).
 *
 * - AWS S3 honours `If-None-Match: *` on CopyObject (destination; 412, or
 *   409 for a racing write): https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
 * - R2 takes its own `cf-copy-destination-if-none-match: *` (beta; standard
 *   `If-None-Match` on a copy is not documented there):
 *   https://developers.cloudflare.com/r2/api/s3/extensions/#conditional-operations-in-copyobject-for-the-destination-object
 */
export function documentedCopyCondition(endpoint: URL): string | undefined {
  switch (s3Vendor(endpoint)) {
    case "aws":
      return "if-none-match";
    case "r2":
      return "cf-copy-destination-if-none-match";
    default:
      return undefined;
  }
}

/** An endpoint URL as an identity: scheme, host, port and path; never user info or query. */
export function endpointId(endpoint: URL): string {
  return `${endpoint.protocol}//${endpoint.host}${endpoint.pathname.replace(/\/+$/, "")}`;
}
