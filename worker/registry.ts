/**
 * `TableRegistry`: the names of the tables configured through the admin
 * routes (one instance, `idFromName("tables")`), so `/api/tables`,
 * `/metrics` and the cron know them, with each one's source location, so the
 * queue consumer finds the tables an event notification is about in one call.
 * Each table's configuration itself lives in its own `MirrorObject`, beside
 * the progress bound to it. It also keeps the cron's round: which tables the
 * cron has visited once (a new table is visited at its first cron run, then
 * once an hour).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env.ts";
import { overlapError, overlaps } from "./stores.ts";
import { validateTable } from "./table-config.ts";

const PREFIX = "table:";
/** `target:{table}`: where the table's target keys live (`targetLocation`), so no two overlap. */
const TARGET = "target:";
/** `loc:{location}\0{table}`: the tables whose source is at a location. */
const LOC = "loc:";
const SEP = "\u0000";
const K_SEEN = "cron:seen";

/** Minutes in the cron's round: each table is visited once per round. */
export const CRON_ROUND_MINUTES = 60;

/** The minute of the round (0-59) at which the cron visits `table`: a hash of its name (FNV-1a). */
export function cronMinute(table: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < table.length; i++) {
    h ^= table.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % CRON_ROUND_MINUTES;
}

/** The registry of admin-configured table names. RPC: `add`, `remove`, `has`, `overlapping`, `list`, `lookup`, `cronPlan`. */
export class TableRegistry extends DurableObject<Env> {
  /**
   * Records `table`, where its source lives (idempotent; a location of
   * `undefined` is an http source, which sends no notifications) and where
   * its target's keys live. One object serialises every admin table, so the
   * overlap check and the record are atomic.
   *
   * @throws TidemarkError `InvalidArgument` when `target` overlaps another
   *   recorded table's target (nothing is recorded).
   */
  async add(table: string, location?: string, target?: string): Promise<void> {
    validateTable(table);
    if (target !== undefined) {
      const other = await this.overlapping(table, target);
      if (other !== null) throw overlapError("", table, other, target);
      await this.ctx.storage.put(`${TARGET}${table}`, target);
    }
    const old = await this.ctx.storage.get<string | number>(`${PREFIX}${table}`);
    if (old === (location ?? "")) return;
    if (typeof old === "string" && old !== "") await this.ctx.storage.delete(`${LOC}${old}${SEP}${table}`);
    await this.ctx.storage.put(`${PREFIX}${table}`, location ?? "");
    if (location !== undefined) await this.ctx.storage.put(`${LOC}${location}${SEP}${table}`, 1);
  }

  /** Forgets `table` (idempotent). */
  async remove(table: string): Promise<void> {
    validateTable(table);
    const old = await this.ctx.storage.get<string | number>(`${PREFIX}${table}`);
    if (typeof old === "string" && old !== "") await this.ctx.storage.delete(`${LOC}${old}${SEP}${table}`);
    await this.ctx.storage.delete([`${PREFIX}${table}`, `${TARGET}${table}`]);
  }

  /** The recorded table other than `table` (`null`: any, for a checkpoint root) whose target overlaps `target` (`targetLocation`s), or `null`. */
  async overlapping(table: string | null, target: string): Promise<string | null> {
    if (table !== null) validateTable(table);
    for (const [key, theirs] of await this.ctx.storage.list<string>({ prefix: TARGET })) {
      const other = key.slice(TARGET.length);
      if (other !== table && overlaps(target, theirs)) return other;
    }
    return null;
  }

  /** Whether `table` is recorded (an admin table): how a request finds out before it touches the table's object. */
  async has(table: string): Promise<boolean> {
    validateTable(table);
    return (await this.ctx.storage.get(`${PREFIX}${table}`)) !== undefined;
  }

  /** Every recorded table, sorted. */
  async list(): Promise<string[]> {
    const m = await this.ctx.storage.list({ prefix: PREFIX });
    return [...m.keys()].map((k) => k.slice(PREFIX.length)).sort();
  }

  /** The recorded tables whose source is at one of `locations`, each location with its tables. */
  async lookup(locations: string[]): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const location of new Set(locations)) {
      const prefix = `${LOC}${location}${SEP}`;
      const m = await this.ctx.storage.list({ prefix });
      if (m.size > 0) out[location] = [...m.keys()].map((k) => k.slice(prefix.length));
    }
    return out;
  }

  /**
   * The tables the cron visits at `minute` of its round: those due then
   * ({@link cronMinute}) and those it has never visited, at most `maxNew` of
   * these (a deployment of many new tables is spread over a few minutes, so
   * one cron invocation stays within its subrequests). Remembers the new ones
   * returned, and forgets tables no longer in `tables`.
   */
  async cronPlan(tables: string[], minute: number, maxNew: number): Promise<string[]> {
    const seen = new Set((await this.ctx.storage.get<string[]>(K_SEEN)) ?? []);
    const current = new Set(tables);
    const fresh = tables.filter((t) => !seen.has(t)).slice(0, maxNew);
    const due = tables.filter((t) => seen.has(t) && cronMinute(t) === minute);
    const kept = [...seen].filter((t) => current.has(t));
    if (fresh.length > 0 || kept.length !== seen.size)
      await this.ctx.storage.put(K_SEEN, [...kept, ...fresh]);
    return [...due, ...fresh];
  }
}
