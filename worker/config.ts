/**
 * A table's setup: its configuration (`table-config.ts`) opened into both
 * stores (`stores.ts`) and the settings in force (the table's own, else the
 * worker's vars), after the checks that need the other tables (targets that
 * overlap: `static-tables.ts`, checkpoint roots) and `PUSH_BUCKETS`
 * (`push-buckets.ts`). Validated with no I/O: a bad URL, an unbound bucket
 * or a missing secret is `InvalidArgument` naming it, before anything is
 * mirrored. Where a table's configuration comes from: `tableSetup`.
 */
import { TidemarkError } from "../src/errors.ts";
import { type ObjectStore, storeId } from "../src/store/types.ts";
import { refuseCheckpointOverlap } from "./checkpoint-config.ts";
import { type Prices, type Provider, prices, providerOf } from "./cost.ts";
import type { Env } from "./env.ts";
import { pushBuckets, pushedBucket } from "./push-buckets.ts";
import { checkRetentionConfig } from "./retention-config.ts";
import { checkOwnTarget, sourceTableConfig, sourceTablesOn, staticConfig } from "./static-tables.ts";
import { openEnds, sourceLocation, targetLocation } from "./stores.ts";
import { type ConfigOrigin, invalid, type TableConfig, validateTable } from "./table-config.ts";
import { type MirrorVars, mirrorVars } from "./vars.ts";
import { checkViewTarget } from "./view-config.ts";

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

/** The progress binding of a setup: what `Mirror` binds saved progress to. */
export function bindingOf(setup: Pick<TableSetup, "source" | "target">): { source: string; target: string } {
  return { source: storeId(setup.source), target: storeId(setup.target) };
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
