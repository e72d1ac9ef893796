/**
 * `MirrorObject`: the single-writer mirror loop of one table, as a Durable
 * Object (`idFromName(table)`). An alarm runs one `Mirror.tick()` within a
 * per-alarm budget of store requests and bytes, persists the mirror's
 * progress in Durable Object storage, and reschedules itself: at once while
 * work remains, after the poll interval when caught up, with backoff after
 * failures. After an eviction or a crash the next alarm resumes from the
 * persisted progress, so finished files are not uploaded again. A bad var
 * or table configuration fails the tick with `InvalidArgument`: logged, shown
 * as the status's `lastError`, retried with the same backoff.
 *
 * The object also keeps the table's admin configuration (`configure`,
 * `unconfigure`: `PUT`/`DELETE /api/tables/:table`) beside the progress.
 * Progress is bound to the identities of the source and target it was made
 * with (`MirrorProgress.binding`): after a change of either, the object
 * neither reports nor resumes the old progress.
 *
 * Two instances can briefly overlap (network partition, deploy); correctness
 * never rests on the single-instance guarantee: the mirror writes files and
 * manifests create-only and low_water only forwards.
 * https://developers.cloudflare.com/durable-objects/platform/known-issues/
 */
import { DurableObject } from "cloudflare:workers";
import {
  type Body,
  boundTo,
  checkNumber,
  freshMirrorProgress,
  MAX_TIMER_MS,
  Mirror,
  type MirrorProgress,
  type MirrorProgressStore,
  type ObjectStore,
  type PutOptions,
  TidemarkError,
  toTidemarkError,
  wrapperOf,
} from "../src/index.ts";
import {
  bindingOf,
  type ConfigOrigin,
  parseTableConfig,
  type TableConfig,
  type TableSetup,
  tableSetup,
  validateTable,
} from "./config.ts";
import type { Env } from "./env.ts";
import { type LagSample, recordLag } from "./lag-history.ts";
import type { MirrorVars } from "./vars.ts";

const K_TABLE = "table";
const K_CONFIG = "config";
const K_PROGRESS = "progress";
const K_FAILURES = "consecutiveFailures";
const K_TEST_PUTS = "test:puts";
const K_LAG = "lagHistory";

/** Backoff after `n` consecutive failed alarms: 1 s, 2 s, 4 s, ... capped at 5 minutes. */
export function failureBackoffMs(n: number): number {
  return Math.min(300_000, 1_000 * 2 ** Math.max(0, n - 1));
}

/** What `status()` returns over RPC (plain data: structured-clonable). */
export interface MirrorObjectStatus {
  table: string | null;
  /** Where the table's configuration comes from; `null` when it has none or a bad one (`lastError` says why). */
  origin: ConfigOrigin | null;
  /** The names of the source and target stores (never a credential). */
  source: string | null;
  target: string | null;
  mirrorSeq: number;
  sourceHead: number | null;
  caughtUp: boolean;
  lagSeconds: number | null;
  inProgress: { version: number; uploaded: number } | null;
  counters: MirrorProgress["counters"];
  lastError: { message: string; atMs: number } | null;
  gaps: Array<{ from: number; to: number }>;
  nextAlarmMs: number | null;
  consecutiveFailures: number;
  /** The per-alarm budget from the vars; `null` when the configuration is bad (`lastError` says why). */
  budget: MirrorVars["budget"] | null;
  /** The last hour of lag, oldest first: the worst lag measured by the ticks of each 30 s (lag-history.ts). */
  lagHistory: LagSample[];
}

