/**
 * The tidemark Cloudflare Worker: the read-only inspection API (CORS on), the
 * object route browsers read a private mirror through, `/metrics`, admin
 * routes behind a bearer token, the browser inspector (static assets), and
 * the `MirrorObject` Durable Object (one per table).
 *
 * Routes:
 * - `GET /api/tables`: `{ tables }` (tables in SOURCE plus the `TABLES` var);
 * - `GET /api/tables/:table/status | /snapshots | /snapshots/:v | /verify/:v`: `inspectApp` over the
 *   table's mirror, plus the Durable Object's status;
 * - `GET|HEAD /objects/:table/*`: mirror objects (ETag, Range, If-None-Match) for `HttpStore`;
 * - `GET /metrics`: Prometheus text, one `table` label per series;
 * - `POST /api/tables/:table/kick`, `POST /api/tables/:table/commit` (demo writer),
 *   `POST /api/tables/:table/doctor` (probe the mirror store, worker/doctor.ts): admin only.
 */
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import {
  decodeObjectKey,
  EXPOSED_HEADERS,
  errorResponse,
  inspectApp,
  serveObject,
  TidemarkError,
} from "../src/index.ts";
import { isAuthorized } from "./auth.ts";
import { type DemoCommitOptions, demoCommit } from "./demo.ts";
import { doctorMirror } from "./doctor.ts";
import type { Env } from "./env.ts";
import { mirrorMetrics } from "./metrics.ts";
import type { MirrorObjectStatus } from "./mirror-object.ts";
import { listTables, mirrorSetup, mirrorStore, sourceStore, validateTable } from "./tables.ts";

export type { Env } from "./env.ts";
export { MirrorObject } from "./mirror-object.ts";

type App = { Bindings: Env };

/** The Durable Object of `table`. */
export function mirrorObject(env: Env, table: string) {
  return env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(validateTable(table)));
}

const app = new Hono<App>();

app.use(
  "*",
  cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Range", "If-None-Match"],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  }),
);

// Admin routes: a bearer token compared in constant time; 401 JSON otherwise.
const admin = async (c: Context<App>, next: () => Promise<void>) => {
  if (!(await isAuthorized(c.req.header("Authorization"), c.env.ADMIN_TOKEN))) {
    c.header("WWW-Authenticate", 'Bearer realm="tidemark"');
    return c.json(
      { error: "PermissionDenied", message: "admin routes need Authorization: Bearer <token>" },
      401,
    );
  }
  await next();
};

app.get("/api/tables", async (c) => c.json({ tables: await listTables(c.env) }));

app.post("/api/tables/:table/kick", admin, async (c) => {
  const table = validateTable(c.req.param("table") ?? "");
  return c.json(await mirrorObject(c.env, table).kick(table));
});

/**
 * The demo writer's options from a request body: empty means the defaults;
 * anything but a JSON object of the known options is refused, so a malformed
 * request commits nothing rather than a default snapshot (or a 500). The
 * values are checked by `demoCommit`.
 */
async function demoOptions(req: Request): Promise<DemoCommitOptions> {
  const text = await req.text();
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TidemarkError("InvalidArgument", "the commit body must be JSON: { files?, rows?, compactAt? }");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TidemarkError(
      "InvalidArgument",
      "the commit body must be a JSON object: { files?, rows?, compactAt? }",
    );
  }
  for (const k of Object.keys(body)) {
    if (k !== "files" && k !== "rows" && k !== "compactAt")
      throw new TidemarkError(
        "InvalidArgument",
        `unknown commit option ${JSON.stringify(k)} (known: files, rows, compactAt)`,
      );
  }
  return body as DemoCommitOptions;
}

app.post("/api/tables/:table/commit", admin, async (c) => {
  const table = validateTable(c.req.param("table") ?? "");
  // Synthetic snapshots must never land in a real table by accident: the
  // route exists only where the demo writer is switched on (npm start, tests).
  if (c.env.DEMO_WRITER !== "1") {
    throw new TidemarkError(
      "NotSupported",
      "the demo writer is off (set DEMO_WRITER=1 to enable the commit route)",
    );
  }
  const opts = await demoOptions(c.req.raw);
  // The kick below needs the mirror's configuration: a bad var is refused before anything is written.
  mirrorSetup(c.env, table);
  const version = await demoCommit(sourceStore(c.env, table), opts);
  await mirrorObject(c.env, table).kick(table);
  return c.json({ table, version });
});

app.post("/api/tables/:table/doctor", admin, async (c) => {
  const report = await doctorMirror(c.env, c.req.param("table") ?? "", new URL(c.req.url).searchParams);
  return c.json(report, report.ok ? 200 : 502);
});

app.use("/api/tables/:table/*", async (c, next) => {
  validateTable(c.req.param("table") ?? "");
  await next();
});

app.route(
  "/api/tables/:table",
  inspectApp({
    store: (c) => mirrorStore(c.env as Env, c.req.param("table") ?? ""),
    mirror: (c) => {
      const table = c.req.param("table") ?? "";
      return { status: () => mirrorObject(c.env as Env, table).status(table) };
    },
    corsOrigin: false, // the worker's own CORS middleware covers every route
  }),
);

app.on(["GET", "HEAD"], "/objects/:table/*", async (c) => {
  const table = validateTable(c.req.param("table") ?? "");
  // The key is what follows the raw (maybe percent-encoded) table segment:
  // slicing by the decoded name's length would cut the key wrongly.
  const path = new URL(c.req.url).pathname;
  const afterTable = path.indexOf("/", "/objects/".length);
  const key = decodeObjectKey(afterTable < 0 ? "" : path.slice(afterTable + 1));
  return serveObject(mirrorStore(c.env, table), key, c.req.raw);
});

app.get("/metrics", async (c) => {
  const tables = await listTables(c.env);
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

// The inspector page and bundle are static assets, served before the worker
// in production; these routes make the worker serve them too when called
// directly (tests, a worker-first setup).
app.get("/", (c) => c.env.ASSETS.fetch(c.req.raw));
app.get("/inspector.js", (c) => c.env.ASSETS.fetch(c.req.raw));

app.notFound((c) => c.json({ error: "NotFound", message: "no such route" }, 404));
app.onError((e, c) => errorResponse(c, e));

export default {
  fetch: app.fetch,
  /** Cron: wakes every table's mirror (tables committed by writers that do not kick). */
  async scheduled(_controller, env, ctx) {
    const tables = await listTables(env);
    ctx.waitUntil(Promise.allSettled(tables.map((t) => mirrorObject(env, t).kick(t))));
  },
} satisfies ExportedHandler<Env>;
