/**
 * The tidemark Cloudflare Worker: the inspection API, the object route
 * browsers and Parquet readers read a mirror through, `/metrics`, admin
 * routes, the browser inspector (static assets), and the Durable Objects
 * (`MirrorObject`, one per table; `TableRegistry`).
 *
 * Read routes need a read credential unless `PUBLIC_READ=1` (worker/auth.ts);
 * admin routes need `ADMIN_TOKEN`. Routes:
 * - `GET /api/tables`: `{ tables }` (those the credential may read);
 * - `GET /api/tables/:table`: its configuration (URLs and secret names, never a secret);
 * - `GET /api/tables/:table/status | /snapshots | /snapshots/:v | /verify/:v`: `inspectApp` over
 *   the table's target, plus the Durable Object's status;
 * - `GET /api/tables/:table/sign?key=K[&ttl=S]`: `{ url, expiresAt }`, a signed object URL;
 *   `POST` with `{ keys: [K...] }` (up to 1,000): `{ urls: { K: url }, expiresAt }`, many in one
 *   request (the inspector signs the data files a read of rows opens at once);
 * - `POST /api/tables/:table/await?version=N[&timeoutMs=T]`: 200 `{ table, mirrorSeq }` once the
 *   mirror holds N, 408 at the timeout (the read-your-writes barrier);
 * - `GET|HEAD /objects/:table/*`: target objects (ETag, Range, If-None-Match) for `HttpStore`,
 *   with a read credential or a signed URL;
 * - `GET /metrics`: Prometheus text, one `table` label per series;
 * - admin: `PUT|DELETE /api/tables/:table` (configure, remove), `POST /api/tables/:table/kick`,
 *   `.../commit` (demo writer), `.../doctor` (probe the target, worker/doctor.ts).
 *
 * Besides requests: the queue consumer of R2 event notifications (pushed
 * wake-ups, worker/push.ts) and a cron that makes sure every table's loop runs
 * (worker/cron.ts).
 */
import { type Context, Hono, type Next } from "hono";
import { cors } from "hono/cors";
import { type DemoCommitOptions, demoCommit } from "../src/demo/writer.ts";
import { errorCodeOf, TidemarkError } from "../src/errors.ts";
import { parseNumberOption } from "../src/options.ts";
import { decodeObjectKey, EXPOSED_HEADERS, errorResponse, inspectApp } from "../src/server/inspect-app.ts";
import { serveObject } from "../src/server/objects.ts";
import { canRead, isAuthorized, isRefusal, type ReadGrant, readGrant } from "./auth.ts";
import { openTable, overlapError, parseTableConfig, staticTables } from "./config.ts";
import { PRICE_SOURCES } from "./cost.ts";
import { cronVisit } from "./cron.ts";
import { doctorMirror } from "./doctor.ts";
import type { Env } from "./env.ts";
import { mirrorMetrics } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";
import { handlePushBatch } from "./push.ts";
import { checkSignedUrl, isSigned, signObjectUrl } from "./signed-url.ts";
import {
  listTables,
  mirrorObject,
  resolveTable,
  type TableSetup,
  tableRegistry,
  validateTable,
} from "./tables.ts";

export type { Env } from "./env.ts";
export { MirrorObject } from "./mirror-object.ts";
export { TableRegistry } from "./registry.ts";
export { mirrorObject } from "./tables.ts";

type App = { Bindings: Env; Variables: { grant: ReadGrant } };

/** Longest `timeoutMs` the await route accepts (5 minutes: a client holds the request open). */
const MAX_AWAIT_MS = 300_000;

const app = new Hono<App>();

// CORS `*` is safe with private reads: credentials travel in headers a page
// must set itself (a bearer token) or in a signed URL, never in cookies, so
// another origin cannot borrow a visitor's session.
app.use(
  "*",
  cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Range", "If-None-Match"],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  }),
);

