/**
 * The handlers of the Worker's admin routes (worker/index.ts lists them,
 * each behind `admin`): configure and remove a table, kick its loop, the
 * demo writer's commit, the doctor. Each throws `TidemarkError`s; the app's
 * error exit answers them.
 */
import { type DemoCommitOptions, demoCommit } from "../src/demo/writer.ts";
import { TidemarkError } from "../src/errors.ts";
import { openTable } from "./config.ts";
import { doctorMirror } from "./doctor.ts";
import { jsonBody, tableParam, tableSetupOf, type WorkerContext } from "./middleware.ts";
import { describeTable } from "./read-routes.ts";
import { staticTables } from "./static-tables.ts";
import { overlapError } from "./stores.ts";
import { parseTableConfig } from "./table-config.ts";
import { mirrorObject, resolveTable, tableRegistry } from "./tables.ts";

/** A static table's configuration is its var's: the admin routes leave it alone. */
function refuseStatic(c: WorkerContext, table: string, what: "change" | "remove"): void {
  if (Object.hasOwn(staticTables(c.env), table)) {
    throw new TidemarkError(
      "AlreadyExists",
      `table ${table} is configured in TABLE_CONFIG; ${what} it there`,
    );
  }
}

/** `PUT /api/tables/:table`: configures an admin table; answers as `GET` does. */
export async function configureRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  refuseStatic(c, table, "change");
  // Checked here first (a bad URL, an unbound bucket, a missing secret: 400,
  // nothing stored), then by the table's object, which keeps it.
  const config = parseTableConfig(await jsonBody(c, "table configuration"));
  const setup = openTable(c.env, table, config, "admin");
  // Another admin table's target overlapping this one: refused before the table's object is made
  // (the registry checks again, atomically, when the object records the table).
  const other = await tableRegistry(c.env).overlapping(table, setup.targetLocation);
  if (other !== null) throw overlapError("", table, other, setup.targetLocation);
  // The table's object keeps it and records the table in the registry.
  await mirrorObject(c.env, table).configure(table, config);
  return c.json(describeTable(await resolveTable(c.env, table)));
}

/** `DELETE /api/tables/:table`: `{ table, removed }`. */
export async function removeRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  refuseStatic(c, table, "remove");
  // Only a recorded admin table has a configuration to remove: no object is made for another name.
  const removed = (await tableRegistry(c.env).has(table))
    ? await mirrorObject(c.env, table).unconfigure(table)
    : false;
  return c.json({ table, removed });
}

/** `POST /api/tables/:table/kick`: a tick now; the status. */
export async function kickRoute(c: WorkerContext): Promise<Response> {
  const { table } = await tableSetupOf(c); // NotFound before the table's object is touched
  return c.json(await mirrorObject(c.env, table).kick(table));
}

/** `POST /api/tables/:table/drill`: a drill (a deep verification of the mirror, worker/drill.ts) at the next caught-up tick; the status. */
export async function drillRoute(c: WorkerContext): Promise<Response> {
  const { table } = await tableSetupOf(c); // NotFound before the table's object is touched
  return c.json(await mirrorObject(c.env, table).drill(table));
}

/** The keys a demo commit's body may have (demoCommit checks their values). */
const DEMO_COMMIT_OPTIONS = ["files", "rows", "compactAt", "schema"];

/**
 * The demo writer's options from a request body: empty means the defaults;
 * anything but a JSON object of the known options is refused, so a malformed
 * request commits nothing rather than a default snapshot (or a 500). The
 * values are checked by `demoCommit`.
 */
async function demoOptions(c: WorkerContext): Promise<DemoCommitOptions> {
  const body = await jsonBody(c, "commit").catch(() => {
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

/** `POST /api/tables/:table/commit`: the demo writer's next snapshot, `{ table, version }`. */
export async function commitRoute(c: WorkerContext): Promise<Response> {
  const table = tableParam(c);
  // Synthetic snapshots must never land in a real table by accident: the
  // route exists only where the demo writer is switched on (npm start, tests).
  if (c.env.DEMO_WRITER !== "1") {
    throw new TidemarkError(
      "NotSupported",
      "the demo writer is off (set DEMO_WRITER=1 to enable the commit route)",
    );
  }
  const opts = await demoOptions(c);
  // The kick below needs the table's configuration: a bad one is refused before anything is written.
  // The demo writer may write a SOURCE_TABLES table's first snapshot: the name becomes a table.
  const { source } = await resolveTable(c.env, table, { creating: true });
  const version = await demoCommit(source, opts);
  await mirrorObject(c.env, table).kick(table);
  // The version is the writer's read-your-writes token: POST .../await?version=N.
  return c.json({ table, version });
}

/** `POST /api/tables/:table/doctor`: the report, 200 when no check failed, else 502. */
export async function doctorRoute(c: WorkerContext): Promise<Response> {
  const report = await doctorMirror(c.env, tableParam(c), new URL(c.req.url).searchParams);
  return c.json(report, report.ok ? 200 : 502);
}
