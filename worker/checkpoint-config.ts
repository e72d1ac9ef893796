/**
 * The Worker's checkpoint roots: LaminarDB `state-v2` roots it mirrors
 * beside its tables, declared in the `CHECKPOINT_CONFIG` var, a JSON object
 * of root name to `{ source, target, pollIntervalMs?, parallelism?, budget? }`
 * (store URLs and credentials as a table's, worker/config.ts; absent
 * settings are the worker's vars). Parsed once per `env`, with no I/O: a bad
 * entry is `InvalidArgument` naming `CHECKPOINT_CONFIG.{root}.{field}`.
 *
 * A root's target must not share keys with a table's target nor another
 * root's: `state-v2/` beside a table's `metadata/` would be read as part of
 * the table (and its mirror could prune it), and two mirrors would write one
 * root. Tables refuse a target that overlaps a root's the same way
 * ({@link refuseCheckpointOverlap}, called where a table is opened).
 */
import { TidemarkError } from "../src/errors.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { parseStoreUrl } from "../src/store/url.ts";
import { type Prices, type Provider, prices, providerOf } from "./cost.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { checkOwnTarget } from "./static-tables.ts";
import { openEnds, overlaps, targetLocation } from "./stores.ts";
import { parseTableConfig, type StoreRef, type TableConfig } from "./table-config.ts";
import { mirrorVars } from "./vars.ts";

/** A checkpoint root's configuration, normalised. */
export interface CheckpointConfig {
  source: StoreRef;
  target: StoreRef;
  pollIntervalMs?: number;
  parallelism?: number;
  budget?: { requests?: number; bytes?: number };
}

/** A checkpoint root ready to mirror and read. */
export interface CheckpointSetup {
  root: string;
  config: CheckpointConfig;
  source: ObjectStore;
  target: ObjectStore;
  /** Where the target's keys live (`targetLocation`). */
  targetLocation: string;
  /** The settings in force: the root's own, else the vars. */
  settings: { pollIntervalMs: number; parallelism: number; budget: { requests: number; bytes: number } };
  providers: { source: Provider; target: Provider };
  prices: Readonly<Prices>;
}

/** Root names: what a table name may be (safe in keys, URLs and metric labels). */
const ROOT_NAME = /^[a-z0-9_-]{1,64}$/;
/** The keys of a root's configuration (a table's, less what means nothing for a checkpoint root). */
const KEYS = ["source", "target", "pollIntervalMs", "parallelism", "budget"] as const;

const invalid = (message: string) => new TidemarkError("InvalidArgument", message);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Throws `InvalidArgument` unless `root` is 1-64 of `[a-z0-9_-]`. */
export function validateRoot(root: string): string {
  if (!ROOT_NAME.test(root)) throw invalid("checkpoint root names are 1-64 characters of [a-z0-9_-]");
  return root;
}

/**
 * Checks one root's configuration: the keys a table's configuration has
 * (checked by the same rules, `parseTableConfig`), less `push` and
 * `lagAlertSecs`, which a checkpoint root has no use for.
 */
export function parseCheckpointConfig(input: unknown, where: string): CheckpointConfig {
  if (!isObject(input)) throw invalid(`${where}must be a JSON object: { source, target, ... }`);
  for (const k of Object.keys(input)) {
    if (!(KEYS as readonly string[]).includes(k))
      throw invalid(`${where}unknown key ${JSON.stringify(k)} (known: ${KEYS.join(", ")})`);
  }
  const { push: _push, lagAlertSecs: _lag, ...config }: TableConfig = parseTableConfig(input, where);
  return config;
}

