/**
 * A table's configuration: its source and target as store URLs (the
 * library's grammar, `parseStoreUrl`: `s3://`, `http(s)://`, and
 * `r2://BINDING/prefix` for a bucket bound to the worker), S3 credentials
 * named by secret (never written in the URL or the configuration), and
 * per-table settings that default to the worker's vars. Validated with no
 * I/O: a bad URL, an unbound bucket or a missing secret is `InvalidArgument`
 * naming it, before anything is mirrored. What comes from the vars
 * (`TABLE_CONFIG` and its entries, `SOURCE_TABLES`, `PUSH_BUCKETS`) is parsed
 * once per `env` (worker/per-env.ts).
 */
import { TidemarkError } from "../src/errors.ts";
import type { MirrorLockOptions, RetentionOptions } from "../src/mirror/retention.ts";
import { checkNumber } from "../src/options.ts";
import { HttpStore } from "../src/store/http.ts";
import { type R2BucketLike, R2Store } from "../src/store/r2.ts";
import { S3Store } from "../src/store/s3/store.ts";
import { awsEndpoint, endpointId, parseS3Endpoint } from "../src/store/s3/vendor.ts";
import { type ObjectStore, storeId } from "../src/store/types.ts";
import { parseStoreUrl, type StoreUrl, s3StoreOptions } from "../src/store/url.ts";
import { refuseCheckpointOverlap } from "./checkpoint-config.ts";
import { type Prices, type Provider, prices, providerOf } from "./cost.ts";
import { checkDrillInterval, type DrillInterval } from "./drill.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { checkRetentionConfig, parseLock, parseRetention } from "./retention-config.ts";
import { type MirrorVars, mirrorVars, SETTING_RULES } from "./vars.ts";
import { checkViewTarget, type IcebergSetting, parseIcebergSetting } from "./view-config.ts";

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

/** A table ready to mirror and read: its configuration, settings and both stores. */
export interface TableSetup {
  table: string;
  origin: ConfigOrigin;
  config: TableConfig;
  /** The settings in force (`vars.pollIntervalMs` is the fallback poll when pushed). */
  vars: MirrorVars;
  source: ObjectStore;
  target: ObjectStore;
  /** Who bills each store's requests. */
  providers: { source: Provider; target: Provider };
  /** The prices of the cost projection (the list prices, overridden by the `PRICES` var). */
  prices: Readonly<Prices>;
  /** Where the source lives, for routing event notifications (`sourceLocation`); `undefined` for http. */
  location: string | undefined;
  /** Where the target's keys live (`targetLocation`): no two tables' overlap. */
  targetLocation: string;
  /** Wake-ups are pushed: the source's bucket sends event notifications to the worker's queue. */
  push: boolean;
}

const TABLE_NAME = /^[a-z0-9_-]{1,64}$/;
const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const WORKER_KINDS = ["s3", "r2", "http"] as const;

