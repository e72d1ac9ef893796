/**
 * The worker's tables: which exist, and the setup (stores and settings) of
 * one, from its configuration (worker/config.ts): a `TABLE_CONFIG` entry, an
 * admin configuration kept by the table's `MirrorObject`, or the
 * `SOURCE_TABLES` layout.
 */
import { R2Store } from "../src/store/r2.ts";
import {
  isTableName,
  sourceTablesOn,
  staticTables,
  TABLES_PREFIX,
  type TableSetup,
  tableSetup,
  validateTable,
} from "./config.ts";
import type { Env } from "./env.ts";

export { type TableSetup, validateTable } from "./config.ts";

/** The Durable Object of `table`. */
export function mirrorObject(env: Env, table: string) {
  return env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(validateTable(table)));
}

/** The registry of admin-configured tables. */
export function tableRegistry(env: Env) {
  return env.TABLE_REGISTRY.get(env.TABLE_REGISTRY.idFromName("tables"));
}

/**
 * The setup of `table`. A static table is opened from the vars alone; any
 * other asks its `MirrorObject` for an admin configuration (one RPC).
 *
 * @throws TidemarkError `NotFound` for a table nobody configured;
 *   `InvalidArgument` for a bad configuration.
 */
export async function resolveTable(env: Env, table: string): Promise<TableSetup> {
  validateTable(table);
  if (Object.hasOwn(staticTables(env), table)) return tableSetup(env, table, undefined);
  const admin = await mirrorObject(env, table).adminConfig(table);
  return tableSetup(env, table, admin ?? undefined);
}

/** The names in the `TABLES` var (comma-separated), valid ones only. */
export function namedTables(env: Env): string[] {
  return (env.TABLES ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(isTableName);
}

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