const refuse = (c: Context<App>, status: 401 | 403, message: string) => {
  if (status === 401) c.header("WWW-Authenticate", 'Bearer realm="tidemark"');
  return c.json({ error: "PermissionDenied", message }, status);
};

// Admin routes: a bearer token compared in constant time; 401 JSON otherwise.
const admin = async (c: Context<App>, next: Next) => {
  if (!(await isAuthorized(c.req.header("Authorization"), c.env.ADMIN_TOKEN))) {
    return refuse(c, 401, "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
  }
  await next();
};

/** Read routes: a read credential (worker/auth.ts); for a `:table` route, one that covers the table. */
const read = async (c: Context<App>, next: Next) => {
  const grant = await readGrant(c.req.raw, c.env);
  if (isRefusal(grant)) return refuse(c, grant.status, grant.message);
  const table = c.req.param("table");
  if (table !== undefined && !canRead(grant, validateTable(table))) {
    return refuse(c, 403, `this credential does not cover table ${table}`);
  }
  c.set("grant", grant);
  await next();
};

const tableParam = (c: Context<App>) => validateTable(c.req.param("table") ?? "");

/**
 * The setup of the request's table, resolved once per request: the routes
 * that reach a table's `MirrorObject` resolve it first, so a name nobody
 * configured is a 404 before any per-table object is touched.
 */
const setups = new WeakMap<Request, Promise<TableSetup>>();
function setupOf(env: Env, req: Request, table: string): Promise<TableSetup> {
  let setup = setups.get(req);
  if (setup === undefined) {
    setup = resolveTable(env, table);
    setups.set(req, setup);
  }
  return setup;
}

app.get("/api/tables", read, async (c) => {
  const grant = c.get("grant");
  return c.json({ tables: (await listTables(c.env)).filter((t) => canRead(grant, t)) });
});

/** What `GET`/`PUT /api/tables/:table` answer: the configuration, never a secret. */
async function describeTable(env: Env, table: string) {
  const setup = await resolveTable(env, table);
  return {
    table,
    origin: setup.origin,
    config: setup.config,
    source: setup.source.name,
    target: setup.target.name,
    settings: { ...setup.vars, push: setup.push },
    cost: { providers: setup.providers, prices: setup.prices, priceSources: PRICE_SOURCES },
  };
}

app.get("/api/tables/:table", read, async (c) => c.json(await describeTable(c.env, tableParam(c))));

/** A JSON request body: empty is `undefined`; anything else must parse. */
async function jsonBody(req: Request, what: string): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TidemarkError("InvalidArgument", `the ${what} body must be JSON`);
  }
}

app.put("/api/tables/:table", admin, async (c) => {
  const table = tableParam(c);
  if (Object.hasOwn(staticTables(c.env), table)) {
    throw new TidemarkError("AlreadyExists", `table ${table} is configured in TABLE_CONFIG; change it there`);
  }
  // Checked here first (a bad URL, an unbound bucket, a missing secret: 400,
  // nothing stored), then by the table's object, which keeps it.
  const config = parseTableConfig(await jsonBody(c.req.raw, "table configuration"));
  const setup = openTable(c.env, table, config, "admin");
  // Another admin table's target overlapping this one: refused before the table's object is made
  // (the registry checks again, atomically, when the object records the table).
  const other = await tableRegistry(c.env).overlapping(table, setup.targetLocation);
  if (other !== null) throw overlapError("", table, other, setup.targetLocation);
  // The table's object keeps it and records the table in the registry.
  await mirrorObject(c.env, table).configure(table, config);
  return c.json(await describeTable(c.env, table));
});

app.delete("/api/tables/:table", admin, async (c) => {
  const table = tableParam(c);
  if (Object.hasOwn(staticTables(c.env), table)) {
    throw new TidemarkError("AlreadyExists", `table ${table} is configured in TABLE_CONFIG; remove it there`);
  }
  // Only a recorded admin table has a configuration to remove: no object is made for another name.
  const removed = (await tableRegistry(c.env).has(table))
    ? await mirrorObject(c.env, table).unconfigure(table)
    : false;
  return c.json({ table, removed });
});

