/**
 * The tables the vars name, parsed once per `env` (worker/per-env.ts):
 * `TABLE_CONFIG` (each entry checked when its table is opened), the
 * `SOURCE_TABLES=1` layout, retired vars refused; and the refusal of a
 * target that overlaps another such table's (`checkOwnTarget`).
 */
import { parseStoreUrl } from "../src/store/url.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { overlapError, overlaps, targetLocation, WORKER_KINDS } from "./stores.ts";
import {
  invalid,
  isObject,
  isTableName,
  parseTableConfig,
  type TableConfig,
  validateTable,
} from "./table-config.ts";

/** Where the `SOURCE_TABLES` layout mirrors table `t` (and every such table: `tables/`). */
const SOURCE_TABLES_TARGETS = "r2:MIRROR/tables/";

/**
 * Refuses a configured table's target that overlaps the target of another
 * table this worker knows without I/O: another `TABLE_CONFIG` entry, or the
 * `SOURCE_TABLES` layout's `r2://MIRROR/tables/{t}/` (when it is on). Admin
 * tables are checked against each other by the `TableRegistry`, which
 * records their targets.
 *
 * @throws TidemarkError `InvalidArgument` naming the other table.
 */
export function checkOwnTarget(env: Env, table: string, location: string, where = ""): void {
  for (const [other, theirs] of staticTargets(env)) {
    if (other !== table && overlaps(location, theirs)) throw overlapError(where, table, other, location);
  }
  if (!sourceTablesOn(env) || !overlaps(location, SOURCE_TABLES_TARGETS)) return;
  // Inside tables/: only the table's own place there (which this configuration replaces).
  const own = `${SOURCE_TABLES_TARGETS}${table}/`;
  if (location.startsWith(own)) return;
  const other = location.startsWith(SOURCE_TABLES_TARGETS)
    ? location.slice(SOURCE_TABLES_TARGETS.length).split("/")[0] || "of the SOURCE_TABLES layout"
    : "of the SOURCE_TABLES layout (every table under r2://MIRROR/tables/)";
  throw overlapError(where, table, other, location);
}

/**
 * The static tables: the `TABLE_CONFIG` var, a JSON object of table name to
 * configuration (a string of JSON, or a table in wrangler.toml's `[vars]`).
 * Entries are checked when their table is opened ({@link staticConfig}).
 *
 * @throws TidemarkError `InvalidArgument` when the var is not a JSON object or names a bad table.
 */
export const staticTables = perEnv((env: Env): Readonly<Record<string, unknown>> => {
  refuseIgnoredVars(env);
  const raw = env.TABLE_CONFIG;
  if (raw === undefined || raw === "") return {};
  let parsed: unknown = raw;
  if (typeof raw === "string") {
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw invalid("TABLE_CONFIG must be a JSON object of table name to { source, target, ... }");
    }
  }
  if (!isObject(parsed))
    throw invalid("TABLE_CONFIG must be a JSON object of table name to { source, target, ... }");
  for (const t of Object.keys(parsed)) {
    if (!isTableName(t))
      throw invalid(`TABLE_CONFIG: ${JSON.stringify(t)} is not a table name (1-64 of [a-z0-9_-])`);
  }
  return parsed;
});

/** Each `TABLE_CONFIG` entry checked (`parseTableConfig`), or why not: the errors name `TABLE_CONFIG.{table}.`. */
const staticConfigs = perEnv((env: Env) => {
  const out = new Map<string, { config: TableConfig } | { error: unknown }>();
  for (const [table, raw] of Object.entries(staticTables(env))) {
    try {
      out.set(table, { config: parseTableConfig(raw, `TABLE_CONFIG.${table}.`) });
    } catch (error) {
      out.set(table, { error });
    }
  }
  return out;
});

/**
 * The configuration of static table `table` (checked once per `env`), or
 * `undefined` when `TABLE_CONFIG` does not name it.
 *
 * @throws TidemarkError `InvalidArgument` for a bad entry, naming it.
 */
export function staticConfig(env: Env, table: string): TableConfig | undefined {
  const entry = staticConfigs(env).get(table);
  if (entry === undefined) return undefined;
  if ("error" in entry) throw entry.error;
  return entry.config;
}

/** Where each static table's target keys live ({@link targetLocation}); entries that do not parse are left out (their table reports why). */
const staticTargets = perEnv((env: Env) => {
  const out = new Map<string, string>();
  for (const [table, entry] of staticConfigs(env)) {
    if ("error" in entry) continue;
    try {
      out.set(table, targetLocation(parseStoreUrl(entry.config.target.url, { kinds: WORKER_KINDS })));
    } catch {
      // refused when that table is opened
    }
  }
  return out;
});

/**
 * Vars this worker would otherwise ignore, refused so that a deployment
 * never silently mirrors less than it was configured to: the `MIRROR_S3_*`
 * target of earlier versions (a target is a store URL now; its secrets keep
 * their names as `credentials: "MIRROR_S3"`), and `TABLES` without the
 * layout it belongs to.
 */
function refuseIgnoredVars(env: Env): void {
  const vars = env as unknown as Record<string, unknown>;
  const retired = Object.keys(vars).filter(
    (k) => k.startsWith("MIRROR_S3_") && !/_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)$/.test(k),
  );
  if (retired.length > 0) {
    throw invalid(
      `${retired.sort().join(", ")}: the MIRROR_S3_* target was replaced by table configurations; name the bucket as a target URL, e.g. TABLE_CONFIG {"t": {"source": "r2://SOURCE/tables/t", "target": {"url": "s3://BUCKET/tables/t?endpoint=...", "credentials": "MIRROR_S3"}}}`,
    );
  }
  if ((env.TABLES ?? "").trim() !== "" && !sourceTablesOn(env)) {
    throw invalid(
      "TABLES lists tables of the SOURCE_TABLES layout: set SOURCE_TABLES=1, or configure the tables in TABLE_CONFIG",
    );
  }
}

/** `SOURCE_TABLES=1`: table `t` is `r2://SOURCE/tables/t/` mirrored to `r2://MIRROR/tables/t/` (the demo's layout). */
export const sourceTablesOn = perEnv((env: Env): boolean => {
  const v = env.SOURCE_TABLES;
  if (v === undefined || v === "" || v === "0") return false;
  if (v === "1") {
    if (!env.SOURCE || !env.MIRROR) throw invalid("SOURCE_TABLES=1 needs the R2 bindings SOURCE and MIRROR");
    return true;
  }
  throw invalid(`SOURCE_TABLES must be 1 or 0, got ${JSON.stringify(v)}`);
});

/** Where tables live in the `SOURCE` and `MIRROR` buckets under `SOURCE_TABLES=1`. */
export const TABLES_PREFIX = "tables/";

/** The configuration `SOURCE_TABLES=1` gives `table`. */
export function sourceTableConfig(table: string): TableConfig {
  const p = `${TABLES_PREFIX}${validateTable(table)}/`;
  return { source: { url: `r2://SOURCE/${p}` }, target: { url: `r2://MIRROR/${p}` } };
}
