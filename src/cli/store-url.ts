/**
 * Store URLs of the `tidemark` command:
 *
 * - `s3://bucket/prefix?endpoint=URL&region=R&path-style=true`: an
 *   {@link S3Store} (on Node over `nodeHttpTransport()`, under Deno over `fetch`). Credentials come from `AWS_ACCESS_KEY_ID`,
 *   `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` only; the endpoint and
 *   region default to `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` and
 *   `AWS_REGION`/`AWS_DEFAULT_REGION` (then `us-east-1`, AWS itself).
 * - `http://...`, `https://...`: a read-only {@link HttpStore} on a base URL.
 * - `memory:` (a fresh, empty in-process store), `memory:NAME` (one store per
 *   name within this process) and `memory:demo` (seeded with a small demo table
 *   and checkpoint epochs): for trying the commands out; nothing survives the
 *   process.
 * - `file:///abs/dir` or any path without a scheme: a {@link FileStore}.
 *
 * A credential on the command line ends up in shell history and `ps`, so a
 * URL carrying one (user info, or a query parameter named like a key, secret,
 * token, signature or password) is refused with `InvalidArgument`.
 *
 * Nothing typed is silently dropped: a fragment (`#...`, even an empty one)
 * is refused in every URL form (a literal `#` in a name is written `%23`; a
 * plain path keeps it as it is), a query in a `file:` URL too, and in an
 * `s3:` URL a port after the bucket (`s3://bucket:9000/`: the endpoint goes in
 * `?endpoint=`), an unknown, repeated or empty parameter.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { TidemarkError } from "../errors.ts";
import { FileStore } from "../node/fs-store.ts";
import { HttpStore } from "../store/http.ts";
import { MemoryStore } from "../store/memory.ts";
import { S3Store } from "../store/s3.ts";
import type { ObjectStore } from "../store/types.ts";
import { seedDemo } from "./demo.ts";
import { s3SendOptions } from "./s3-send.ts";

/** What a store URL names. */
export interface ParsedStore {
  kind: "s3" | "http" | "memory" | "file";
  store: ObjectStore;
  /** A printable description (never a credential). */
  label: string;
}

/** Reads an environment variable (injected, so tests and Deno pass their own). */
export type Env = (name: string) => string | undefined;

const CREDENTIAL_PARAM = /key|secret|token|passw|credential|signature|^sig$|auth/i;
const S3_PARAMS = new Set(["endpoint", "region", "path-style"]);
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;

const memoryStores = new Map<string, MemoryStore>();

function usage(message: string): TidemarkError {
  return new TidemarkError("InvalidArgument", message);
}

function refuseCredentials(url: URL, what: string): void {
  if (url.username !== "" || url.password !== "") {
    throw usage(
      `${what}: credentials in the URL are refused (they leak into shell history and ps)${what.startsWith("s3") ? "; use the AWS_* environment variables" : ""}`,
    );
  }
  for (const name of url.searchParams.keys()) {
    if (CREDENTIAL_PARAM.test(name)) {
      throw usage(
        `${what}: query parameter "${name}" looks like a credential; credentials are read from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)`,
      );
    }
  }
}

/**
 * `spec` fit to quote in an error: a URL that failed to parse may still carry
 * user info (`KEY:SECRET@`) or a query (a signature), so both are cut out.
 */