app.post("/api/tables/:table/kick", admin, async (c) => {
  const table = tableParam(c);
  await resolveTable(c.env, table); // NotFound before the table's object is touched
  return c.json(await mirrorObject(c.env, table).kick(table));
});

/** The keys a demo commit's body may have (demoCommit checks their values). */
const DEMO_COMMIT_OPTIONS = ["files", "rows", "compactAt", "schema"];

/**
 * The demo writer's options from a request body: empty means the defaults;
 * anything but a JSON object of the known options is refused, so a malformed
 * request commits nothing rather than a default snapshot (or a 500). The
 * values are checked by `demoCommit`.
 */
async function demoOptions(req: Request): Promise<DemoCommitOptions> {
  const body = await jsonBody(req, "commit").catch(() => {
    throw new TidemarkError(
      "InvalidArgument",
      "the commit body must be JSON: { files?, rows?, compactAt?, schema? }",
    );
  });
  if (body === undefined) return {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TidemarkError(
      "InvalidArgument",
      "the commit body must be a JSON object: { files?, rows?, compactAt?, schema? }",
    );
  }
  for (const k of Object.keys(body)) {
    if (!DEMO_COMMIT_OPTIONS.includes(k))
      throw new TidemarkError(
        "InvalidArgument",
        `unknown commit option ${JSON.stringify(k)} (known: ${DEMO_COMMIT_OPTIONS.join(", ")})`,
      );
  }
  return body as DemoCommitOptions;
}

app.post("/api/tables/:table/commit", admin, async (c) => {
  const table = tableParam(c);
  // Synthetic snapshots must never land in a real table by accident: the
  // route exists only where the demo writer is switched on (npm start, tests).
  if (c.env.DEMO_WRITER !== "1") {
    throw new TidemarkError(
      "NotSupported",
      "the demo writer is off (set DEMO_WRITER=1 to enable the commit route)",
    );
  }
  const opts = await demoOptions(c.req.raw);
  // The kick below needs the table's configuration: a bad one is refused before anything is written.
  // The demo writer may write a SOURCE_TABLES table's first snapshot: the name becomes a table.
  const { source } = await resolveTable(c.env, table, { creating: true });
  const version = await demoCommit(source, opts);
  await mirrorObject(c.env, table).kick(table);
  // The version is the writer's read-your-writes token: POST .../await?version=N.
  return c.json({ table, version });
});

app.post("/api/tables/:table/doctor", admin, async (c) => {
  const report = await doctorMirror(c.env, tableParam(c), new URL(c.req.url).searchParams);
  return c.json(report, report.ok ? 200 : 502);
});

app.post("/api/tables/:table/await", read, async (c) => {
  const table = tableParam(c);
  const versionText = c.req.query("version");
  if (!versionText)
    throw new TidemarkError("InvalidArgument", "await needs ?version=N (the version a commit returned)");
  const version = parseNumberOption("version", versionText, 0, { min: 1 });
  const timeoutMs = parseNumberOption("timeoutMs", c.req.query("timeoutMs"), 30_000, {
    min: 0,
    max: MAX_AWAIT_MS,
  });
  await resolveTable(c.env, table); // NotFound / InvalidArgument before waiting
  try {
    const mirrorSeq = await mirrorObject(c.env, table).awaitMirror(version, timeoutMs, table);
    return c.json({ table, mirrorSeq });
  } catch (e) {
    if (errorCodeOf(e) !== "Transient") throw e;
    const st = await mirrorObject(c.env, table).status(table);
    return c.json(
      {
        error: "Transient",
        message: `the mirror did not reach v${version} within ${timeoutMs} ms`,
        mirrorSeq: st.mirrorSeq,
      },
      408,
    );
  }
});

