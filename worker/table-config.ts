/**
 * A table's configuration checked and normalised, key by key, with no I/O
 * (`parseTableConfig`: a `PUT /api/tables/:table` body, a `TABLE_CONFIG`
 * entry): its source and target as store URLs with S3 credentials named by
 * secret, and per-table settings that default to the worker's vars. Table
 * names (`validateTable`).
 */
import { TidemarkError } from "../src/errors.ts";
import type { MirrorLockOptions, RetentionOptions } from "../src/mirror/retention.ts";
import { checkNumber } from "../src/options.ts";
import { checkDrillInterval, type DrillInterval } from "./drill.ts";
import { parseLock, parseRetention } from "./retention-config.ts";
import { SETTING_RULES } from "./vars.ts";
import { type IcebergSetting, parseIcebergSetting } from "./view-config.ts";

/** One end of a table: a store URL, and for `s3://` the name of its credentials. */
export interface StoreRef {
  url: string;
  /**
   * `NAME`: the secrets `NAME_ACCESS_KEY_ID`, `NAME_SECRET_ACCESS_KEY` and,
   * if set, `NAME_SESSION_TOKEN` (`wrangler secret put NAME_SECRET_ACCESS_KEY`).
   */
  credentials?: string;
}

/** A table's configuration, normalised (what `PUT /api/tables/:table` stores and `GET` shows). */
export interface TableConfig {
  source: StoreRef;
  target: StoreRef;
  /**
   * `false`: poll even though the source's bucket sends event notifications
   * (`PUSH_BUCKETS`); `true`: insist that it does (else `InvalidArgument`).
   * Absent: pushed exactly when the source's bucket is in `PUSH_BUCKETS`.
   */
  push?: boolean;
  /** Per-table settings; absent ones are the worker's vars. */
  pollIntervalMs?: number;
  lagAlertSecs?: number;
  parallelism?: number;
  budget?: { requests?: number; bytes?: number };
  /** The versions the target keeps (worker/retention-config.ts); absent: every version. */
  retention?: RetentionOptions;
  /** Object Lock on every data file and manifest the mirror writes (an s3:// target created with Object Lock). */
  lock?: MirrorLockOptions;
  /** Apache Iceberg views the mirror writes after each version (worker/view-config.ts). */
  iceberg?: IcebergSetting;
  /** How often the mirror is drilled (a deep verification), ms, or "off" (worker/drill.ts); absent: `DRILL_INTERVAL_MS`. */
  drillIntervalMs?: DrillInterval;
}

/** Where a table's configuration comes from. */
export type ConfigOrigin = "static" | "admin" | "source-tables";

const TABLE_NAME = /^[a-z0-9_-]{1,64}$/;

const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

export function invalid(message: string): TidemarkError {
  return new TidemarkError("InvalidArgument", message);
}

/** Throws `InvalidArgument` unless `table` is 1–64 of `[a-z0-9_-]` (safe in keys, URLs and metric labels). */
export function validateTable(table: string): string {
  if (!TABLE_NAME.test(table)) throw invalid("table names are 1-64 characters of [a-z0-9_-]");
  return table;
}

/** True when `table` is a valid table name. */
export function isTableName(table: string): boolean {
  return TABLE_NAME.test(table);
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function parseRef(v: unknown, name: string): StoreRef {
  if (typeof v === "string") return { url: v };
  if (!isObject(v)) throw invalid(`${name} must be a store URL or { url, credentials? }`);
  for (const k of Object.keys(v)) {
    if (k !== "url" && k !== "credentials")
      throw invalid(`${name}: unknown key ${JSON.stringify(k)} (known: url, credentials)`);
  }
  if (typeof v.url !== "string") throw invalid(`${name}.url must be a store URL`);
  if (v.credentials === undefined) return { url: v.url };
  if (typeof v.credentials !== "string" || !SECRET_NAME.test(v.credentials)) {
    throw invalid(`${name}.credentials must name secrets: 1-64 of [A-Z0-9_], starting with a letter`);
  }
  return { url: v.url, credentials: v.credentials };
}

/** The check of one key of a table configuration: its value, or `InvalidArgument` naming it (`name`). */
type FieldCheck<K extends keyof TableConfig> = (value: unknown, name: string) => NonNullable<TableConfig[K]>;

/**
 * How each key of a table configuration is checked, in the order a
 * configuration is shown: a key not here is refused. A per-table setting is
 * a key here (and in {@link TableConfig}); a numeric one takes its rule from
 * `SETTING_RULES` (worker/vars.ts), where the var that is its default is read.
 */
const FIELDS: { [K in keyof TableConfig]-?: FieldCheck<K> } = {
  source: parseRef,
  target: parseRef,
  push: (v, name) => {
    if (typeof v !== "boolean") throw invalid(`${name} must be true or false`);
    return v;
  },
  pollIntervalMs: (v, name) => checkNumber(name, v, SETTING_RULES.pollIntervalMs),
  lagAlertSecs: (v, name) => checkNumber(name, v, SETTING_RULES.lagAlertSecs),
  parallelism: (v, name) => checkNumber(name, v, SETTING_RULES.parallelism),
  budget: (b, name) => {
    if (!isObject(b)) throw invalid(`${name} must be { requests?, bytes? }`);
    for (const k of Object.keys(b)) {
      if (k !== "requests" && k !== "bytes")
        throw invalid(`${name}: unknown key ${JSON.stringify(k)} (known: requests, bytes)`);
    }
    return {
      ...(b.requests !== undefined
        ? { requests: checkNumber(`${name}.requests`, b.requests, SETTING_RULES.budgetRequests) }
        : {}),
      ...(b.bytes !== undefined
        ? { bytes: checkNumber(`${name}.bytes`, b.bytes, SETTING_RULES.budgetBytes) }
        : {}),
    };
  },
  retention: parseRetention,
  lock: parseLock,
  iceberg: parseIcebergSetting,
  drillIntervalMs: checkDrillInterval,
};

/**
 * Checks the shape of a table configuration (a `PUT` body, an entry of
 * `TABLE_CONFIG`) and normalises it, key by key ({@link FIELDS}). `where`
 * prefixes every name an error gives (`TABLE_CONFIG.orders.`).
 *
 * @throws TidemarkError `InvalidArgument` naming the first bad field.
 */
export function parseTableConfig(input: unknown, where = ""): TableConfig {
  if (!isObject(input))
    throw invalid(`${where || "a table configuration "}must be a JSON object: { source, target, ... }`);
  for (const k of Object.keys(input)) {
    if (!Object.hasOwn(FIELDS, k))
      throw invalid(`${where}unknown key ${JSON.stringify(k)} (known: ${Object.keys(FIELDS).join(", ")})`);
  }
  if (input.source === undefined) throw invalid(`${where}source is required (a store URL)`);
  if (input.target === undefined) throw invalid(`${where}target is required (a store URL)`);
  const config: Record<string, unknown> = {};
  for (const [k, check] of Object.entries(FIELDS)) {
    if (input[k] !== undefined)
      config[k] = (check as FieldCheck<keyof TableConfig>)(input[k], `${where}${k}`);
  }
  return config as unknown as TableConfig;
}
