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
 * Wake-ups can be pushed (`push`, from the queue consumer of R2 event
 * notifications): the poll then only backs them up, every
 * `PUSH_POLL_INTERVAL_MS`. A push only wakes the loop; the mirror still
 * follows the source's manifest chain, so duplicate and out-of-order
 * messages are harmless (one about a version already mirrored wakes nothing).
 *
 * The object counts what it costs: its store requests (the mirror's
 * counters), its own requests, active time and storage rows (its
 * `ObjectMeter`, worker/object-meter.ts: every storage access and request
 * goes through it), and the queue messages it was sent; `status().cost`
 * projects them to a month (worker/cost.ts). Everything a tick changes is one
 * storage row (plus the alarm): rows written are billed. An object that kept
 * its state one key each moves it into that row (worker/legacy-state.ts).
 *
 * Two instances can briefly overlap (network partition, deploy); correctness
 * never rests on the single-instance guarantee: the mirror writes files and
 * manifests create-only and low_water only forwards.
 * https://developers.cloudflare.com/durable-objects/platform/known-issues/
 */
import { DurableObject } from "cloudflare:workers";
import { isTidemarkError, TidemarkError, toTidemarkError } from "../src/errors.ts";
import { Mirror, type MirrorProgress, type MirrorProgressStore } from "../src/mirror/mirror.ts";
import { boundTo, freshMirrorProgress, handledThrough } from "../src/mirror/progress.ts";
import { Waiters } from "../src/mirror/waiters.ts";
import { checkNumber, MAX_TIMER_MS } from "../src/options.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { bindingOf, type TableSetup, tableSetup } from "./config.ts";
import { drillTurn, requestsMade } from "./drill.ts";
import type { Env } from "./env.ts";
import { recordLag } from "./lag-history.ts";
import { MirrorRow } from "./mirror-row.ts";
import { ObjectMeter } from "./object-meter.ts";
import {
  failureBackoffMs,
  K_CONFIG,
  K_REGISTERED,
  K_TABLE,
  type MirrorObjectStatus,
} from "./object-state.ts";
import type { PushEvent, PushOutcome } from "./push.ts";
import { retentionOptions } from "./retention-config.ts";
import { retentionToSave } from "./retention-status.ts";
import { parseTableConfig, type TableConfig, validateTable } from "./table-config.ts";
import { tableRegistry } from "./tables.ts";
import { mirrorViews } from "./view-config.ts";
import { recordViews } from "./view-status.ts";

/**
 * The Durable Object holding one table's mirror loop. RPC: `status`, `kick`,
 * `awaitMirror`, `push`, `ensure`, `adminConfig`, `configure`, `unconfigure`.
 */
export class MirrorObject extends DurableObject<Env> {
  #table: string | undefined;
  /** The admin configuration (`configure`), if any. */
  #config: TableConfig | undefined;
  #mirror: Mirror | undefined;
  /** The mirror's wake-ups are pushed (set with the mirror, from its setup). */
  #pushOn = false;
  readonly #waiters = new Waiters();
  #ticking: Promise<void> | undefined;
  #tickFailed = false;
  /** A kick or awaitMirror came in while a tick was in flight (it may have read HEAD too early). */
  #wokenDuringTick = false;
  /** What woke the loop since the last tick started (`undefined`: the alarm was a scheduled poll). */
  #wokenBy: "push" | "kick" | undefined;
  /** The last tick in this instance ended caught up. */
  #lastTickCaughtUp = false;
  /** Why the last tick could not start (a bad var, a half-configured S3 target), for `status().lastError`. */
  #setupError: { message: string; atMs: number } | undefined;
  /** Every storage access and request of the object, counted (they are billed). */
  readonly #meter: ObjectMeter;
  /** The state row: progress, failures, lag history, pushes, cost windows, retention, views, drill. */
  readonly #row: MirrorRow;
  /** What was recorded in the TableRegistry: JSON of the source's and the target's locations (`undefined`: not known). */
  #registered: string | null | undefined;
  /** The setup of the table's configuration (`#setup`), with the configuration it was made from. */
  #opened: { config: TableConfig | undefined; setup: TableSetup } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const meter = new ObjectMeter(ctx.storage);
    this.#meter = meter;
    const row = new MirrorRow(meter);
    this.#row = row;
    // Load state before any event is delivered (RPC or alarm).
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await meter.get<string>(K_TABLE);
      const name = ctx.id.name;
      this.#table = stored ?? name;
      if (stored === undefined && name !== undefined) await meter.put({ [K_TABLE]: name });
      this.#config = await meter.get<TableConfig>(K_CONFIG);
      this.#registered = await meter.get<string | null>(K_REGISTERED);
      await row.load();
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
      await this.#meter.put({ [K_TABLE]: table });
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

