/**
 * The cron (`[triggers] crons` in wrangler.toml, every minute): makes sure
 * every table's loop runs, without ticking one that does. Each table's own
 * alarm polls it (every `POLL_INTERVAL_MS`, or `PUSH_POLL_INTERVAL_MS` when
 * its wake-ups are pushed); the cron only starts a loop nobody started yet (a
 * table of `TABLE_CONFIG` after a deployment, one written under the
 * `SOURCE_TABLES` layout by an outside writer) or one whose alarm the runtime
 * gave up on. A table is visited at the first cron run that lists it, then
 * once an hour at a minute of its own (a hash of its name): a visit is one
 * Durable Object request and no store request, and one cron invocation makes
 * about 1/60 of the tables' calls, so 10,000 tables stay well within its
 * subrequests. https://developers.cloudflare.com/workers/platform/limits/#subrequests
 */
import { ensureCheckpointLoops } from "./checkpoint-routes.ts";
import type { Env } from "./env.ts";
import { CRON_ROUND_MINUTES } from "./registry.ts";
import { listTables, mirrorObject, tableRegistry } from "./tables.ts";

/** New tables one cron run visits at most (the rest at the next runs). */
export const CRON_MAX_NEW = 500;

/** One cron run at `scheduledTime` (epoch ms): the tables it visited. */
export async function cronVisit(env: Env, scheduledTime: number): Promise<string[]> {
  const tables = await listTables(env);
  const minute = Math.floor(scheduledTime / 60_000) % CRON_ROUND_MINUTES;
  const plan = await tableRegistry(env).cronPlan(tables, minute, CRON_MAX_NEW);
  const results = await Promise.allSettled(plan.map((t) => mirrorObject(env, t).ensure(t)));
  await ensureCheckpointLoops(env);
  results.forEach((r, i) => {
    if (r.status === "rejected") {
      console.warn(
        `tidemark: cron: table ${plan[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
      );
    }
  });
  return plan;
}