function quoted(spec: string): string {
  return JSON.stringify(spec.replace(/\/\/[^/?#]*@/, "//***@").replace(/[?#].*$/s, "?..."));
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

/**
 * Opens the store a URL names.
 *
 * @throws TidemarkError `InvalidArgument` for an unknown scheme, a malformed
 *   URL, an unknown S3 parameter, a credential in the URL, or missing S3
 *   credentials in the environment.
 */
export async function openStoreUrl(spec: string, env: Env): Promise<ParsedStore> {
  if (spec === "") throw usage("empty store URL");
  const scheme = SCHEME.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return { kind: "file", store: new FileStore(spec), label: spec };
  }
  switch (scheme) {
    case "file": {
      refuseFragment(spec, "file store URL");
      if (spec.includes("?")) {
        throw usage(
          'file store URL: a query ("?...") is not part of a store URL; write a literal ? in a name as %3F, or give a plain path',
        );
      }
      let path: string;
      try {
        path = fileURLToPath(spec);
      } catch {
        throw usage(`bad file URL ${quoted(spec)}: use file:///absolute/path or a plain path`);
      }
      return { kind: "file", store: new FileStore(path), label: path };
    }
    case "memory": {
      const name = spec.slice("memory:".length);
      if (name === "")
        return { kind: "memory", store: new MemoryStore({ name: "memory:" }), label: "memory:" };
      let store = memoryStores.get(name);
      if (!store) {
        store = new MemoryStore({ name: `memory:${name}` });
        memoryStores.set(name, store);
        if (name === "demo") await seedDemo(store);
      }
      return { kind: "memory", store, label: `memory:${name}` };
    }
    case "http":
    case "https": {
      let url: URL;
      try {
        url = new URL(spec);
      } catch {
        throw usage(`bad URL ${quoted(spec)}`);
      }
      refuseCredentials(url, "http store URL");
      // A base URL takes no fragment: object keys are appended to its path.
      refuseFragment(spec, "http store URL");
      // The label drops the query: a non-credential parameter is still nobody's business in logs.
      return { kind: "http", store: new HttpStore(url.href), label: `${url.origin}${url.pathname}` };
    }
    case "s3":
      return openS3(spec, env);
    default:
      throw usage(
        `unknown store URL scheme "${scheme}:" (use s3://bucket/prefix, http(s)://..., memory:, file:///dir or a directory path)`,
      );
  }
}

function openS3(spec: string, env: Env): ParsedStore {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw usage(`bad s3 URL ${quoted(spec)}: use s3://bucket/prefix?endpoint=...&region=...`);
  }
  refuseCredentials(url, "s3 store URL");
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
      throw usage(`s3 store URL: unknown parameter "${name}" (known: endpoint, region, path-style)`);
    }
    if (url.searchParams.getAll(name).length > 1) {
      throw usage(`s3 store URL: parameter "${name}" is given more than once`);
    }
    if (name !== "path-style" && url.searchParams.get(name) === "") {
      throw usage(`s3 store URL: parameter "${name}" is empty`);
    }
  }
  const bucket = url.hostname;
  if (bucket === "") throw usage("s3 store URL needs a bucket: s3://bucket/prefix");
  let prefix: string;
  try {
    prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ""));
  } catch {
    throw usage("s3 store URL: malformed percent-encoding in the prefix");
  }
  const endpoint =
    url.searchParams.get("endpoint") ??
    env("AWS_ENDPOINT_URL_S3") ??
    env("AWS_ENDPOINT_URL") ??
    `https://s3.${url.searchParams.get("region") ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1"}.amazonaws.com`;
  try {
    const e = new URL(endpoint);
    if (e.protocol !== "http:" && e.protocol !== "https:") throw new Error("not http");
    if (e.username !== "" || e.password !== "")
      throw usage("s3 endpoint: credentials in the URL are refused");
  } catch (e) {
    if (e instanceof TidemarkError) throw e;
    throw usage(`s3 store URL: bad endpoint ${quoted(endpoint)} (an http or https URL)`);
  }
  const region =
    url.searchParams.get("region") ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1";
  const accessKeyId = env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw usage("s3 store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
  }
  const sessionToken = env("AWS_SESSION_TOKEN");
  const pathStyle = url.searchParams.get("path-style");
  const store = new S3Store({
    endpoint,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
    ...(prefix !== "" ? { prefix } : {}),
    ...(pathStyle !== null ? { forcePathStyle: parseBool(pathStyle, "path-style") } : {}),
    ...s3SendOptions(env),
  });
  return { kind: "s3", store, label: `s3://${bucket}/${prefix}` };
}