interface Waiter {
  version: number;
  resolve: (v: number) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Test-only: counts puts per key on `store` (`TIDEMARK_TEST_HOOKS=1`), so the
 * tests can prove no file is uploaded twice across evictions.
 */
function recordingPuts(store: ObjectStore, counts: Record<string, number>): ObjectStore {
  return {
    ...wrapperOf(store), // the same identity: progress stays bound to the real target
    get: (k, o) => store.get(k, o),
    head: (k) => store.head(k),
    put: (k: string, b: Body, o?: PutOptions) => {
      counts[k] = (counts[k] ?? 0) + 1;
      return store.put(k, b, o);
    },
    delete: (k) => store.delete(k),
    deleteMany: (ks) => store.deleteMany(ks),
    list: (p, o) => store.list(p, o),
  };
}

/** The Durable Object holding one table's mirror loop. RPC: `status`, `kick`, `awaitMirror`. */
export class MirrorObject extends DurableObject<Env> {
  #table: string | undefined;
  /** The admin configuration (`configure`), if any. */
  #config: TableConfig | undefined;
  #progress: MirrorProgress = freshMirrorProgress();
  #failures = 0;
  #mirror: Mirror | undefined;
  #testPuts: Record<string, number> | undefined;
  readonly #waiters = new Set<Waiter>();
  #ticking: Promise<void> | undefined;
  #tickFailed = false;
  /** A kick or awaitMirror came in while a tick was in flight (it may have read HEAD too early). */
  #wokenDuringTick = false;
  /** Why the last tick could not start (a bad var, a half-configured S3 target), for `status().lastError`. */
  #setupError: { message: string; atMs: number } | undefined;
  #lagHistory: LagSample[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Load state before any event is delivered (RPC or alarm).
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<string>(K_TABLE);
      const name = ctx.id.name;
      this.#table = stored ?? name;
      if (stored === undefined && name !== undefined) await ctx.storage.put(K_TABLE, name);
      this.#progress = (await ctx.storage.get<MirrorProgress>(K_PROGRESS)) ?? freshMirrorProgress();
      this.#config = await ctx.storage.get<TableConfig>(K_CONFIG);
      this.#failures = (await ctx.storage.get<number>(K_FAILURES)) ?? 0;
      this.#lagHistory = (await ctx.storage.get<LagSample[]>(K_LAG)) ?? [];
      if (env.TIDEMARK_TEST_HOOKS === "1") {
        this.#testPuts = (await ctx.storage.get<Record<string, number>>(K_TEST_PUTS)) ?? {};
      }
    });
  }

  /**
   * Binds this object to its table. `idFromName(table)` ids carry the name
   * (`ctx.id.name`), but an id made otherwise does not, and an alarm may wake
   * the object with no caller: so the name is also stored.
   */
  async #ensureTable(table?: string): Promise<string> {
    if (table !== undefined) validateTable(table);
    if (this.#table === undefined && table !== undefined) {
      this.#table = table;
      await this.ctx.storage.put(K_TABLE, table);
    }
    if (this.#table === undefined) {
      throw new TidemarkError(
        "InvalidArgument",
        "this mirror object has no table (create it with idFromName)",
      );
    }
    if (table !== undefined && table !== this.#table) {
      throw new TidemarkError(
        "InvalidArgument",
        `this mirror object serves table ${this.#table}, not ${table}`,
      );
    }
    return this.#table;
  }

  /** The table's setup from its configuration (static, admin, or the SOURCE_TABLES layout). No I/O. */
  #setup(table: string): TableSetup {
    return tableSetup(this.env, table, this.#config);
  }

  /**
   * The saved progress if it was made with `setup`'s stores, else a fresh
   * one bound to them (the running totals kept): what status and
   * awaitMirror report, so a changed target never inherits the old one's
   * mirrorSeq.
   */
  #progressFor(setup: TableSetup): MirrorProgress {
    const binding = bindingOf(setup);
    if (boundTo(this.#progress, binding)) return this.#progress;
    const fresh = freshMirrorProgress(binding);
    fresh.counters = structuredClone(this.#progress.counters);
    return fresh;
  }

  #getMirror(table: string): Mirror {
    // Rebuilt after configure/unconfigure (which drop it); the vars cannot change within an instance.
    if (this.#mirror) return this.#mirror;
    const { vars, source, target: store } = this.#setup(table);
    const target = this.#testPuts ? recordingPuts(store, this.#testPuts) : store;
    const progress: MirrorProgressStore = {
      load: async () => this.#progress,
      save: async (p) => {
        this.#progress = p;
        await this.ctx.storage.put(K_PROGRESS, p);
      },
    };
    this.#mirror = new Mirror({
      source,
      target,
      pollIntervalMs: vars.pollIntervalMs,
      parallelism: vars.parallelism,
      lagAlertSecs: vars.lagAlertSecs,
      onLagAlert: (a) =>
        console.warn(
          `tidemark: table ${table} mirror v${a.mirrorSeq} lags source v${a.sourceHead} by ${Math.round(a.lagSeconds)} s`,
        ),
      onError: (e) => {
        this.#tickFailed = true;
        console.warn(`tidemark: table ${table} mirror tick failed: ${e.message}`);
      },
      progress,
      budget: vars.budget,
    });
    return this.#mirror;
  }

  /** The alarm: one budgeted tick, then the next alarm. Never throws (we schedule our own retries). */
  override async alarm(): Promise<void> {
    if (this.#table === undefined) return; // never bound to a table: nothing to mirror
    await this.#tick(this.#table);
  }

  /** Runs one tick (one at a time per instance) and schedules the next alarm. */
  #tick(table: string): Promise<void> {
    if (this.#ticking) return this.#ticking;
    this.#ticking = (async () => {
      let mirror: Mirror;
      try {
        mirror = this.#getMirror(table);
      } catch (e) {
        await this.#setupFailed(table, e);
        return;
      }
      this.#setupError = undefined;
      this.#tickFailed = false;
      this.#wokenDuringTick = false;
      // Mirror.tick never throws: a failure is recorded in its progress
      // (lastError, counters.failures), reported through onError, and turns
      // nextDelayMs into a jittered backoff.
      await mirror.tick();
      const st = mirror.status();
      this.#failures = this.#tickFailed ? this.#failures + 1 : 0;
      // nextDelayMs: 0 while work remains (the budget ran out), the poll
      // interval when caught up, a backoff after a failure.
      // A wake during the tick set an alarm for now; the setAlarm below would
      // replace it with the poll interval, and the snapshot that caused the
      // kick (committed after this tick read HEAD) would wait a whole poll.
      // A configuration changed during the tick (configure dropped the
      // mirror) wants a tick on the new stores at once.
      const current = this.#mirror === mirror;
      const delay = !current
        ? 0
        : this.#tickFailed
          ? Math.max(st.nextDelayMs, failureBackoffMs(this.#failures))
          : this.#wokenDuringTick
            ? 0
            : st.nextDelayMs;
      this.#lagHistory = recordLag(this.#lagHistory, Date.now(), st.lagSeconds);
      const writes: Promise<unknown>[] = [
        this.ctx.storage.put(K_FAILURES, this.#failures),
        this.ctx.storage.put(K_LAG, this.#lagHistory),
        this.ctx.storage.setAlarm(Date.now() + delay),
      ];
      if (this.#testPuts) writes.push(this.ctx.storage.put(K_TEST_PUTS, this.#testPuts));
      await Promise.all(writes);
      // The old stores' mirrorSeq says nothing about the new target.
      if (current) this.#settleWaiters(st.mirrorSeq);
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  #rejectWaiters(err: TidemarkError): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      this.#waiters.delete(w);
      w.reject(err);
    }
  }

  /**
   * A tick that could not start. A bad var or configuration: no tick can
   * run until it is fixed (a deployment restarts the object, `configure`
   * replaces the configuration); logged, kept for `status().lastError`, and
   * retried with the failure backoff; not thrown, or the runtime would retry
   * the alarm a few times and then drop it. No configuration at all (the
   * table was removed): nothing to retry, the loop stops.
   */
  async #setupFailed(table: string, e: unknown): Promise<void> {
    const err = toTidemarkError(e);
    this.#rejectWaiters(err);
    if (err.code === "NotFound") {
      this.#setupError = undefined;
      await this.ctx.storage.deleteAlarm();
      return;
    }
    this.#setupError = { message: err.message, atMs: Date.now() };
    console.error(`tidemark: table ${table}: cannot mirror: ${err.message}`);
    this.#failures++;
    await Promise.all([
      this.ctx.storage.put(K_FAILURES, this.#failures),
      this.ctx.storage.setAlarm(Date.now() + failureBackoffMs(this.#failures)),
    ]);
  }

  #settleWaiters(mirrorSeq: number): void {
    for (const w of this.#waiters) {
      if (w.version <= mirrorSeq) {
        clearTimeout(w.timer);
        this.#waiters.delete(w);
        w.resolve(mirrorSeq);
      }
    }
  }

  /** Makes the next alarm fire now (unless one is due sooner). */
  async #wake(): Promise<void> {
    if (this.#ticking) this.#wokenDuringTick = true;
    const at = await this.ctx.storage.getAlarm();
    const now = Date.now();
    if (at === null || at > now) await this.ctx.storage.setAlarm(now);
  }

  /** The mirror's status (RPC). Binds the object to `table` on first use. */
  async status(table?: string): Promise<MirrorObjectStatus> {
    const t = await this.#ensureTable(table);
    // A bad var or configuration is reported, not thrown: status is how an operator finds it.
    let setup: TableSetup | undefined;
    let setupError: { message: string; atMs: number } | undefined;
    try {
      setup = this.#setup(t);
    } catch (e) {
      setupError = this.#setupError ?? { message: toTidemarkError(e).message, atMs: Date.now() };
    }
    const p = setup ? this.#progressFor(setup) : this.#progress;
    // No tick yet in this instance: report the persisted progress (if it is about these stores).
    const st = this.#mirror?.status();
    // An object with no alarm (never kicked) starts its loop; during a tick
    // the tick itself sets the next alarm, and a status read is no kick.
    if (setup && !this.#ticking && (await this.ctx.storage.getAlarm()) === null) await this.#wake();
    return {
      table: t,
      origin: setup?.origin ?? null,
      source: setup?.source.name ?? null,
      target: setup?.target.name ?? null,
      mirrorSeq: st?.mirrorSeq ?? p.mirrorSeq,
      sourceHead: st?.sourceHead ?? null,
      caughtUp: st?.caughtUp ?? false,
      lagSeconds: st?.lagSeconds ?? null,
      inProgress: p.inProgress
        ? { version: p.inProgress.version, uploaded: p.inProgress.uploaded.length }
        : null,
      counters: structuredClone(p.counters),
      lastError: setupError ?? p.lastError ?? null,
      gaps: [...p.gaps],
      nextAlarmMs: await this.ctx.storage.getAlarm(),
      consecutiveFailures: this.#failures,
      budget: setup?.vars.budget ?? null,
      lagHistory: [...this.#lagHistory],
    };
  }

  /** Asks for a tick now (RPC), e.g. after a commit to the source. `NotFound` for an unconfigured table. */
  async kick(table?: string): Promise<MirrorObjectStatus> {
    this.#setup(await this.#ensureTable(table)); // a bad var: InvalidArgument naming it
    this.#mirror?.kick();
    await this.#wake();
    return this.status();
  }

  /**
   * Resolves with the mirrored version once `version` is mirrored (RPC).
   * `Transient` after `timeoutMs` (default 30 s) without getting there;
   * `InvalidArgument` for a bad version or timeout, or a bad var;
   * `NotFound` for an unconfigured table.
   */
  async awaitMirror(version: number, timeoutMs = 30_000, table?: string): Promise<number> {
    const t = await this.#ensureTable(table);
    checkNumber("version", version, { min: 0 });
    // setTimeout would treat NaN, a negative or a too long delay as "now".
    checkNumber("timeoutMs", timeoutMs, { min: 0, max: MAX_TIMER_MS });
    const setup = this.#setup(t); // a bad var would only run into the timeout
    const seq = this.#mirror?.status().mirrorSeq ?? this.#progressFor(setup).mirrorSeq;
    if (seq >= version) return seq;
    await this.#wake();
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = {
        version,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(w);
          reject(new TidemarkError("Transient", `mirror did not reach v${version} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  /** The admin configuration of the table (RPC), `null` when it has none. */
  async adminConfig(table: string): Promise<TableConfig | null> {
    await this.#ensureTable(table);
    return this.#config ?? null;
  }

  /**
   * Sets the table's admin configuration (RPC; `PUT /api/tables/:table`)
   * after checking it, and wakes the loop. The mirror is rebuilt on the new
   * stores; progress made with other stores is not reused (see
   * {@link MirrorObject}).
   *
   * @throws TidemarkError `InvalidArgument` for a bad configuration (nothing
   *   changes); `AlreadyExists` for a table configured in `TABLE_CONFIG`.
   */
  async configure(table: string, input: unknown): Promise<MirrorObjectStatus> {
    const t = await this.#ensureTable(table);
    const config = parseTableConfig(input);
    if (tableSetup(this.env, t, config).origin === "static") {
      throw new TidemarkError("AlreadyExists", `table ${t} is configured in TABLE_CONFIG; change it there`);
    }
    await this.ctx.storage.put(K_CONFIG, config);
    this.#config = config;
    this.#mirror = undefined; // a tick in flight keeps its own, and its waiters are not settled by it
    this.#setupError = undefined;
    await this.#wake();
    return this.status(t);
  }

  /**
   * Removes the table's admin configuration (RPC; `DELETE
   * /api/tables/:table`); true when there was one. The loop stops unless
   * another configuration still names the table. Progress is kept (bound to
   * its stores: configuring the same stores again resumes it).
   */
  async unconfigure(table: string): Promise<boolean> {
    const t = await this.#ensureTable(table);
    const had = this.#config !== undefined;
    await this.ctx.storage.delete(K_CONFIG);
    this.#config = undefined;
    this.#mirror = undefined;
    try {
      this.#setup(t);
      await this.#wake();
    } catch (e) {
      this.#rejectWaiters(toTidemarkError(e));
      await this.ctx.storage.deleteAlarm();
    }
    return had;
  }

  /** Test-only (`TIDEMARK_TEST_HOOKS=1`): puts per target key since the object was created. */
  async testPutCounts(): Promise<Record<string, number>> {
    if (!this.#testPuts) throw new TidemarkError("NotSupported", "test hooks are off");
    return { ...this.#testPuts };
  }
}
