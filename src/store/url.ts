/**
 * Store URLs, parsed without opening anything (web-standard: the CLI and the
 * Worker share this grammar, each opens the stores its runtime has):
 *
 * - `s3://bucket/prefix?endpoint=URL&region=R&path-style=true&compare-and-swap=false`:
 *   an S3 bucket (credentials never in the URL: the caller supplies them);
 * - `r2://BINDING/prefix`: a bucket bound to a Worker under the name `BINDING`;
 * - `http://...`, `https://...`: a read-only base URL;
 * - `memory:` and `memory:NAME`: an in-process store;
 * - `file:///abs/dir` or any text without a scheme: a local directory.
 *
 * A credential in a URL ends up in shell history, `ps`, configuration files
 * and logs, so a URL carrying one (user info, or a query parameter named like
 * a key, secret, token, signature or password) is refused. Nothing typed is
 * silently dropped: a fragment (`#...`, even an empty one) is refused in every
 * URL form (a literal `#` in a name is written `%23`), a query in a `file:` or
 * `r2:` URL too, and in an `s3:` URL a port after the bucket
 * (`s3://bucket:9000/`: the endpoint goes in `?endpoint=`), an unknown,
 * repeated or empty parameter, and an endpoint with a query or a fragment of
 * its own (`?endpoint=http://h?X-Amz-Security-Token=...`: never used, and a
 * credential there would be kept and shown with the configuration).
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import { quoteUrl } from "./redact.ts";
import type { S3StoreOptions } from "./s3/settings.ts";
import { awsEndpoint, parseS3Endpoint } from "./s3/vendor.ts";

/** The kinds of store a URL can name. */
export type StoreUrlKind = "s3" | "r2" | "http" | "memory" | "file";

/**
 * What a store URL names (no store is opened). Every kind has a `label`: the
 * URL as printed, what was typed without credentials or query (how the CLI
 * names a store; the store itself has its own `name`).
 */
export type StoreUrl =
  | {
      kind: "s3";
      bucket: string;
      /** Decoded, `""` for the bucket root. */
      prefix: string;
      /** `?endpoint=` (checked: an http or https URL without credentials). */
      endpoint?: string;
      region?: string;
      pathStyle?: boolean;
      /** `?compare-and-swap=false`: the bucket does not honour `If-Match` (see `S3StoreOptions.compareAndSwap`). */
      compareAndSwap?: boolean;
      /** `s3://bucket/prefix`: printable, never a credential. */
      label: string;
    }
  | {
      kind: "r2";
      /** The Worker binding name (`[A-Za-z_][A-Za-z0-9_]*`). */
      binding: string;
      /** Decoded, ending in `/` unless empty. */
      prefix: string;
      /** `r2://BINDING/prefix`. */
      label: string;
    }
  | { kind: "http"; url: string; label: string }
  | { kind: "memory"; name: string; label: string }
  | {
      kind: "file";
      /** The text as given: a `file:` URL (`isUrl`) or a plain path. */
      spec: string;
      isUrl: boolean;
      label: string;
    };

/** Options of {@link parseStoreUrl}. */
export interface ParseStoreUrlOptions {
  /** The kinds this caller can open (default: all); another is `InvalidArgument` listing these. */
  kinds?: readonly StoreUrlKind[];
  /** Where this caller takes credentials from, for the refusal of one in a URL. */
  credentialsHint?: string;
}

const ALL_KINDS: readonly StoreUrlKind[] = ["s3", "r2", "http", "memory", "file"];
const FORMS: Record<StoreUrlKind, string> = {
  s3: "s3://bucket/prefix",
  r2: "r2://BINDING/prefix",
  http: "http(s)://...",
  memory: "memory:",
  file: "file:///dir or a directory path",
};
const CREDENTIAL_PARAM = /key|secret|token|passw|credential|signature|^sig$|auth/i;
const S3_PARAMS = new Set(["endpoint", "region", "path-style", "compare-and-swap"]);
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;
const BINDING = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How an endpoint is named in its errors (`parseS3Endpoint`). */
const ENDPOINT = "s3 store URL: bad endpoint:";

function usage(message: string): TidemarkError {
  return new TidemarkError("InvalidArgument", message);
}

