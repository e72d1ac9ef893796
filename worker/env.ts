/** The bindings, vars and secrets of the tidemark worker (wrangler.toml, `wrangler secret put`, .dev.vars). */
export interface Env {
  /** The primary tables of the `SOURCE_TABLES` layout (`tables/{table}/...`); any R2 binding can be named by `r2://BINDING/...`. */
  SOURCE?: R2Bucket;
  /** The mirror bucket of the `SOURCE_TABLES` layout, and the usual `r2://MIRROR/...` target. */
  MIRROR?: R2Bucket;
  /** One `MirrorObject` per table (`idFromName(table)`): the mirror loop, its progress and the table's admin configuration. */
  MIRROR_OBJECT: DurableObjectNamespace<import("./mirror-object.ts").MirrorObject>;
  /** One `CheckpointObject` per checkpoint root (`idFromName(root)`): the checkpoint mirror loop and its progress. */
  CHECKPOINT_OBJECT: DurableObjectNamespace<import("./checkpoint-object.ts").CheckpointObject>;
  /** The names of the admin-configured tables (one instance). */
  TABLE_REGISTRY: DurableObjectNamespace<import("./registry.ts").TableRegistry>;
  /** The inspector's static files (worker/public). */
  ASSETS: Fetcher;
  /**
   * Static tables: a JSON object of table name to `{ source, target,
   * pollIntervalMs?, lagAlertSecs?, parallelism?, budget? }` (worker/table-config.ts),
   * as a string or a table in wrangler.toml's `[vars]`.
   */
  TABLE_CONFIG?: string | Record<string, unknown>;
  /**
   * LaminarDB checkpoint roots (`state-v2/`) to mirror: a JSON object of root name to `{ source,
   * target, pollIntervalMs?, parallelism?, budget? }` (worker/checkpoint-config.ts).
   */
  CHECKPOINT_CONFIG?: string | Record<string, unknown>;
  /** "1": table `t` is `r2://SOURCE/tables/t/` mirrored to `r2://MIRROR/tables/t/` (the demo's layout). */
  SOURCE_TABLES?: string;
  /** Comma-separated tables listed under `SOURCE_TABLES=1` before they have data (e.g. the demo table). */
  TABLES?: string;
  /** Bearer token of the admin routes (a secret). */
  ADMIN_TOKEN?: string;
  /** Bearer token of the read routes (a secret). */
  READ_TOKEN?: string;
  /** Comma-separated tables `READ_TOKEN` may read (default: every table). */
  READ_TOKEN_TABLES?: string;
  /** "1": the read routes answer anyone (a public mirror). */
  PUBLIC_READ?: string;
  /** The HMAC key of signed object URLs (a secret, at least 32 characters). */
  SIGNING_KEY?: string;
  /** Cloudflare Access: the team domain (`myteam.cloudflareaccess.com`); with `ACCESS_AUD`, an Access JWT is a read credential. */
  ACCESS_TEAM_DOMAIN?: string;
  /** Cloudflare Access: the application's audience (AUD) tag. */
  ACCESS_AUD?: string;
  /** Poll interval when caught up, ms. */
  POLL_INTERVAL_MS?: string;
  /** Poll interval of a table whose wake-ups are pushed (its source's bucket is in `PUSH_BUCKETS`), ms. */
  PUSH_POLL_INTERVAL_MS?: string;
  /**
   * Source buckets whose R2 event notifications reach the worker's queue:
   * comma-separated `BINDING=bucket-name` (an R2 binding) or `bucket-name` (an `s3://` source).
   */
  PUSH_BUCKETS?: string;
  /** Overrides of the list prices of the cost projection (worker/cost.ts): a JSON object of price names to US dollars. */
  PRICES?: string | Record<string, unknown>;
  /** How often each table's mirror is drilled (a deep verification, worker/drill.ts), ms; `off`: never; default a week. */
  DRILL_INTERVAL_MS?: string;
  /** Lag above which the mirror reports an alert, s. */
  LAG_ALERT_SECS?: string;
  /** Store requests one alarm may make. */
  BUDGET_REQUESTS?: string;
  /** Bytes one alarm may copy. */
  BUDGET_BYTES?: string;
  /** Parallel uploads within a tick. */
  PARALLELISM?: string;
  /** "1": `POST /api/tables/:table/commit` (the demo writer of `npm start`) is on; otherwise it answers 501. */
  DEMO_WRITER?: string;
}