/** Each `CHECKPOINT_CONFIG` entry checked, or why not. */
const checkpointConfigs = perEnv((env: Env) => {
  const out = new Map<string, { config: CheckpointConfig } | { error: unknown }>();
  const raw = env.CHECKPOINT_CONFIG;
  if (raw === undefined || raw === "") return out;
  let parsed: unknown = raw;
  const shape = "CHECKPOINT_CONFIG must be a JSON object of root name to { source, target, ... }";
  if (typeof raw === "string") {
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw invalid(shape);
    }
  }
  if (!isObject(parsed)) throw invalid(shape);
  for (const [root, entry] of Object.entries(parsed)) {
    if (!ROOT_NAME.test(root))
      throw invalid(`CHECKPOINT_CONFIG: ${JSON.stringify(root)} is not a root name (1-64 of [a-z0-9_-])`);
    try {
      out.set(root, { config: parseCheckpointConfig(entry, `CHECKPOINT_CONFIG.${root}.`) });
    } catch (error) {
      out.set(root, { error });
    }
  }
  return out;
});

/** The names of the checkpoint roots, sorted. */
export function checkpointRoots(env: Env): string[] {
  return [...checkpointConfigs(env).keys()].sort();
}

/** Where each root's target keys live; entries that do not parse are left out (their root reports why). */
const rootTargets = perEnv((env: Env) => {
  const out = new Map<string, string>();
  for (const [root, entry] of checkpointConfigs(env)) {
    if ("error" in entry) continue;
    try {
      out.set(root, targetLocation(parseStoreUrl(entry.config.target.url, { kinds: ["s3", "r2", "http"] })));
    } catch {
      // refused when that root is opened
    }
  }
  return out;
});

/**
 * Refuses a table's target that shares keys with a checkpoint root's target
 * (`openTable` calls it for every table).
 *
 * @throws TidemarkError `InvalidArgument` naming the root.
 */
export function refuseCheckpointOverlap(env: Env, table: string, location: string, where = ""): void {
  for (const [root, theirs] of rootTargets(env)) {
    if (overlaps(location, theirs)) {
      throw invalid(
        `${where}target overlaps the target of checkpoint root ${root} (one prefix holds the other's keys: ${location}): a reader of ${table} would read that root's state-v2/ objects; give each its own prefix`,
      );
    }
  }
}

/**
 * The setup of checkpoint root `root`. No I/O.
 *
 * @throws TidemarkError `NotFound` when `CHECKPOINT_CONFIG` does not name it;
 *   `InvalidArgument` for a bad entry, a bad var, a read-only target, a
 *   target that is the source, or a target that overlaps a table's or
 *   another root's.
 */
export function checkpointSetup(env: Env, root: string): CheckpointSetup {
  validateRoot(root);
  const entry = checkpointConfigs(env).get(root);
  if (entry === undefined) throw new TidemarkError("NotFound", `no checkpoint root ${root} is configured`);
  if ("error" in entry) throw entry.error;
  const { config } = entry;
  const where = `CHECKPOINT_CONFIG.${root}.`;
  const vars = mirrorVars(env);
  const { source, sourceUrl, target, url } = openEnds(env, config, where);
  const location = targetLocation(url);
  // Tables: TABLE_CONFIG's and the SOURCE_TABLES layout's (the check tables run on each other).
  checkOwnTarget(env, `checkpoint-root:${root}`, location, where);
  for (const [other, theirs] of rootTargets(env)) {
    if (other !== root && overlaps(location, theirs)) {
      throw invalid(
        `${where}target overlaps the target of checkpoint root ${other} (one prefix holds the other's keys: ${location}): two mirrors would write one state-v2 root; give each root its own prefix`,
      );
    }
  }
  return {
    root,
    config,
    source,
    target,
    targetLocation: location,
    settings: {
      pollIntervalMs: config.pollIntervalMs ?? vars.pollIntervalMs,
      parallelism: config.parallelism ?? vars.parallelism,
      budget: {
        requests: config.budget?.requests ?? vars.budget.requests,
        bytes: config.budget?.bytes ?? vars.budget.bytes,
      },
    },
    providers: { source: providerOf(sourceUrl), target: providerOf(url) },
    prices: prices(env),
  };
}