  /**
   * The table's setup from its configuration (static, admin, or the
   * SOURCE_TABLES layout). No I/O. Opened once per configuration: the vars
   * cannot change within an instance (and are parsed once per env), the
   * admin configuration only by `configure`/`unconfigure`.
   */
  #setup(table: string): TableSetup {
    const opened = this.#opened;
    if (opened !== undefined && opened.config === this.#config && opened.setup.table === table) {
      return opened.setup;
    }
    const setup = tableSetup(this.env, table, this.#config);
    this.#opened = { config: this.#config, setup };
    return setup;
  }

  /**
   * The saved progress if it was made with `setup`'s stores, else a fresh
   * one bound to them (the running totals kept): what status and
   * awaitMirror report, so a changed target never inherits the old one's
   * mirrorSeq.
   */
  #progressFor(setup: TableSetup): MirrorProgress {
    const binding = bindingOf(setup);
    if (boundTo(this.#row.progress, binding)) return this.#row.progress;
    const fresh = freshMirrorProgress(binding);
    fresh.counters = structuredClone(this.#row.progress.counters);
    return fresh;
  }

  #getMirror(table: string): Mirror {
    // Rebuilt after configure/unconfigure (which drop it); the vars cannot change within an instance.
    if (this.#mirror) return this.#mirror;
    const { vars, source, target, push, config } = this.#setup(table);
    const iceberg = mirrorViews(config.iceberg);
    const progress: MirrorProgressStore = {
      load: async () => this.#row.progress,
      // Kept in memory: the tick persists it with the rest of its state, in one row.
      save: async (p) => {
        this.#row.progress = p;
      },
    };
    this.#pushOn = push;
    this.#mirror = new Mirror({
      source,
      target: this.mirrorTarget(target),
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
      ...retentionOptions(config),
      // Each version's Iceberg snapshot within the alarm's budget; a view left behind catches up on later alarms.
      ...(iceberg ? { iceberg } : {}),
    });
    return this.#mirror;
  }

  /**
   * The store the mirror writes: the configured target. A subclass may wrap
   * it (to meter or record what the mirror writes) with `wrapperOf`, so
   * progress stays bound to the real target.
   */
  protected mirrorTarget(target: ObjectStore): ObjectStore {
    return target;
  }

