/**
 * The S3 servers for suites that need a real one: Ceph RGW from the `S3_*`
 * variables, moto from `MOTO_*` (see test/support/moto.ts), as scripts/test.ts
 * exports them. Without them: under CI=true a failure (a missing service is
 * never a silent skip), locally a loud skip naming what is missing.
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

/**
 * The connection exported as `<prefix>_ENDPOINT`, `_ACCESS_KEY_ID`,
 * `_SECRET_ACCESS_KEY`, `_BUCKET`, `_REGION`, or `undefined` (locally, with a
 * loud warning) when it is not there; throws under CI=true.
 */
export function serviceConfig(env: EnvGetter, prefix: string, missing: string): RgwConfig | undefined {
  const endpoint = env(`${prefix}_ENDPOINT`);
  if (!endpoint) {
    if (env("CI") === "true") throw new Error(`CI=true and ${missing}`);
    console.warn(`\n!!! SKIPPING S3 suite: ${missing} !!!\n`);
    return undefined;
  }
  return {
    endpoint,
    accessKeyId: env(`${prefix}_ACCESS_KEY_ID`) ?? "",
    secretAccessKey: env(`${prefix}_SECRET_ACCESS_KEY`) ?? "",
    bucket: env(`${prefix}_BUCKET`) ?? "test-bucket",
    region: env(`${prefix}_REGION`) ?? "us-east-1",
  };
}

/** The RGW config, or `undefined` (locally) when it is not running; throws under CI=true. */
export function rgwConfig(env: EnvGetter): RgwConfig | undefined {
  return serviceConfig(env, "S3", RGW_MISSING);
}
