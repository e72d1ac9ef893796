/**
 * What every route of the Worker's app runs before its handler: who may
 * call it (`admin`, `read`, `readObject`, as hono's `bearerAuth`), and what
 * it reads from the request (its table, validated and resolved once; a JSON
 * body). A refusal is thrown as a `TidemarkError` (`Unauthenticated` 401,
 * `PermissionDenied` 403) and answered by the app's one error exit
 * (`errorResponse`), like every other error.
 *
 * Each read route names `read` (or `readObject`) itself, the inspection
 * routes through `inspectApp`'s `auth` option: no route is guarded by the
 * order in which routes were added.
 */
import type { Context, MiddlewareHandler } from "hono";
import { TidemarkError } from "../src/errors.ts";
import { decodeObjectKey } from "../src/server/inspect-app.ts";
import { checkCovers, isAuthorized, type ReadGrant, readGrant } from "./auth.ts";
import type { Env } from "./env.ts";
import { checkSignedUrl, isSigned } from "./signed-url.ts";
import { resolveTable, type TableSetup, validateTable } from "./tables.ts";

/** The Worker's hono app: its bindings, and what the middlewares leave for the handler. */
export type WorkerApp = {
  Bindings: Env;
  Variables: {
    /** What the request's read credential grants (set by `read`, `readObject`). */
    grant: ReadGrant;
    /** The request's table, resolved once ({@link tableSetupOf}). */
    setup: Promise<TableSetup>;
  };
};

/** A handler of the Worker's app. */
export type WorkerContext = Context<WorkerApp>;

/** Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export const admin: MiddlewareHandler<WorkerApp> = async (c, next) => {
  if (!(await isAuthorized(c.req.header("Authorization"), c.env.ADMIN_TOKEN))) {
    throw new TidemarkError("Unauthenticated", "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
  }
  await next();
};

/**
 * Read routes: a read credential (worker/auth.ts `readGrant`: a read token,
 * an Access JWT, or `PUBLIC_READ=1`); for a `:table` route, one that covers
 * the table. Leaves the grant in `c.var.grant`.
 */
export const read: MiddlewareHandler<WorkerApp> = async (c, next) => {
  const grant = await readGrant(c.req.raw, c.env);
  const table = c.req.param("table");
  if (table !== undefined) checkCovers(grant, validateTable(table));
  c.set("grant", grant);
  await next();
};

/**
 * The object route (`/objects/:table/*`): a signed URL of the object
 * (worker/signed-url.ts), or else what {@link read} takes. A request that
 * carries a signature is judged by it alone: a read token beside a bad
 * signature does not rescue it.
 */
export const readObject: MiddlewareHandler<WorkerApp> = async (c, next) => {
  const params = new URL(c.req.url).searchParams;
  if (!isSigned(params)) return read(c, next);
  const table = tableParam(c);
  const why = await checkSignedUrl(c.env, table, objectKey(c), params);
  if (why !== undefined) throw new TidemarkError("PermissionDenied", why);
  c.set("grant", { via: "signed", tables: new Set([table]) });
  await next();
};

/** The route's `:table`, validated (`InvalidArgument` for a bad name). */
export function tableParam(c: Context): string {
  return validateTable(c.req.param("table") ?? "");
}

/**
 * The setup of the request's table, resolved once per request (`resolveTable`:
 * a name nobody configured is a `NotFound` before any per-table object is
 * touched): a route that reaches the table's `MirrorObject` resolves it
 * first. The inspection routes ask for it twice (the store, the mirror).
 */
export function tableSetupOf(c: Context): Promise<TableSetup> {
  const wc = c as WorkerContext;
  let setup = wc.get("setup");
  if (setup === undefined) {
    setup = resolveTable(wc.env, tableParam(c));
    wc.set("setup", setup);
  }
  return setup;
}

/**
 * The object key of an object route's request: what follows the raw (maybe
 * percent-encoded) table segment, each segment decoded once. Slicing by the
 * decoded name's length would cut the key wrongly.
 */
export function objectKey(c: Context): string {
  const path = new URL(c.req.url).pathname;
  const afterTable = path.indexOf("/", "/objects/".length);
  return decodeObjectKey(afterTable < 0 ? "" : path.slice(afterTable + 1));
}

/**
 * A JSON request body: empty is `undefined`; anything else must parse.
 *
 * @throws TidemarkError `InvalidArgument` naming `what` when it does not.
 */
export async function jsonBody(c: Context, what: string): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TidemarkError("InvalidArgument", `the ${what} body must be JSON`);
  }
}
