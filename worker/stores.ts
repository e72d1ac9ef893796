/**
 * A table's two ends opened from their store URLs (the library's grammar,
 * `parseStoreUrl`: `s3://`, `http(s)://`, and `r2://BINDING/prefix` for a
 * bucket bound to the worker), S3 credentials read from the secrets the
 * configuration names; and where their keys live (`targetLocation`,
 * `sourceLocation`), so that no two tables' targets overlap. No I/O.
 */
import type { TidemarkError } from "../src/errors.ts";
import { HttpStore } from "../src/store/http.ts";
import { type R2BucketLike, R2Store } from "../src/store/r2.ts";
import { S3Store } from "../src/store/s3/store.ts";
import { awsEndpoint, endpointId, parseS3Endpoint } from "../src/store/s3/vendor.ts";
import { type ObjectStore, storeId } from "../src/store/types.ts";
import { parseStoreUrl, type StoreUrl, s3StoreOptions } from "../src/store/url.ts";
import type { Env } from "./env.ts";
import { invalid, type StoreRef } from "./table-config.ts";

export const WORKER_KINDS = ["s3", "r2", "http"] as const;

/** A secret (or var) of the environment by name, when it is a non-empty string. */
function secret(env: Env, name: string): string | undefined {
  const v = (env as unknown as Record<string, unknown>)[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function isBucket(v: unknown): v is R2BucketLike {
  const b = v as Partial<Record<keyof R2BucketLike, unknown>> | null;
  return (
    typeof b === "object" &&
    b !== null &&
    typeof b.head === "function" &&
    typeof b.get === "function" &&
    typeof b.put === "function" &&
    typeof b.list === "function"
  );
}

/**
 * Opens one end of a table. R2 stores are named `BINDING/prefix`, so their
 * identity (`r2:BINDING/prefix`), to which saved progress is bound, changes
 * when the binding or the prefix does.
 *
 * @param secrets where credentials are read (default: `env`); the doctor passes wrong ones.
 */
export function openRef(
  env: Env,
  ref: StoreRef,
  name: string,
  secrets: (name: string) => string | undefined = (n) => secret(env, n),
): { store: ObjectStore; url: StoreUrl } {
  const url = parseStoreUrl(ref.url, {
    kinds: WORKER_KINDS,
    credentialsHint: `name them in ${name}.credentials (secrets NAME_ACCESS_KEY_ID and NAME_SECRET_ACCESS_KEY)`,
  });
  if (url.kind !== "s3" && ref.credentials !== undefined) {
    throw invalid(`${name}: credentials are for s3:// stores; ${url.label} takes none`);
  }
  switch (url.kind) {
    case "r2": {
      const bucket = (env as unknown as Record<string, unknown>)[url.binding];
      if (!isBucket(bucket)) {
        throw invalid(
          `${name}: no R2 bucket is bound as ${url.binding} (add [[r2_buckets]] binding = "${url.binding}" to wrangler.toml)`,
        );
      }
      const storeName = `${url.binding}${url.prefix ? `/${url.prefix.slice(0, -1)}` : ""}`;
      return { store: new R2Store(bucket, { prefix: url.prefix, name: storeName }), url };
    }
    case "s3": {
      const cred = ref.credentials;
      if (cred === undefined) {
        throw invalid(
          `${name}: an s3:// store needs credentials: { "url": ..., "credentials": "NAME" } naming the secrets NAME_ACCESS_KEY_ID and NAME_SECRET_ACCESS_KEY`,
        );
      }
      const missing = [`${cred}_ACCESS_KEY_ID`, `${cred}_SECRET_ACCESS_KEY`].filter(
        (n) => secrets(n) === undefined,
      );
      if (missing.length > 0) {
        throw invalid(`${name}: secret ${missing.join(" and ")} not set (wrangler secret put ${missing[0]})`);
      }
      const sessionToken = secrets(`${cred}_SESSION_TOKEN`);
      const store = new S3Store(
        s3StoreOptions(url, {
          accessKeyId: secrets(`${cred}_ACCESS_KEY_ID`) ?? "",
          secretAccessKey: secrets(`${cred}_SECRET_ACCESS_KEY`) ?? "",
          ...(sessionToken ? { sessionToken } : {}),
        }),
      );
      return { store, url };
    }
    case "http":
      return { store: new HttpStore(url.url), url };
    default:
      throw invalid(`${name}: unsupported store URL`);
  }
}

/**
 * Opens both ends of a table (or a checkpoint root): a writable target
 * that is not the source.
 *
 * @throws TidemarkError `InvalidArgument` naming `{where}source` or `{where}target`.
 */
export function openEnds(
  env: Env,
  ends: { source: StoreRef; target: StoreRef },
  where: string,
): { source: ObjectStore; sourceUrl: StoreUrl; target: ObjectStore; url: StoreUrl } {
  const { store: source, url: sourceUrl } = openRef(env, ends.source, `${where}source`);
  const { store: target, url } = openRef(env, ends.target, `${where}target`);
  if (url.kind === "http") {
    throw invalid(`${where}target: an http(s) store is read-only; it can be a source, not a target`);
  }
  if (storeId(source) === storeId(target)) {
    throw invalid(`${where}source and target are the same store (${target.name})`);
  }
  return { source, sourceUrl, target, url };
}

/**
 * Where a target's keys live, as a path that one target's contains
 * another's exactly when it holds the other's keys: `r2:BINDING/prefix/`,
 * `s3:ENDPOINT/bucket/prefix/` (the endpoint as `S3Store` resolves it, AWS
 * in the region when none), `http:URL/`. Two R2 bindings (or an R2 binding
 * and an s3:// URL of R2's S3 API) of one bucket cannot be told apart here.
 */
export function targetLocation(url: StoreUrl): string {
  const dir = (p: string) => (p === "" || p.endsWith("/") ? p : `${p}/`);
  switch (url.kind) {
    case "r2":
      return `r2:${url.binding}/${dir(url.prefix)}`;
    case "s3": {
      const region = url.region ?? "us-east-1";
      const endpoint = parseS3Endpoint(url.endpoint ?? awsEndpoint(region), "endpoint");
      return `s3:${endpointId(endpoint)}/${url.bucket}/${dir(url.prefix)}`;
    }
    default:
      return `${url.kind}:${dir(url.label)}`;
  }
}

/** Whether two target locations ({@link targetLocation}) share keys: one is the other's prefix. */
export function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/** The refusal of a target that overlaps another table's: a reader scoped to one would read the other's objects. */
export function overlapError(where: string, table: string, other: string, location: string): TidemarkError {
  return invalid(
    `${where}target overlaps the target of table ${other} (one prefix holds the other's keys: ${location}): ` +
      `a reader of ${table} could read ${other}'s objects through it, and two mirrors would write one table; give each table its own prefix`,
  );
}

/**
 * Where a source lives, independent of `PUSH_BUCKETS`: `r2:BINDING/prefix`
 * or `s3:bucket/prefix` (the prefix as the store uses it: empty, or ending in
 * `/`); `undefined` for an http source (no notifications).
 */
export function sourceLocation(url: StoreUrl): string | undefined {
  const prefix = (p: string) => (p === "" || p.endsWith("/") ? p : `${p}/`);
  if (url.kind === "r2") return `r2:${url.binding}/${prefix(url.prefix)}`;
  if (url.kind === "s3") return `s3:${url.bucket}/${prefix(url.prefix)}`;
  return undefined;
}
