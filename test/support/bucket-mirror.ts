/**
 * The mirror suite between two buckets of a real S3 server (Ceph RGW or
 * moto), for the test files that run it over one way of sending requests
 * each (`fetch` and aws4fetch, or `nodeHttpTransport` and `nodeSigner`): one
 * file per way, so that vitest runs them side by side.
 */
import { S3Store, type S3StoreOptions } from "../../src/index.ts";
import { prefixed } from "../../src/store/prefixed.ts";
import { mirrorContract, RGW_MIRROR_SKIPS } from "../contract/mirror.contract.ts";
import { createBucket } from "../services/rgw.ts";
import { type Harness, randomId, uniquePrefix } from "./harness.ts";
import type { RgwConfig } from "./rgw.ts";

/** Two fresh buckets of the server and a store on each. */
export interface BucketPair {
  src: string;
  dst: string;
  source: S3Store;
  target: S3Store;
}

/**
 * Makes two buckets on the server `cfg` names and registers the mirror suite
 * between them with `h`, its stores sending with `send`; returns the buckets
 * for a file's own tests.
 */
export function bucketMirrorContract(
  h: Harness,
  cfg: RgwConfig,
  send: Partial<S3StoreOptions> = {},
): BucketPair {
  const id = randomId();
  const [src, dst] = [`mirror-src-${id}`, `mirror-dst-${id}`];
  for (const b of [src, dst]) createBucket(cfg, b);
  const source = new S3Store({ ...cfg, bucket: src, forcePathStyle: true, ...send });
  const target = new S3Store({ ...cfg, bucket: dst, forcePathStyle: true, ...send });
  mirrorContract(
    h,
    () => {
      const p = uniquePrefix("mirror");
      return {
        source: prefixed(source, p),
        target: prefixed(target, p),
        another: () => prefixed(target, uniquePrefix("other")),
      };
    },
    { timeoutMs: 60_000, skip: RGW_MIRROR_SKIPS },
  );
  return { src, dst, source, target };
}
