/**
 * The handlers of the Worker's read routes (worker/index.ts lists them with
 * their middleware, `read` or `readObject`): the tables, a table's
 * configuration, the read-your-writes barrier, signed URLs, the objects, the
 * inspection API and `/metrics`. Each throws `TidemarkError`s; the app's
 * error exit answers them.
 */
import { errorCodeOf, TidemarkError } from "../src/errors.ts";
import { parseNumberOption } from "../src/options.ts";
import { errorResponse } from "../src/server/error-response.ts";
import { inspectApp } from "../src/server/inspect-app.ts";
import { serveObject } from "../src/server/objects.ts";
import { canRead } from "./auth.ts";
import { checkpointMetrics } from "./checkpoint-routes.ts";
import { PRICE_SOURCES } from "./cost.ts";
import type { Env } from "./env.ts";
import { mirrorMetrics } from "./metrics.ts";
import { jsonBody, objectKey, read, tableParam, tableSetupOf, type WorkerContext } from "./middleware.ts";
import type { MirrorObjectStatus } from "./object-state.ts";
import { signObjectUrl } from "./signed-url.ts";
import { listTables, mirrorObject, type TableSetup } from "./tables.ts";

/** Longest `timeoutMs` the await route accepts (5 minutes: a client holds the request open). */
const MAX_AWAIT_MS = 300_000;
/** Keys one `POST .../sign` may sign. */
const MAX_SIGN_KEYS = 1000;

/** `GET /api/tables`: the tables the credential may read. */
export async function listTablesRoute(c: WorkerContext): Promise<Response> {
  const grant = c.get("grant");
  return c.json({ tables: (await listTables(c.env)).filter((t) => canRead(grant, t)) });
}

/** What `GET`/`PUT /api/tables/:table` answer: the configuration, never a secret. */
export function describeTable(setup: TableSetup) {
  return {
    table: setup.table,
    origin: setup.origin,
    config: setup.config,
    source: setup.source.name,
    target: setup.target.name,
    settings: { ...setup.vars, push: setup.push },
    cost: { providers: setup.providers, prices: setup.prices, priceSources: PRICE_SOURCES },
  };
}

/** `GET /api/tables/:table`. */
export async function describeRoute(c: WorkerContext): Promise<Response> {
  return c.json(describeTable(await tableSetupOf(c)));
}

/**
 * `POST /api/tables/:table/await?version=N[&timeoutMs=T]`: 200 `{ table,
 * mirrorSeq }` once the mirror holds N; 408 at the timeout, with how far it got.
 */
export async function awaitRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  const versionText = c.req.query("version");
  if (!versionText)
    throw new TidemarkError("InvalidArgument", "await needs ?version=N (the version a commit returned)");
  const version = parseNumberOption("version", versionText, 0, { min: 1 });
  const timeoutMs = parseNumberOption("timeoutMs", c.req.query("timeoutMs"), 30_000, {
    min: 0,
    max: MAX_AWAIT_MS,
  });
  await tableSetupOf(c); // NotFound / InvalidArgument before waiting
  try {
    const mirrorSeq = await mirrorObject(c.env, table).awaitMirror(version, timeoutMs, table);
    return c.json({ table, mirrorSeq });
  } catch (e) {
    if (errorCodeOf(e) !== "Transient") throw e;
    const st = await mirrorObject(c.env, table).status(table);
    const late = new TidemarkError(
      "Transient",
      `the mirror did not reach v${version} within ${timeoutMs} ms`,
    );
    return errorResponse(c, late, { status: 408, fields: { mirrorSeq: st.mirrorSeq } });
  }
}

/** `GET /api/tables/:table/sign?key=K[&ttl=S]`: `{ url, expiresAt }`. */
export async function signRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  const key = c.req.query("key");
  if (!key) throw new TidemarkError("InvalidArgument", "sign needs ?key=<object key>");
  await tableSetupOf(c); // a signed URL for a table that does not exist is a 404 now
  return c.json(await signObjectUrl(c.env, c.req.url, table, key, c.req.query("ttl")));
}

/** `POST /api/tables/:table/sign` with `{ keys: [K...] }`: `{ urls: { K: url }, expiresAt }`, one expiry for all. */
export async function signManyRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  const body = await jsonBody(c, "sign");
  const keys = (body as { keys?: unknown } | undefined)?.keys;
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    keys.length > MAX_SIGN_KEYS ||
    !keys.every((k) => typeof k === "string") ||
    Object.keys(body as object).some((k) => k !== "keys")
  ) {
    throw new TidemarkError(
      "InvalidArgument",
      `sign needs a JSON body { keys: [...] } of 1 to ${MAX_SIGN_KEYS} object keys`,
    );
  }
  await tableSetupOf(c);
  // One expiry for the batch: every URL lives as long as the others.
  const now = Date.now();
  const signed = await Promise.all(
    (keys as string[]).map((k) => signObjectUrl(c.env, c.req.url, table, k, undefined, now)),
  );
  return c.json({
    urls: Object.fromEntries(signed.map((s, i) => [keys[i], s.url])),
    expiresAt: signed[0]?.expiresAt,
  });
}

/** `GET|HEAD /objects/:table/*`: the table's target objects (ETag, Range, If-None-Match). */
export async function objectRoute(c: WorkerContext): Promise<Response> {
  return serveObject((await tableSetupOf(c)).target, objectKey(c), c.req.raw);
}

/**
 * `GET /api/tables/:table/status | /snapshots | /snapshots/:v | /verify/:v`
 * (and `/objects/*`): `inspectApp` over the table's target, plus its Durable
 * Object's status; each route guarded by `read`.
 */
export const inspection = inspectApp({
  store: async (c) => (await tableSetupOf(c)).target,
  mirror: async (c) => {
    const { table } = await tableSetupOf(c); // an unknown table: 404, no object made
    return { status: () => mirrorObject(c.env as Env, table).status(table) };
  },
  auth: read,
  corsOrigin: false, // the Worker's own CORS middleware covers every route
});

/** `GET /metrics`: Prometheus text of the tables the credential may read. */
export async function metricsRoute(c: WorkerContext): Promise<Response> {
  const grant = c.get("grant");
  const tables = (await listTables(c.env)).filter((t) => canRead(grant, t));
  const statuses = await Promise.all(
    tables.map(async (table) => {
      let status: MirrorObjectStatus | undefined;
      try {
        status = await mirrorObject(c.env, table).status(table);
      } catch {
        status = undefined; // reported as tidemark_mirror_up 0
      }
      return { table, status };
    }),
  );
  const checkpoints = await checkpointMetrics(c.env, grant); // tidemark_checkpoint_*, one `root` label
  return c.body(mirrorMetrics(statuses) + checkpoints, 200, {
    "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
  });
}
