/**
 * S3Store inside workerd, against the Ceph RGW that scripts/test.ts starts:
 * proves the adapter's Workers paths (fetch with `redirect: "manual"`, stream
 * bodies through FixedLengthStream, WebCrypto signing by aws4fetch) on a real
 * S3 server, not only in Node and Deno. Tables with S3 ends, configured by
 * URL, are in tables.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { S3Store } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import type { Harness } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const vars = env as unknown as Record<string, string | undefined>;
const cfg = rgwConfig((k) => (k === "CI" ? vars.CI || undefined : vars[`TEST_${k}`]));

describe.skipIf(!cfg)("S3Store inside workerd on Ceph RGW: contract", () => {
  objectStoreContract(vitestHarness, () => new S3Store({ ...cfg!, forcePathStyle: true }), {
    slowTimeoutMs: 120_000,
  });
});
