/**
 * The moto servers (test/services/moto.ts) for suites that run on a second
 * S3 implementation, from the `MOTO_*` variables scripts/test.ts and
 * scripts/with-moto.ts export. Missing: a failure under CI=true, locally a
 * loud skip.
 */
import { type EnvGetter, type RgwConfig, serviceConfig } from "./rgw.ts";

export const MOTO_MISSING =
  "no moto server: run the tests through `npm test` or `node scripts/with-moto.ts -- <command>` (Python packages moto[server] and boto3)";

/** The moto server that checks no signatures (where the suites run). */
export function motoConfig(env: EnvGetter): RgwConfig | undefined {
  return serviceConfig(env, "MOTO", MOTO_MISSING);
}

/** The moto server that checks every signature (auth failures; no `/` in query values there). */
export function motoAuthConfig(env: EnvGetter): RgwConfig | undefined {
  return serviceConfig(env, "MOTO_AUTH", MOTO_MISSING);
}

/**
 * The store-contract tests moto cannot pass: it records the checksum a put
 * gives without checking it against the body (moto 5.2.1, measured; AWS
 * answers BadDigest).
 */
export const MOTO_STORE_SKIPS: Record<string, string> = {
  "a put whose SHA-256 is not its body's stores nothing, or records no SHA-256":
    "moto records the x-amz-checksum-sha256 a put gives without checking it",
};
