import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { routePath } from "hono/route";
import { manifestAnomaly } from "../catalog/chain.ts";
import { tableReader } from "../catalog/table.ts";
import { TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { snapshotTotals } from "../manifest/live.ts";
import { verifyMirror } from "../mirror/reader.ts";
import type { ObjectStore } from "../store/types.ts";
import { errorResponse } from "./error-response.ts";
import { toJsonSafe } from "./json.ts";
import { serveObject } from "./objects.ts";

/** Something that reports a mirror loop's live status (a `Mirror`, or a Durable Object stub). */
export interface MirrorStatusSource {
  status(): unknown;
}

/** A value, or a function of the request context giving it (for stores chosen per request). */
export type PerRequest<T> = T | ((c: Context) => T | Promise<T>);

/** Options of {@link inspectApp}. */
export interface InspectAppOptions {
  /** The table's store (a primary or a mirror; keys relative to the table root). */
  store: PerRequest<ObjectStore>;
  /** A mirror loop whose `status()` `/status` includes. */
  mirror?: PerRequest<MirrorStatusSource | undefined>;
  /** `Access-Control-Allow-Origin` (default `*`; `false`: no CORS headers). */
  corsOrigin?: string | false;
  /** Most snapshots `/snapshots` returns (default 100; `?limit=` asks for fewer). */
  maxSnapshots?: number;
  /**
   * Run before each route (as hono's `bearerAuth`): attached to every route
   * of this app, so an app mounted under another is guarded route by route,
   * whatever the order of the other app's routes. It refuses by throwing (a
   * `TidemarkError`: `Unauthenticated`, `PermissionDenied`).
   */
  // biome-ignore lint/suspicious/noExplicitAny: the mounting app's own middleware, whatever its bindings
  auth?: MiddlewareHandler<any>;
}

/** One snapshot in the `/snapshots` listing. */
export interface SnapshotSummary {
  version: number;
  snapshotId: number | string;
  previousSnapshotId: number | string | null;
  lastUpdatedMs: number | string;
  liveFiles: number;
  bytes: number;
  rows: number;
  /** Set when the manifest is not what its key promises (a merutable mirror's race). */
  anomaly?: string;
}

/**
 * Headers a browser reading objects cross-origin must be allowed to see
 * (`Content-Encoding`: so `HttpStore` can tell a compressed length, which a
 * CDN may add, from the object's size).
 */
export const EXPOSED_HEADERS = [
  "ETag",
  "Content-Range",
  "Content-Length",
  "Content-Encoding",
  "Accept-Ranges",
  "Last-Modified",
];

/** Summary numbers of a snapshot. */
function summarize(version: number, m: Manifest): SnapshotSummary {
  const { files, bytes, rows } = snapshotTotals(m);
  const j = (x: bigint) => toJsonSafe(x) as number | string;
  return {
    version,
    snapshotId: j(m.snapshotId),
    previousSnapshotId: m.previousSnapshotId === undefined ? null : j(m.previousSnapshotId),
    lastUpdatedMs: j(m.lastUpdatedMs),
    liveFiles: files,
    bytes,
    rows,
  };
}

/** Parses a version path parameter: a positive integer, else `InvalidArgument`. */
function parseVersion(s: string | undefined): number {
  const v = Number(s);
  if (!s || !/^\d+$/.test(s) || !Number.isSafeInteger(v) || v < 1) {
    throw new TidemarkError("InvalidArgument", "a snapshot version is a positive integer");
  }
  return v;
}

/**
 * The read-only inspection API of one table, as a hono app (web-standard: it
 * runs on Workers, Deno, Bun, and Node through an adapter). Routes, relative
 * to where it is mounted:
 *
 * Every route reads the table through one table reader (`openTable`), so a
 * store holding merutable's primary (the posix layout) is served like a mirror.
 *
 * - `GET /status`: the table's layout, HEAD version and oldest version retained (`oldestRetained`,
 *   0 when the table publishes no retention boundary), plus the mirror's status if given;
 * - `GET /snapshots?limit=N`: the snapshot chain from HEAD backwards, down to the retention
 *   boundary (summaries, with any anomaly);
 * - `GET /snapshots/:v`: manifest `v` as JSON (int64 as numbers when safe, else strings; bytes as hex);
 *   a version below the retention boundary is 404 naming the oldest version retained;
 * - `GET /verify/:v`: `verifyMirror` of snapshot `v` (every referenced file present, right size);
 * - `GET|HEAD /objects/*`: the raw objects (ETag, Range → 206, If-None-Match → 304), for `HttpStore`;
 *   the key is the path below this route's own `/objects/` (each segment
 *   percent-decoded once), wherever the app is mounted, even under a path
 *   or a parameter value that contains `/objects/` itself.
 *
 * CORS is on (`*`) by default. Errors are JSON with the status `httpStatusOf`
 * assigns to their code (`errorResponse`); unknown routes are 404 JSON.
 */
export function inspectApp(opts: InspectAppOptions): Hono {
  const app = new Hono();
  const resolve = async <T>(v: PerRequest<T>, c: Context): Promise<T> =>
    typeof v === "function" ? await (v as (c: Context) => T | Promise<T>)(c) : v;
  const storeOf = (c: Context) => resolve(opts.store, c);
  const max = opts.maxSnapshots ?? 100;

  if (opts.corsOrigin !== false) {
    app.use(
      "*",
      cors({
        origin: opts.corsOrigin ?? "*",
        allowMethods: ["GET", "HEAD", "OPTIONS"],
        allowHeaders: ["Range", "If-None-Match", "If-Match"],
        exposeHeaders: EXPOSED_HEADERS,
        maxAge: 600,
      }),
    );
  }

  // No auth: a middleware that lets every request through.
  const auth: MiddlewareHandler = opts.auth ?? ((_c, next) => next());

  app.get("/status", auth, async (c) => {
    const store = await storeOf(c);
    const table = tableReader(store);
    const d = await table.discover();
    const oldestRetained = await table.retentionBoundary();
    const mirror = opts.mirror === undefined ? undefined : await resolve(opts.mirror, c);
    const status = mirror ? await mirror.status() : undefined;
    return c.json(
      toJsonSafe({
        store: store.name,
        head: d.version,
        layout: d.layout,
        oldestRetained,
        mirror: status,
      }) as object,
    );
  });

  app.get("/snapshots", auth, async (c) => {
    const limitParam = c.req.query("limit");
    const limit = limitParam === undefined ? max : Math.min(max, parseVersion(limitParam));
    const table = tableReader(await storeOf(c));
    const out: SnapshotSummary[] = [];
    for await (const { version, manifest, anomaly } of table.snapshots()) {
      const s = summarize(version, manifest);
      if (anomaly !== undefined) s.anomaly = anomaly;
      out.push(s);
      if (out.length >= limit) break;
    }
    return c.json({ head: out[0]?.version ?? 0, snapshots: out });
  });

  app.get("/snapshots/:v", auth, async (c) => {
    const v = parseVersion(c.req.param("v"));
    const table = tableReader(await storeOf(c));
    const f = await table.readRetained(v);
    const summary = summarize(v, f.manifest);
    const anomaly = manifestAnomaly(f, table.manifestKey(v));
    if (anomaly !== undefined) summary.anomaly = anomaly;
    return c.json({ version: v, summary, manifest: toJsonSafe(f.manifest) as object });
  });

  app.get("/verify/:v", auth, async (c) => {
    const v = parseVersion(c.req.param("v"));
    return c.json(toJsonSafe(await verifyMirror(await storeOf(c), v)) as object);
  });

  app.on(["GET", "HEAD"], "/objects/*", auth, async (c) => {
    const store = await storeOf(c);
    return serveObject(store, decodeObjectKey(wildcardTail(c)), c.req.raw);
  });

  app.notFound((c) => errorResponse(c, new TidemarkError("NotFound", "no such route")));
  app.onError((e, c) => errorResponse(c, e));
  return app;
}

/**
 * The raw (still percent-encoded) part of the request path that the trailing
 * `*` of the matched route stands for. Counted in segments of the route's own
 * full pattern (mount path included: `/t/objects/x/objects/*`,
 * `/:table/objects/*`), because each static or `:param` segment of a pattern
 * matches exactly one path segment; searching the URL for `/objects/` would
 * stop at a mount path or a parameter value containing it. The raw path is
 * used (not hono's decoded one) so that {@link decodeObjectKey} decodes each
 * segment exactly once. A mount pattern whose parameter regex spans `/` is
 * not supported.
 */
function wildcardTail(c: Context): string {
  const fixed = routePath(c).replace(/\/\*$/, "").split("/").length;
  return new URL(c.req.url).pathname.split("/").slice(fixed).join("/");
}

/**
 * The object key of a URL path tail: each segment percent-decoded (the
 * inverse of `HttpStore`'s per-segment encoding). `InvalidArgument` when
 * malformed.
 */
export function decodeObjectKey(tail: string): string {
  try {
    return tail.split("/").map(decodeURIComponent).join("/");
  } catch {
    throw new TidemarkError("InvalidArgument", "malformed percent-encoding in the object path");
  }
}
