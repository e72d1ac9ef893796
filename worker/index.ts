/**
 * The tidemark Cloudflare Worker: the inspection API, the object route
 * browsers and Parquet readers read a mirror through, `/metrics`, admin
 * routes, the browser inspector (static assets), and the Durable Objects
 * (`MirrorObject`, one per table; `TableRegistry`).
 *
 * Every route is one line below: its method, its path, who may call it
 * (worker/middleware.ts: `read`, `readObject` or `admin`) and its handler
 * (worker/read-routes.ts, worker/admin-routes.ts). Read routes need a read
 * credential unless `PUBLIC_READ=1` (worker/auth.ts); admin routes need
 * `ADMIN_TOKEN`. Errors are thrown as `TidemarkError`s and leave through one
 * exit, `errorResponse` (`{ error: code, message }`, the code's status).
 *
 * Besides requests: the queue consumer of R2 event notifications (pushed
 * wake-ups, worker/push.ts) and a cron that makes sure every table's loop runs
 * (worker/cron.ts).
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { TidemarkError } from "../src/errors.ts";
import { errorResponse } from "../src/server/error-response.ts";
import { EXPOSED_HEADERS } from "../src/server/inspect-app.ts";
import {
  commitRoute,
  configureRoute,
  doctorRoute,
  drillRoute,
  kickRoute,
  removeRoute,
} from "./admin-routes.ts";
import {
  checkpointAttemptsRoute,
  checkpointKickRoute,
  checkpointStatusRoute,
  listCheckpointsRoute,
  readRoot,
} from "./checkpoint-routes.ts";
import { cronVisit } from "./cron.ts";
import type { Env } from "./env.ts";
import { admin, read, readObject, type WorkerApp } from "./middleware.ts";
import { handlePushBatch } from "./push.ts";
import {
  awaitRoute,
  describeRoute,
  inspection,
  listTablesRoute,
  metricsRoute,
  objectRoute,
  signManyRoute,
  signRoute,
} from "./read-routes.ts";

export { CheckpointObject } from "./checkpoint-object.ts";
export type { Env } from "./env.ts";
export { MirrorObject } from "./mirror-object.ts";
export { TableRegistry } from "./registry.ts";
export { mirrorObject } from "./tables.ts";

const app = new Hono<WorkerApp>();

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

// Read routes.
app.get("/api/tables", read, listTablesRoute); // { tables } the credential may read
app.get("/api/tables/:table", read, describeRoute); // its configuration: URLs and secret names, never a secret
app.post("/api/tables/:table/await", read, awaitRoute); // ?version=N[&timeoutMs=T]: 200 once mirrored, 408 at the timeout
app.get("/api/tables/:table/sign", read, signRoute); // ?key=K[&ttl=S]: a signed object URL
app.post("/api/tables/:table/sign", read, signManyRoute); // { keys: [K...] } (up to 1,000): one expiry for all
app.route("/api/tables/:table", inspection); // /status, /snapshots, /snapshots/:v, /verify/:v, /objects/*: read, route by route
app.on(["GET", "HEAD"], "/objects/:table/*", readObject, objectRoute); // a read credential or a signed URL
app.get("/metrics", read, metricsRoute); // Prometheus text, one `table` label per series
app.get("/api/checkpoints", read, listCheckpointsRoute); // { roots } the credential may read
app.get("/api/checkpoints/:root/status", readRoot, checkpointStatusRoute); // the checkpoint mirror loop's status
app.get("/api/checkpoints/:root/attempts", readRoot, checkpointAttemptsRoute); // ?side=target|source&check=listing|headers|full

// Admin routes.
app.put("/api/tables/:table", admin, configureRoute); // configure an admin table
app.delete("/api/tables/:table", admin, removeRoute); // remove it
app.post("/api/tables/:table/kick", admin, kickRoute); // a tick now
app.post("/api/tables/:table/commit", admin, commitRoute); // the demo writer (DEMO_WRITER=1)
app.post("/api/tables/:table/doctor", admin, doctorRoute); // probe the target (worker/doctor.ts)
app.post("/api/tables/:table/drill", admin, drillRoute); // a deep verification of the mirror now (worker/drill.ts)
app.post("/api/checkpoints/:root/kick", admin, checkpointKickRoute); // a tick now; restarts a stopped loop

// The inspector page and bundle are static assets (no data: the page reads
// through the API with its credential), served before the worker in
// production; these routes make the worker serve them too when called
// directly (tests, a worker-first setup).
app.get("/", (c) => c.env.ASSETS.fetch(c.req.raw));
app.get("/inspector.js", (c) => c.env.ASSETS.fetch(c.req.raw));
// The parts of the page it loads after its first paint (scripts/build-inspector.ts).
app.get("/chunks/:file{[A-Za-z0-9_-]+\\.js}", (c) => c.env.ASSETS.fetch(c.req.raw));

app.notFound((c) => errorResponse(c, new TidemarkError("NotFound", "no such route")));
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