function refuseCredentials(url: URL, what: string, hint: string | undefined): void {
  const where = hint ? `; ${hint}` : "";
  if (url.username !== "" || url.password !== "") {
    throw usage(`${what}: credentials in the URL are refused (they leak into history, ps and logs)${where}`);
  }
  for (const name of url.searchParams.keys()) {
    if (CREDENTIAL_PARAM.test(name)) {
      throw usage(
        `${what}: query parameter "${name}" looks like a credential; credentials are never part of a store URL${where}`,
      );
    }
  }
}

/** Refuses a fragment: `URL` drops an empty one (`x#`) without a trace, so the text is checked. */
function refuseFragment(spec: string, what: string): void {
  if (spec.includes("#")) {
    throw usage(
      `${what}: a fragment ("#...") is not part of a store URL; write a literal # in a name as %23`,
    );
  }
}

function parseBool(v: string, name: string): boolean {
  if (v === "true" || v === "1" || v === "") return true;
  if (v === "false" || v === "0") return false;
  throw usage(`s3 store URL: ${name} must be true or false, got ${JSON.stringify(v)}`);
}

function decodedPath(url: URL, what: string): string {
  try {
    return decodeURIComponent(url.pathname.replace(/^\/+/, ""));
  } catch {
    throw usage(`${what}: malformed percent-encoding in the prefix`);
  }
}

/**
 * Parses a store URL (see the module documentation) without opening a store.
 *
 * @throws TidemarkError `InvalidArgument` for an empty or malformed URL, a
 *   kind not in `opts.kinds`, an unknown, repeated or empty S3 parameter, a
 *   fragment, a port after an S3 bucket, a query where none belongs, a bad R2
 *   binding name, or a credential in the URL.
 */
export function parseStoreUrl(spec: string, opts: ParseStoreUrlOptions = {}): StoreUrl {
  const kinds = opts.kinds ?? ALL_KINDS;
  const unknown = (scheme: string) =>
    usage(
      `${scheme === "" ? "a store URL needs a scheme" : `unknown store URL scheme "${scheme}:"`} (use ${kinds.map((k) => FORMS[k]).join(", ")})`,
    );
  const allowed = (kind: StoreUrlKind, scheme: string) => {
    if (!kinds.includes(kind)) throw unknown(scheme);
  };
  if (spec === "") throw usage("empty store URL");
  const scheme = SCHEME.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    allowed("file", "");
    return { kind: "file", spec, isUrl: false, label: spec };
  }
  switch (scheme) {
    case "file": {
      allowed("file", scheme);
      refuseFragment(spec, "file store URL");
      if (spec.includes("?")) {
        throw usage(
          'file store URL: a query ("?...") is not part of a store URL; write a literal ? in a name as %3F, or give a plain path',
        );
      }
      return { kind: "file", spec, isUrl: true, label: spec };
    }
    case "memory": {
      allowed("memory", scheme);
      const name = spec.slice("memory:".length);
      return { kind: "memory", name, label: `memory:${name}` };
    }
    case "http":
    case "https": {
      allowed("http", scheme);
      let url: URL;
      try {
        url = new URL(spec);
      } catch {
        throw usage(`bad URL ${quoteUrl(spec)}`);
      }
      refuseCredentials(url, "http store URL", opts.credentialsHint);
      // A base URL takes no fragment: object keys are appended to its path.
      refuseFragment(spec, "http store URL");
      // The label drops the query: a non-credential parameter is still nobody's business in logs.
      return { kind: "http", url: url.href, label: `${url.origin}${url.pathname}` };
    }
    case "s3":
      allowed("s3", scheme);
      return parseS3(spec, opts.credentialsHint);
    case "r2":
      allowed("r2", scheme);
      return parseR2(spec);
    default:
      throw unknown(scheme);
  }
}