  /** The alarm: one budgeted tick, then the next alarm. Never throws (we schedule our own retries). */
  override async alarm(): Promise<void> {
    await this.#meter.request(async () => {
      if (this.#table === undefined) return; // never bound to a table: nothing to mirror
      await this.#tick(this.#table);
    });
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
      const wokenBy = this.#wokenBy;
      this.#wokenBy = undefined;
      const headBefore = mirror.status().sourceHead;
      const requestsBefore = requestsMade(mirror.status());
      const wasCaughtUp = this.#lastTickCaughtUp;
      // Mirror.tick never throws: a failure is recorded in its progress
      // (lastError, counters.failures), reported through onError, and turns
      // nextDelayMs into a jittered backoff.
      await mirror.tick();
      const st = mirror.status();
      if (this.#mirror === mirror) this.#row.views = recordViews(this.#row.views, st.iceberg);
      this.#row.failures = this.#tickFailed ? this.#row.failures + 1 : 0;
      // A scheduled poll of a pushed table that finds what no push announced.
      if (this.#pushOn && wokenBy === undefined && wasCaughtUp && headBefore !== null) {
        if ((st.sourceHead ?? 0) > headBefore) this.#row.push.missed++;
      }
      this.#lastTickCaughtUp = st.caughtUp;
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
          ? Math.max(st.nextDelayMs, failureBackoffMs(this.#row.failures))
          : this.#wokenDuringTick
            ? 0
            : st.nextDelayMs;
      this.#row.lagHistory = recordLag(this.#row.lagHistory, Date.now(), st.lagSeconds);
      if (current)
        this.#row.retention = retentionToSave(st.retention, this.#setup(table), this.#row.retention);
      // A drill's slice in what the tick left of the alarm, once the mirror is caught up (worker/drill.ts).
      const drillDelay =
        current && !this.#tickFailed
          ? await drillTurn(this.#row.drill, this.env, this.#setup(table), st, requestsBefore)
          : Number.POSITIVE_INFINITY;
      await this.#row.persist(this.ctx.storage, Date.now() + Math.min(delay, drillDelay));
      // The old stores' mirrorSeq says nothing about the new target.
      if (current) this.#settleWaiters(st.mirrorSeq);
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  #rejectWaiters(err: TidemarkError): void {
    this.#waiters.rejectAll(() => err);
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
      await this.#meter.deleteAlarm();
      return;
    }
    this.#setupError = { message: err.message, atMs: Date.now() };
    console.error(`tidemark: table ${table}: cannot mirror: ${err.message}`);
    this.#row.failures++;
    await this.#row.persist(this.ctx.storage, Date.now() + failureBackoffMs(this.#row.failures));
  }

  #settleWaiters(mirrorSeq: number): void {
    this.#waiters.settle(mirrorSeq, mirrorSeq);
  }

  /** Makes the next alarm fire now (unless one is due sooner). */
  async #wake(by: "push" | "kick" = "kick"): Promise<void> {
    this.#wokenBy = by;
    if (this.#ticking) this.#wokenDuringTick = true;
    await this.#meter.alarmNow();
  }

  /**
   * Records, for an admin-configured table, where its source lives in the
   * `TableRegistry` (the queue consumer looks tables up there), once per
   * change: tables configured before locations were kept get theirs at
   * their next `ensure` (the cron's visit).
   */
  async #register(table: string, setup: TableSetup): Promise<void> {
    // Both where the source and the target live (a record made before targets were kept is made again).
    const want = JSON.stringify([setup.location ?? null, setup.targetLocation]);
    if (this.#registered === want) return;
    await tableRegistry(this.env).add(table, setup.location, setup.targetLocation);
    this.#registered = want;
    await this.#meter.put({ [K_REGISTERED]: want });
  }

  /** The mirror's status (RPC). Binds the object to `table` on first use. */
  status(table?: string): Promise<MirrorObjectStatus> {
    return this.#meter.request(() => this.#status(table));
  }

  async #status(table?: string): Promise<MirrorObjectStatus> {
    const t = await this.#ensureTable(table);
    // A bad var or configuration is reported, not thrown: status is how an operator finds it.
    let setup: TableSetup | undefined;
    let setupError: { message: string; atMs: number } | undefined;
    try {
      setup = this.#setup(t);
    } catch (e) {
      setupError = this.#setupError ?? { message: toTidemarkError(e).message, atMs: Date.now() };
    }
    const p = setup ? this.#progressFor(setup) : this.#row.progress;
    // No tick yet in this instance: report the persisted progress (if it is about these stores).
    const st = this.#mirror?.status();
    // An object with no alarm (never kicked) starts its loop; during a tick
    // the tick itself sets the next alarm, and a status read is no kick.
    if (setup && !this.#ticking && (await this.#meter.getAlarm()) === null) await this.#wake();
    const usage = this.#row.usageOf(st ? { ...p, counters: st.counters } : p);
    const now = Date.now();
    const nextAlarmMs = await this.#meter.getAlarm();
    return this.#row.status({
      table: t,
      setup,
      setupError,
      progress: p,
      mirror: st,
      usage,
      now,
      nextAlarmMs,
      env: this.env,
    });
  }

  /**
   * Asks for a drill now (RPC; `POST /api/tables/:table/drill`): it starts
   * at the next alarm whose tick ends caught up (worker/drill.ts), even with
   * drills off. `NotFound` for an unconfigured table.
   */
  drill(table?: string): Promise<MirrorObjectStatus> {
    return this.#meter.request(async () => {
      this.#setup(await this.#ensureTable(table)); // a bad var: InvalidArgument naming it
      this.#row.drill.request();
      // Kept in the state row with an alarm for now (a tick in flight writes both itself).
      if (this.#ticking) await this.#wake();
      else await this.#row.persist(this.ctx.storage, Date.now());
      return this.#status();
    });
  }

  /** Asks for a tick now (RPC), e.g. after a commit to the source. `NotFound` for an unconfigured table. */
  kick(table?: string): Promise<MirrorObjectStatus> {
    return this.#meter.request(async () => {
      this.#setup(await this.#ensureTable(table)); // a bad var: InvalidArgument naming it
      this.#mirror?.kick();
      await this.#wake();
      return this.#status();
    });
  }

  /**
   * A pushed wake-up (RPC, from the queue consumer): messages about a new
   * manifest (or `version-hint.text`) at `event.location`. Wakes the loop
   * unless the event names a version already mirrored (`"stale"`: a
   * duplicate or late delivery) or the location is not this table's source
   * (`"ignored"`). Never a store request: the tick it causes finds the
   * source's HEAD itself.
   *
   * @throws TidemarkError `NotFound` for an unconfigured table;
   *   `InvalidArgument` for a bad configuration or event.
   */
  push(table: string, event: PushEvent): Promise<PushOutcome> {
    return this.#meter.request(async () => {
      const setup = this.#setup(await this.#ensureTable(table));
      checkNumber("messages", event.messages, { min: 0 });
      if (event.version !== undefined) checkNumber("version", event.version, { min: 1 });
      this.#row.push.messages += event.messages;
      this.#row.push.lastMs = Date.now();
      if (!setup.push || setup.location !== event.location) {
        this.#row.push.ignored++;
        return "ignored";
      }
      const handled = handledThrough(this.#mirror?.status() ?? this.#progressFor(setup));
      if (event.version !== undefined && event.version <= handled) {
        this.#row.push.stale++;
        return "stale";
      }
      this.#row.push.wakes++;
      await this.#wake("push");
      return "woken";
    });
  }

  /**
   * Makes sure the table's loop runs (RPC, from the cron): starts it when no
   * alarm is set (a table nobody has touched yet, an alarm the runtime gave
   * up on), and registers an admin table's source location. Never ticks a
   * loop that runs, so it costs no store request.
   */
  ensure(table: string): Promise<void> {
    return this.#meter.request(async () => {
      const t = await this.#ensureTable(table);
      let setup: TableSetup | undefined;
      try {
        setup = this.#setup(t);
      } catch (e) {
        if (isTidemarkError(e, "NotFound")) return; // removed: nothing to run
        // A bad configuration: let a tick record it (and back off).
      }
      if (setup?.origin === "admin") await this.#register(t, setup);
      if (!this.#ticking && (await this.#meter.getAlarm()) === null) await this.#wake();
    });
  }

  /**
   * Resolves with the mirrored version once `version` is mirrored (RPC).
   * `Transient` after `timeoutMs` (default 30 s) without getting there;
   * `InvalidArgument` for a bad version or timeout, or a bad var;
   * `NotFound` for an unconfigured table.
   */
  awaitMirror(version: number, timeoutMs = 30_000, table?: string): Promise<number> {
    return this.#meter.request(async () => {
      const t = await this.#ensureTable(table);
      checkNumber("version", version, { min: 0 });
      // setTimeout would treat NaN, a negative or a too long delay as "now".
      checkNumber("timeoutMs", timeoutMs, { min: 0, max: MAX_TIMER_MS });
      const setup = this.#setup(t); // a bad var would only run into the timeout
      const seq = this.#mirror?.status().mirrorSeq ?? this.#progressFor(setup).mirrorSeq;
      if (seq >= version) return seq;
      // Registered before the wake, so a tick that gets there first settles it.
      const waiter = this.#waiters.add(
        version,
        timeoutMs,
        () => new TidemarkError("Transient", `mirror did not reach v${version} within ${timeoutMs} ms`),
      );
      await this.#wake();
      return waiter.promise;
    });
  }

  /** The admin configuration of the table (RPC), `null` when it has none. */
  adminConfig(table: string): Promise<TableConfig | null> {
    return this.#meter.request(async () => {
      await this.#ensureTable(table);
      return this.#config ?? null;
    });
  }

  /**
   * Sets the table's admin configuration (RPC; `PUT /api/tables/:table`)
   * after checking it, records the table (and where its source lives) in the
   * `TableRegistry`, and wakes the loop. The mirror is rebuilt on the new
   * stores; progress made with other stores is not reused (see
   * {@link MirrorObject}).
   *
   * @throws TidemarkError `InvalidArgument` for a bad configuration (nothing
   *   changes); `AlreadyExists` for a table configured in `TABLE_CONFIG`.
   */
  configure(table: string, input: unknown): Promise<MirrorObjectStatus> {
    return this.#meter.request(async () => {
      const t = await this.#ensureTable(table);
      const config = parseTableConfig(input);
      const setup = tableSetup(this.env, t, config);
      if (setup.origin === "static") {
        throw new TidemarkError("AlreadyExists", `table ${t} is configured in TABLE_CONFIG; change it there`);
      }
      // Recorded first: the registry refuses a target that overlaps another admin table's.
      await this.#register(t, setup);
      await this.#meter.put({ [K_CONFIG]: config });
      this.#config = config;
      this.#mirror = undefined; // a tick in flight keeps its own, and its waiters are not settled by it
      this.#setupError = undefined;
      await this.#wake();
      return this.#status(t);
    });
  }

  /**
   * Removes the table's admin configuration (RPC; `DELETE
   * /api/tables/:table`) and its entry in the `TableRegistry`; true when
   * there was one. The loop stops unless another configuration still names
   * the table. Progress is kept (bound to its stores: configuring the same
   * stores again resumes it).
   */
  unconfigure(table: string): Promise<boolean> {
    return this.#meter.request(async () => {
      const t = await this.#ensureTable(table);
      const had = this.#config !== undefined;
      await this.#meter.delete([K_CONFIG]);
      this.#config = undefined;
      this.#mirror = undefined;
      await tableRegistry(this.env).remove(t);
      this.#registered = undefined;
      await this.#meter.delete([K_REGISTERED]);
      try {
        this.#setup(t);
        await this.#wake();
      } catch (e) {
        this.#rejectWaiters(toTidemarkError(e));
        await this.#meter.deleteAlarm();
      }
      return had;
    });
  }
}
