/** The bindings and vars of the tidemark worker (wrangler.toml, .dev.vars). */
export interface Env {
  /** The primary tables: `tables/{table}/...`. */
  SOURCE: R2Bucket;
  /** The mirror the Durable Object writes: same layout. */
  MIRROR: R2Bucket;
  /** One `MirrorObject` per table (`idFromName(table)`). */
  MIRROR_OBJECT: DurableObjectNamespace<import("./mirror-object.ts").MirrorObject>;
  /** The inspector's static files (worker/public). */
  ASSETS: Fetcher;
  /** Bearer token of the admin routes (a secret; a dev default in .dev.vars). */
  ADMIN_TOKEN?: string;
  /** Poll interval when caught up, ms. */
  POLL_INTERVAL_MS?: string;
  /** Lag above which the mirror reports an alert, s. */
  LAG_ALERT_SECS?: string;
  /** Store requests one alarm may make. */
  BUDGET_REQUESTS?: string;
  /** Bytes one alarm may copy. */
  BUDGET_BYTES?: string;
  /** Comma-separated tables the worker knows without listing (e.g. the demo table). */
  TABLES?: string;
  /** Parallel uploads within a tick. */
  PARALLELISM?: string;
  /** "1": `POST /api/tables/:table/commit` (the demo writer of `npm start`) is on; otherwise it answers 501. */
  DEMO_WRITER?: string;
  /**
   * An S3 mirror target instead of the `MIRROR` binding (DESIGN: "or an S3
   * target from secrets"): set all of endpoint, bucket and the two keys (the
   * keys as secrets: `wrangler secret put MIRROR_S3_SECRET_ACCESS_KEY`). Tables
   * live under `MIRROR_S3_PREFIX` (default none) + `tables/{table}/`.
   */
  MIRROR_S3_ENDPOINT?: string;
  MIRROR_S3_BUCKET?: string;
  /** Default `auto` (R2's S3 API); AWS wants the bucket's region. */
  MIRROR_S3_REGION?: string;
  MIRROR_S3_ACCESS_KEY_ID?: string;
  MIRROR_S3_SECRET_ACCESS_KEY?: string;
  MIRROR_S3_PREFIX?: string;
  /** "1": path-style URLs (needed for IP endpoints and many S3-compatible servers). */
  MIRROR_S3_PATH_STYLE?: string;
  /** Test-only: meter MIRROR writes inside the Durable Object. */
  TIDEMARK_TEST_HOOKS?: string;
}