app.get("/api/tables/:table/sign", read, async (c) => {
  const table = tableParam(c);
  const key = c.req.query("key");
  if (!key) throw new TidemarkError("InvalidArgument", "sign needs ?key=<object key>");
  await resolveTable(c.env, table); // a signed URL for a table that does not exist is a 404 now
  return c.json(await signObjectUrl(c.env, c.req.url, table, key, c.req.query("ttl")));
});

/** Keys one `POST .../sign` may sign. */
const MAX_SIGN_KEYS = 1000;

app.post("/api/tables/:table/sign", read, async (c) => {
  const table = tableParam(c);
  const body = await jsonBody(c.req.raw, "sign");
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
  await resolveTable(c.env, table);
  // One expiry for the batch: every URL lives as long as the others.
  const now = Date.now();
  const signed = await Promise.all(
    (keys as string[]).map((k) => signObjectUrl(c.env, c.req.url, table, k, undefined, now)),
  );
  return c.json({
    urls: Object.fromEntries(signed.map((s, i) => [keys[i], s.url])),
    expiresAt: signed[0]?.expiresAt,
  });
});

app.on(["GET", "HEAD"], "/api/tables/:table/*", read);

app.route(
  "/api/tables/:table",
  inspectApp({
    store: async (c) => (await setupOf(c.env as Env, c.req.raw, c.req.param("table") ?? "")).target,
    mirror: async (c) => {
      const table = c.req.param("table") ?? "";
      await setupOf(c.env as Env, c.req.raw, table); // an unknown table: 404, no object made
      return { status: () => mirrorObject(c.env as Env, table).status(table) };
    },
    corsOrigin: false, // the worker's own CORS middleware covers every route
  }),
);

app.on(["GET", "HEAD"], "/objects/:table/*", async (c) => {
  const table = tableParam(c);
  // The key is what follows the raw (maybe percent-encoded) table segment:
  // slicing by the decoded name's length would cut the key wrongly.
  const url = new URL(c.req.url);
  const afterTable = url.pathname.indexOf("/", "/objects/".length);
  const key = decodeObjectKey(afterTable < 0 ? "" : url.pathname.slice(afterTable + 1));
  if (isSigned(url.searchParams)) {
    const why = await checkSignedUrl(c.env, table, key, url.searchParams);
    if (why !== undefined) return refuse(c, 403, why);
  } else {
    const grant = await readGrant(c.req.raw, c.env);
    if (isRefusal(grant)) return refuse(c, grant.status, grant.message);
    if (!canRead(grant, table)) return refuse(c, 403, `this credential does not cover table ${table}`);
  }
  return serveObject((await resolveTable(c.env, table)).target, key, c.req.raw);
});

app.get("/metrics", read, async (c) => {
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
  return c.body(mirrorMetrics(statuses), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
});

// The inspector page and bundle are static assets (no data: the page reads
// through the API with its credential), served before the worker in
// production; these routes make the worker serve them too when called
// directly (tests, a worker-first setup).
app.get("/", (c) => c.env.ASSETS.fetch(c.req.raw));
app.get("/inspector.js", (c) => c.env.ASSETS.fetch(c.req.raw));
// The parts of the page it loads after its first paint (scripts/build-inspector.ts).
app.get("/chunks/:file{[A-Za-z0-9_-]+\\.js}", (c) => c.env.ASSETS.fetch(c.req.raw));

app.notFound((c) => c.json({ error: "NotFound", message: "no such route" }, 404));
app.onError((e, c) => errorResponse(c, e));

export default {
  fetch: app.fetch,
  /** Cron: makes sure every table's loop runs (new tables at once, each table once an hour; worker/cron.ts). */
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(cronVisit(env, controller.scheduledTime));
  },
  /** Queue consumer: R2 event notifications wake the tables they are about (worker/push.ts). */
  async queue(batch, env) {
    await handlePushBatch(batch, env);
  },
} satisfies ExportedHandler<Env>;
