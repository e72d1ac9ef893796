/**
 * Tables of the worker: a table name maps to the key prefix `tables/{table}/`
 * in both buckets (SOURCE and MIRROR), read and written through prefixed
 * R2 stores, so one pair of buckets holds many tables.
 */
import { type ObjectStore, R2Store, S3Store, TidemarkError } from "../src/index.ts";
import type { Env } from "./env.ts";
import { type MirrorVars, mirrorVars } from "./vars.ts";

/** Where tables live in both buckets. */
export const TABLES_PREFIX = "tables/";

const TABLE_NAME = /^[a-z0-9_-]{1,64}$/;

/** Throws `InvalidArgument` unless `table` is 1–64 of `[a-z0-9_-]` (safe in keys, URLs and metric labels). */
export function validateTable(table: string): string {
  if (!TABLE_NAME.test(table)) {
    throw new TidemarkError("InvalidArgument", "table names are 1-64 characters of [a-z0-9_-]");
  }
  return table;
}

/** The source (primary) store of `table`. */
export function sourceStore(env: Env, table: string): ObjectStore {
  return new R2Store(env.SOURCE, {
    prefix: `${TABLES_PREFIX}${validateTable(table)}/`,
    name: `source/${table}`,
  });
}

/**
 * The mirror store of `table`: the `MIRROR` R2 binding, or an S3-compatible
 * bucket when `MIRROR_S3_ENDPOINT` is set (see {@link Env}). A partial S3
 * configuration is an error (`InvalidArgument`), never a silent fallback to R2.
 */
export function mirrorStore(env: Env, table: string): ObjectStore {
  const prefix = `${TABLES_PREFIX}${validateTable(table)}/`;
  if (env.MIRROR_S3_ENDPOINT) {
    const { MIRROR_S3_BUCKET: bucket, MIRROR_S3_ACCESS_KEY_ID: id, MIRROR_S3_SECRET_ACCESS_KEY: key } = env;
    if (!bucket || !id || !key) {
      throw new TidemarkError(
        "InvalidArgument",
        "MIRROR_S3_ENDPOINT is set: MIRROR_S3_BUCKET, MIRROR_S3_ACCESS_KEY_ID and MIRROR_S3_SECRET_ACCESS_KEY are needed too",
      );
    }
    return new S3Store({
      endpoint: env.MIRROR_S3_ENDPOINT,
      bucket,
      region: env.MIRROR_S3_REGION || "auto",
      accessKeyId: id,
      secretAccessKey: key,
      prefix: `${env.MIRROR_S3_PREFIX ?? ""}${prefix}`,
      forcePathStyle: env.MIRROR_S3_PATH_STYLE === "1",
    });
  }
  return new R2Store(env.MIRROR, { prefix, name: `mirror/${table}` });
}

/** The tables named in the `TABLES` var (comma-separated), valid ones only. */
export function configuredTables(env: Env): string[] {
  return (env.TABLES ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => TABLE_NAME.test(t));
}

/**
 * Every table: those in SOURCE (one delimited listing of `tables/`) and the
 * configured ones, sorted and deduplicated.
 */
export async function listTables(env: Env): Promise<string[]> {
  const names = new Set(configuredTables(env));
  const source = new R2Store(env.SOURCE);
  for await (const m of source.list(TABLES_PREFIX, { delimiter: "/" })) {
    if (!m.isPrefix) continue;
    const name = m.key.slice(TABLES_PREFIX.length, -1);
    if (TABLE_NAME.test(name)) names.add(name);
  }
  return [...names].sort();
}

/**
 * What a table's mirror needs from the environment: the vars and both
 * stores. No I/O. The Durable Object calls it before each tick; routes that
 * would wake the mirror call it first, so a bad configuration is refused
 * before anything is written.
 *
 * @throws TidemarkError `InvalidArgument` naming a bad var or a half-configured S3 target.
 */
export function mirrorSetup(
  env: Env,
  table: string,
): { vars: MirrorVars; source: ObjectStore; target: ObjectStore } {
  return { vars: mirrorVars(env), source: sourceStore(env, table), target: mirrorStore(env, table) };
}