function invalid(message: string): TidemarkError {
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

const isObject = (v: unknown): v is Record<string, unknown> =>
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

/** A secret (or var) of the environment by name, when it is a non-empty string. */
function secret(env: Env, name: string): string | undefined {
  const v = (env as unknown as Record<string, unknown>)[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function isBucket(v: unknown): v is R2BucketLike {
  const b = v as Partial<Record<keyof R2BucketLike, unknown>> | null;
  return (
    typeof b === "object" &&
    b !== null &&
    typeof b.head === "function" &&
    typeof b.get === "function" &&
    typeof b.put === "function" &&
    typeof b.list === "function"
  );
}

/**
 * Opens one end of a table. R2 stores are named `BINDING/prefix`, so their
 * identity (`r2:BINDING/prefix`), to which saved progress is bound, changes
 * when the binding or the prefix does.
 *
 * @param secrets where credentials are read (default: `env`); the doctor passes wrong ones.
 */
export function openRef(
  env: Env,
  ref: StoreRef,
  name: string,
  secrets: (name: string) => string | undefined = (n) => secret(env, n),
): { store: ObjectStore; url: StoreUrl } {
  const url = parseStoreUrl(ref.url, {
    kinds: WORKER_KINDS,
    credentialsHint: `name them in ${name}.credentials (secrets NAME_ACCESS_KEY_ID and NAME_SECRET_ACCESS_KEY)`,
  });
  if (url.kind !== "s3" && ref.credentials !== undefined) {
    throw invalid(`${name}: credentials are for s3:// stores; ${url.label} takes none`);
  }
  switch (url.kind) {
    case "r2": {
      const bucket = (env as unknown as Record<string, unknown>)[url.binding];
      if (!isBucket(bucket)) {
        throw invalid(
          `${name}: no R2 bucket is bound as ${url.binding} (add [[r2_buckets]] binding = "${url.binding}" to wrangler.toml)`,
        );
      }
      const storeName = `${url.binding}${url.prefix ? `/${url.prefix.slice(0, -1)}` : ""}`;
      return { store: new R2Store(bucket, { prefix: url.prefix, name: storeName }), url };
    }
    case "s3": {
      const cred = ref.credentials;
      if (cred === undefined) {
        throw invalid(
          `${name}: an s3:// store needs credentials: { "url": ..., "credentials": "NAME" } naming the secrets NAME_ACCESS_KEY_ID and NAME_SECRET_ACCESS_KEY`,
        );
      }
      const missing = [`${cred}_ACCESS_KEY_ID`, `${cred}_SECRET_ACCESS_KEY`].filter(
        (n) => secrets(n) === undefined,
      );
      if (missing.length > 0) {
        throw invalid(`${name}: secret ${missing.join(" and ")} not set (wrangler secret put ${missing[0]})`);
      }
      const sessionToken = secrets(`${cred}_SESSION_TOKEN`);
      const store = new S3Store(
        s3StoreOptions(url, {
          accessKeyId: secrets(`${cred}_ACCESS_KEY_ID`) ?? "",
          secretAccessKey: secrets(`${cred}_SECRET_ACCESS_KEY`) ?? "",
          ...(sessionToken ? { sessionToken } : {}),
        }),
      );
      return { store, url };
    }
    case "http":
      return { store: new HttpStore(url.url), url };
    default:
      throw invalid(`${name}: unsupported store URL`);
  }
}

/**
 * Opens both ends of a table (or a checkpoint root): a writable target
 * that is not the source.
 *
 * @throws TidemarkError `InvalidArgument` naming `{where}source` or `{where}target`.
 */
export function openEnds(
  env: Env,
  ends: { source: StoreRef; target: StoreRef },
  where: string,
): { source: ObjectStore; sourceUrl: StoreUrl; target: ObjectStore; url: StoreUrl } {
  const { store: source, url: sourceUrl } = openRef(env, ends.source, `${where}source`);
  const { store: target, url } = openRef(env, ends.target, `${where}target`);
  if (url.kind === "http") {
    throw invalid(`${where}target: an http(s) store is read-only; it can be a source, not a target`);
  }
  if (storeId(source) === storeId(target)) {
    throw invalid(`${where}source and target are the same store (${target.name})`);
  }
  return { source, sourceUrl, target, url };
}

/**
 * Opens a table from its configuration: both stores and the settings (the
 * table's own, else the vars). No I/O.
 *
 * @throws TidemarkError `InvalidArgument` for a bad URL, an unbound bucket, a
 *   missing secret, a read-only target, a target that is the source, or a bad var.
 */
export function openTable(
  env: Env,
  table: string,
  config: TableConfig,
  origin: ConfigOrigin,
  where = "",
): TableSetup {
  validateTable(table);
  const vars = mirrorVars(env);
  const { source, sourceUrl, target, url } = openEnds(env, config, where);
  if (origin !== "source-tables") checkOwnTarget(env, table, targetLocation(url), where);
  refuseCheckpointOverlap(env, table, targetLocation(url), where);
  checkRetentionConfig(config, target, where);
  checkViewTarget(table, config.iceberg, url, where);
  const notifies = pushedBucket(sourceUrl, pushBuckets(env)) !== undefined;
  if (config.push === true && !notifies) {
    throw invalid(
      `${where}push: the source's bucket is not in PUSH_BUCKETS (list it as ${sourceUrl.kind === "r2" ? `${sourceUrl.binding}=BUCKET_NAME` : "its bucket name"} once its event notifications reach the worker's queue)`,
    );
  }
  const push = notifies && config.push !== false;
  return {
    table,
    origin,
    config,
    source,
    target,
    providers: { source: providerOf(sourceUrl), target: providerOf(url) },
    prices: prices(env),
    location: sourceLocation(sourceUrl),
    targetLocation: targetLocation(url),
    push,
    vars: {
      pushPollIntervalMs: vars.pushPollIntervalMs,
      // Pushed: the poll is only a fallback for a lost notification.
      pollIntervalMs: config.pollIntervalMs ?? (push ? vars.pushPollIntervalMs : vars.pollIntervalMs),
      lagAlertSecs: config.lagAlertSecs ?? vars.lagAlertSecs,
      parallelism: config.parallelism ?? vars.parallelism,
      budget: {
        requests: config.budget?.requests ?? vars.budget.requests,
        bytes: config.budget?.bytes ?? vars.budget.bytes,
      },
    },
  };
}

/**
 * Where a target's keys live, as a path that one target's contains
 * another's exactly when it holds the other's keys: `r2:BINDING/prefix/`,
 * `s3:ENDPOINT/bucket/prefix/` (the endpoint as `S3Store` resolves it, AWS
 * in the region when none), `http:URL/`. Two R2 bindings (or an R2 binding
 * and an s3:// URL of R2's S3 API) of one bucket cannot be told apart here.
 */
export function targetLocation(url: StoreUrl): string {
  const dir = (p: string) => (p === "" || p.endsWith("/") ? p : `${p}/`);
  switch (url.kind) {
    case "r2":
      return `r2:${url.binding}/${dir(url.prefix)}`;
    case "s3": {
      const region = url.region ?? "us-east-1";
      const endpoint = parseS3Endpoint(url.endpoint ?? awsEndpoint(region), "endpoint");
      return `s3:${endpointId(endpoint)}/${url.bucket}/${dir(url.prefix)}`;
    }
    default:
      return `${url.kind}:${dir(url.label)}`;
  }
}

/** Whether two target locations ({@link targetLocation}) share keys: one is the other's prefix. */
export function overlaps(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

/** The refusal of a target that overlaps another table's: a reader scoped to one would read the other's objects. */
export function overlapError(where: string, table: string, other: string, location: string): TidemarkError {
  return invalid(
    `${where}target overlaps the target of table ${other} (one prefix holds the other's keys: ${location}): ` +
      `a reader of ${table} could read ${other}'s objects through it, and two mirrors would write one table; give each table its own prefix`,
  );
}

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

/** The progress binding of a setup: what `Mirror` binds saved progress to. */
export function bindingOf(setup: Pick<TableSetup, "source" | "target">): { source: string; target: string } {
  return { source: storeId(setup.source), target: storeId(setup.target) };
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

/**
 * The setup of `table`, given its admin configuration (if any): a static
 * entry (`TABLE_CONFIG`) first, then the admin's (`PUT /api/tables/:table`),
 * then the `SOURCE_TABLES` layout.
 *
 * @throws TidemarkError `NotFound` when no configuration names the table;
 *   `InvalidArgument` for a bad one.
 */
export function tableSetup(env: Env, table: string, admin: TableConfig | undefined): TableSetup {
  validateTable(table);
  const config = staticConfig(env, table);
  if (config !== undefined) return openTable(env, table, config, "static", `TABLE_CONFIG.${table}.`);
  if (admin !== undefined) return openTable(env, table, admin, "admin");
  if (sourceTablesOn(env)) return openTable(env, table, sourceTableConfig(table), "source-tables");
  throw new TidemarkError("NotFound", `no table ${table} is configured`);
}

/**
 * `PUSH_BUCKETS`: the source buckets whose R2 event notifications reach the
 * worker's queue (`wrangler r2 bucket notification create ... --queue`).
 * Comma-separated entries: `BINDING=bucket-name` for an R2 bucket bound to
 * the worker (an event names the bucket, a table's `r2://` URL the binding:
 * this says which is which, as `bucket_name` does in wrangler.toml), or
 * `bucket-name` for a source named by an `s3://` URL (R2's S3 API).
 */
export interface PushBuckets {
  /** Binding name to bucket name. */
  bindings: Map<string, string>;
  /** Bucket names of `s3://` sources. */
  buckets: Set<string>;
}

/** An R2 bucket name: 3-63 of lower-case letters, digits and hyphens. https://developers.cloudflare.com/r2/buckets/create-buckets/ */
const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads `PUSH_BUCKETS` (unset or blank: none).
 *
 * @throws TidemarkError `InvalidArgument` naming the var for a bad entry or a
 *   binding that is not an R2 bucket of the worker.
 */
export const pushBuckets = perEnv((env: Env): PushBuckets => {
  const out: PushBuckets = { bindings: new Map(), buckets: new Set() };
  for (const raw of (env.PUSH_BUCKETS ?? "").split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    const binding = eq < 0 ? undefined : entry.slice(0, eq).trim();
    const bucket = (eq < 0 ? entry : entry.slice(eq + 1)).trim();
    if (!BUCKET_NAME.test(bucket)) {
      throw invalid(
        `PUSH_BUCKETS: ${JSON.stringify(bucket)} is not a bucket name (3-63 of a-z, 0-9 and -); entries are BINDING=bucket-name or bucket-name`,
      );
    }
    if (binding === undefined) {
      out.buckets.add(bucket);
      continue;
    }
    if (!BINDING_NAME.test(binding) || !isBucket((env as unknown as Record<string, unknown>)[binding])) {
      throw invalid(`PUSH_BUCKETS: no R2 bucket is bound as ${JSON.stringify(binding)}`);
    }
    out.bindings.set(binding, bucket);
  }
  return out;
});

/**
 * Where a source lives, independent of `PUSH_BUCKETS`: `r2:BINDING/prefix`
 * or `s3:bucket/prefix` (the prefix as the store uses it: empty, or ending in
 * `/`); `undefined` for an http source (no notifications).
 */
export function sourceLocation(url: StoreUrl): string | undefined {
  const prefix = (p: string) => (p === "" || p.endsWith("/") ? p : `${p}/`);
  if (url.kind === "r2") return `r2:${url.binding}/${prefix(url.prefix)}`;
  if (url.kind === "s3") return `s3:${url.bucket}/${prefix(url.prefix)}`;
  return undefined;
}

/** The bucket name a source's events carry, when that bucket is in `PUSH_BUCKETS`. */
export function pushedBucket(url: StoreUrl, pb: PushBuckets): string | undefined {
  if (url.kind === "r2") return pb.bindings.get(url.binding);
  if (url.kind === "s3") return pb.buckets.has(url.bucket) ? url.bucket : undefined;
  return undefined;
}

/** The source locations an event of `bucket` under `prefix` can be about. */
export function eventLocations(bucket: string, prefix: string, pb: PushBuckets): string[] {
  const out: string[] = [];
  if (pb.buckets.has(bucket)) out.push(`s3:${bucket}/${prefix}`);
  for (const [binding, name] of pb.bindings) if (name === bucket) out.push(`r2:${binding}/${prefix}`);
  return out;
}
