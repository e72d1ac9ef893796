/**
 * The worker's tables: which exist, and the setup (stores and settings) of
 * one, from its configuration (worker/config.ts): a `TABLE_CONFIG` entry, an
 * admin configuration kept by the table's `MirrorObject`, or the
 * `SOURCE_TABLES` layout.
 */
import { TidemarkError } from "../src/errors.ts";
import { R2Store } from "../src/store/r2.ts";
import { type TableSetup, tableSetup } from "./config.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { sourceTablesOn, staticTables, TABLES_PREFIX } from "./static-tables.ts";
import { isTableName, validateTable } from "./table-config.ts";

export type { TableSetup } from "./config.ts";
export { validateTable } from "./table-config.ts";

/** The Durable Object of `table`. */
export function mirrorObject(env: Env, table: string) {
  return env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(validateTable(table)));
}

/** The registry of admin-configured tables. */
export function tableRegistry(env: Env) {
  return env.TABLE_REGISTRY.get(env.TABLE_REGISTRY.idFromName("tables"));
}

/**
 * The setup of `table`, found without touching the table's `MirrorObject`
 * unless the table exists: a request for a name nobody configured must not
 * create a Durable Object (billed, with a storage row, and under
 * `SOURCE_TABLES=1` a polling loop nobody lists). In order:
 * - a static table (`TABLE_CONFIG`): from the vars alone;
 * - an admin table: the `TableRegistry` knows it (one RPC), then its object
 *   has the configuration (one RPC);
 * - under `SOURCE_TABLES=1`: a table the `TABLES` var names, or one with
 *   objects under `tables/{t}/` in `SOURCE` or `MIRROR` (a listing of one
 *   key, remembered once found).
 *
 * `opts.creating`: the caller writes the table's first snapshot (the admin
 * demo writer), so under `SOURCE_TABLES=1` any valid name is a table.
 *
 * @throws TidemarkError `NotFound` for a table nobody configured (before
 *   any per-table object is touched); `InvalidArgument` for a bad
 *   configuration.
 */
export async function resolveTable(
  env: Env,
  table: string,
  opts: { creating?: boolean } = {},
): Promise<TableSetup> {
  validateTable(table);
  if (Object.hasOwn(staticTables(env), table)) return tableSetup(env, table, undefined);
  if (await tableRegistry(env).has(table)) {
    const admin = await mirrorObject(env, table).adminConfig(table);
    return tableSetup(env, table, admin ?? undefined);
  }
  if (sourceTablesOn(env) && (opts.creating || (await isSourceTable(env, table)))) {
    return tableSetup(env, table, undefined);
  }
  throw new TidemarkError("NotFound", `no table ${table} is configured`);
}

/**
 * Tables of the `SOURCE_TABLES` layout found in this isolate: a table does
 * not come and go, so a name is listed for once, and only until this many
 * are known (then the set starts again).
 */
const sourceTablesSeen = new Set<string>();
const MAX_SOURCE_TABLES_SEEN = 10_000;

/**
 * Whether `table` exists in the `SOURCE_TABLES` layout: named in `TABLES`,
 * or with an object under `tables/{t}/` in `SOURCE`, or a manifest under
 * `tables/{t}/metadata/` in `MIRROR` (a mirror outlives a wiped source; the
 * doctor's scratch objects are not a table).
 */
async function isSourceTable(env: Env, table: string): Promise<boolean> {
  if (sourceTablesSeen.has(table) || namedTables(env).includes(table)) return true;
  const at = `${TABLES_PREFIX}${table}/`;
  for (const [bucket, prefix] of [
    [env.SOURCE, at],
    [env.MIRROR, `${at}metadata/`],
  ] as const) {
    if (!bucket) continue;
    const page = await bucket.list({ prefix, limit: 1 });
    if (page.objects.length > 0) {
      if (sourceTablesSeen.size >= MAX_SOURCE_TABLES_SEEN) sourceTablesSeen.clear();
      sourceTablesSeen.add(table);
      return true;
    }
  }
  return false;
}

/** The names in the `TABLES` var (comma-separated), valid ones only. */
export const namedTables = perEnv((env: Env): readonly string[] =>
  (env.TABLES ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(isTableName),
);

/**
 * Every table, sorted: the static ones, the admin-configured ones, and under
 * `SOURCE_TABLES=1` those in `SOURCE` (one delimited listing of `tables/`)
 * and those the `TABLES` var names.
 */
export async function listTables(env: Env): Promise<string[]> {
  const names = new Set([...Object.keys(staticTables(env)), ...(await tableRegistry(env).list())]);
  if (sourceTablesOn(env) && env.SOURCE) {
    for (const t of namedTables(env)) names.add(t);
    for await (const m of new R2Store(env.SOURCE).list(TABLES_PREFIX, { delimiter: "/" })) {
      if (!m.isPrefix) continue;
      const name = m.key.slice(TABLES_PREFIX.length, -1);
      if (isTableName(name)) names.add(name);
    }
  }
  return [...names].sort();
}
