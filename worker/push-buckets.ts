/**
 * `PUSH_BUCKETS`, parsed once per `env`: which sources' buckets send event
 * notifications to the worker's queue, and which sources an event is about.
 */
import type { StoreUrl } from "../src/store/url.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { isBucket } from "./stores.ts";
import { invalid } from "./table-config.ts";

/**
 * `PUSH_BUCKETS`: the source buckets whose R2 event notifications reach the
 * worker's queue (`wrangler r2 bucket notification create ... --queue`).
 * Comma-separated entries: `BINDING=bucket-name` for an R2 bucket bound to
 * the worker (an event names the bucket, a table's `r2://` URL the binding:
 * this says which is which, as `bucket_name` does in wrangler.toml), or
 * `bucket-name` for a source named by an `s3://` URL (R2's S3 API).
 */
export interface PushBuckets {
  /** Binding name to bucket name. */
  bindings: Map<string, string>;
  /** Bucket names of `s3://` sources. */
  buckets: Set<string>;
}

/** An R2 bucket name: 3-63 of lower-case letters, digits and hyphens. https://developers.cloudflare.com/r2/buckets/create-buckets/ */
const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads `PUSH_BUCKETS` (unset or blank: none).
 *
 * @throws TidemarkError `InvalidArgument` naming the var for a bad entry or a
 *   binding that is not an R2 bucket of the worker.
 */
export const pushBuckets = perEnv((env: Env): PushBuckets => {
  const out: PushBuckets = { bindings: new Map(), buckets: new Set() };
  for (const raw of (env.PUSH_BUCKETS ?? "").split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    const binding = eq < 0 ? undefined : entry.slice(0, eq).trim();
    const bucket = (eq < 0 ? entry : entry.slice(eq + 1)).trim();
    if (!BUCKET_NAME.test(bucket)) {
      throw invalid(
        `PUSH_BUCKETS: ${JSON.stringify(bucket)} is not a bucket name (3-63 of a-z, 0-9 and -); entries are BINDING=bucket-name or bucket-name`,
      );
    }
    if (binding === undefined) {
      out.buckets.add(bucket);
      continue;
    }
    if (!BINDING_NAME.test(binding) || !isBucket((env as unknown as Record<string, unknown>)[binding])) {
      throw invalid(`PUSH_BUCKETS: no R2 bucket is bound as ${JSON.stringify(binding)}`);
    }
    out.bindings.set(binding, bucket);
  }
  return out;
});

/** The bucket name a source's events carry, when that bucket is in `PUSH_BUCKETS`. */
export function pushedBucket(url: StoreUrl, pb: PushBuckets): string | undefined {
  if (url.kind === "r2") return pb.bindings.get(url.binding);
  if (url.kind === "s3") return pb.buckets.has(url.bucket) ? url.bucket : undefined;
  return undefined;
}

/** The source locations an event of `bucket` under `prefix` can be about. */
export function eventLocations(bucket: string, prefix: string, pb: PushBuckets): string[] {
  const out: string[] = [];
  if (pb.buckets.has(bucket)) out.push(`s3:${bucket}/${prefix}`);
  for (const [binding, name] of pb.bindings) if (name === bucket) out.push(`r2:${binding}/${prefix}`);
  return out;
}