function parseS3(spec: string, hint: string | undefined): StoreUrl {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw usage(`bad s3 URL ${quoteUrl(spec)}: use s3://bucket/prefix?endpoint=...&region=...`);
  }
  refuseCredentials(url, "s3 store URL", hint);
  refuseFragment(spec, "s3 store URL");
  // `URL` keeps a port apart from the host name (and drops an empty one), so
  // `s3://bucket:9000/` would read bucket "bucket" and lose the port.
  if (/^s3:\/\/[^/?#]*:/i.test(spec)) {
    throw usage(
      "s3 store URL: a port after the bucket name is not allowed (the host part is the bucket); give the server as ?endpoint=http://host:port",
    );
  }
  for (const name of new Set(url.searchParams.keys())) {
    if (!S3_PARAMS.has(name)) {
      throw usage(
        `s3 store URL: unknown parameter "${name}" (known: endpoint, region, path-style, compare-and-swap)`,
      );
    }
    if (url.searchParams.getAll(name).length > 1) {
      throw usage(`s3 store URL: parameter "${name}" is given more than once`);
    }
    if (name !== "path-style" && name !== "compare-and-swap" && url.searchParams.get(name) === "") {
      throw usage(`s3 store URL: parameter "${name}" is empty`);
    }
  }
  const bucket = url.hostname;
  if (bucket === "") throw usage("s3 store URL needs a bucket: s3://bucket/prefix");
  const prefix = decodedPath(url, "s3 store URL");
  const endpoint = url.searchParams.get("endpoint");
  const region = url.searchParams.get("region");
  const pathStyle = url.searchParams.get("path-style");
  const cas = url.searchParams.get("compare-and-swap");
  if (endpoint !== null) parseS3Endpoint(endpoint, ENDPOINT);
  return {
    kind: "s3",
    bucket,
    prefix,
    ...(endpoint !== null ? { endpoint } : {}),
    ...(region !== null ? { region } : {}),
    ...(pathStyle !== null ? { pathStyle: parseBool(pathStyle, "path-style") } : {}),
    ...(cas !== null ? { compareAndSwap: parseBool(cas, "compare-and-swap") } : {}),
    label: `s3://${bucket}/${prefix}`,
  };
}

function parseR2(spec: string): StoreUrl {
  const what = "r2 store URL";
  refuseFragment(spec, what);
  if (spec.includes("?")) {
    throw usage(`${what}: a query ("?...") is not part of an r2 URL; write a literal ? in a name as %3F`);
  }
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw usage(`bad r2 URL ${quoteUrl(spec)}: use r2://BINDING/prefix`);
  }
  refuseCredentials(url, what, undefined);
  if (url.port !== "" || /^r2:\/\/[^/?#]*:/i.test(spec)) {
    throw usage(`${what}: a port is not part of an r2 URL (r2://BINDING/prefix)`);
  }
  // r2: is not a special scheme, so URL keeps the host's case: the binding name as written.
  const binding = url.hostname;
  if (!BINDING.test(binding)) {
    throw usage(
      `${what}: the host part is a bucket binding name (letters, digits and _, not starting with a digit), got ${JSON.stringify(binding)}`,
    );
  }
  let prefix = decodedPath(url, what);
  if (prefix.startsWith("/")) throw usage(`${what}: the prefix must not start with /`);
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
  return { kind: "r2", binding, prefix, label: `r2://${binding}/${prefix}` };
}

/** Credentials of an S3 store, from wherever the caller keeps them. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * The `S3Store` options of a parsed `s3://` URL: the URL's endpoint and
 * region, else `defaults` (the CLI's come from the AWS environment), else
 * AWS itself in `us-east-1`.
 *
 * @throws TidemarkError `InvalidArgument` for a bad default endpoint.
 */
export function s3StoreOptions(
  url: Extract<StoreUrl, { kind: "s3" }>,
  credentials: S3Credentials,
  defaults: { endpoint?: string | undefined; region?: string | undefined } = {},
): S3StoreOptions {
  const region = url.region ?? defaults.region ?? "us-east-1";
  const endpoint = url.endpoint ?? defaults.endpoint ?? awsEndpoint(region);
  parseS3Endpoint(endpoint, ENDPOINT);
  return {
    endpoint,
    bucket: url.bucket,
    region,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    ...(url.prefix !== "" ? { prefix: url.prefix } : {}),
    ...(url.pathStyle !== undefined ? { forcePathStyle: url.pathStyle } : {}),
    ...(url.compareAndSwap !== undefined ? { compareAndSwap: url.compareAndSwap } : {}),
  };
}
