/**
 * `TableRegistry`: the names of the tables configured through the admin
 * routes (one instance, `idFromName("tables")`), so `/api/tables`,
 * `/metrics` and the cron know them. Each table's configuration itself lives
 * in its own `MirrorObject`, beside the progress bound to it.
 */
import { DurableObject } from "cloudflare:workers";
import { validateTable } from "./config.ts";
import type { Env } from "./env.ts";

const PREFIX = "table:";

/** The registry of admin-configured table names. RPC: `add`, `remove`, `list`. */
export class TableRegistry extends DurableObject<Env> {
  /** Records `table` (idempotent). */
  async add(table: string): Promise<void> {
    await this.ctx.storage.put(`${PREFIX}${validateTable(table)}`, 1);
  }

  /** Forgets `table` (idempotent). */
  async remove(table: string): Promise<void> {
    await this.ctx.storage.delete(`${PREFIX}${validateTable(table)}`);
  }

  /** Every recorded table, sorted. */
  async list(): Promise<string[]> {
    const m = await this.ctx.storage.list({ prefix: PREFIX });
    return [...m.keys()].map((k) => k.slice(PREFIX.length)).sort();
  }
}
