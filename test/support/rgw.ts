/**
 * The S3 (Ceph RGW) connection for suites that need a real S3 server, read
 * from the `S3_*` variables scripts/test.ts exports. Without them: under
 * CI=true a failure (a missing service is never a silent skip), locally a
 * loud skip naming the missing packages.
 */
export interface RgwConfig {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  region: string;
}

export type EnvGetter = (name: string) => string | undefined;

export const RGW_MISSING =
  "no S3 server: run the tests through `npm test` (it starts Ceph RGW; Debian packages ceph-mon ceph-osd radosgw ceph-common)";

/** The RGW config, or `undefined` (locally) when it is not running; throws under CI=true. */
export function rgwConfig(env: EnvGetter): RgwConfig | undefined {
  const endpoint = env("S3_ENDPOINT");
  if (!endpoint) {
    if (env("CI") === "true") throw new Error(`CI=true and ${RGW_MISSING}`);
    console.warn(`\n!!! SKIPPING S3 suite: ${RGW_MISSING} !!!\n`);
    return undefined;
  }
  return {
    endpoint,
    accessKeyId: env("S3_ACCESS_KEY_ID") ?? "",
    secretAccessKey: env("S3_SECRET_ACCESS_KEY") ?? "",
    bucket: env("S3_BUCKET") ?? "test-bucket",
    region: env("S3_REGION") ?? "us-east-1",
  };
}
