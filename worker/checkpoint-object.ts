/**
 * `CheckpointObject`: the single-writer mirror loop of one checkpoint root
 * (a LaminarDB `state-v2` root of `CHECKPOINT_CONFIG`), as a Durable Object
 * (`idFromName(root)`), as `MirrorObject` is a table's. An alarm runs one
 * `CheckpointMirror.tick()` within the per-alarm budget of store requests
 * and bytes, persists the mirror's progress in one storage row, and
 * reschedules itself: at once while work remains, after the poll interval
 * when caught up, with backoff after failures. After an eviction the next
 * alarm resumes from the persisted progress (bound to the pair of stores,
 * and checked against the target before it is trusted).
 *
 * A failure no retry fixes (`FATAL_MIRROR_CODES`: `SplitBrain`, a target
 * holding another deployment's namespace; `NotSupported`, e.g. a root in the
 * layout LaminarDB wrote before `state-v2`, which the Worker does not mirror)
 * stops the loop:
 * no alarm is set again, the status says why (`stopped`), `/metrics` says
 * so (`tidemark_checkpoint_stopped`), and the object logs an alert line.
 * `kick` (`POST /api/checkpoints/:root/kick`, after the target was fixed)
 * starts it again. A bad configuration is retried with backoff, as a
 * table's (a deployment fixes it).
 *
 * The object counts what it costs as a `MirrorObject` does (`ObjectMeter`,
 * worker/cost.ts), and keeps the last hour of lag (worker/lag-history.ts):
 * the seconds the target has lacked an attempt the source has.
 */
import { DurableObject } from "cloudflare:workers";
import { CheckpointMirror } from "../src/checkpoint/mirror.ts";
import type { CheckpointMirrorProgress } from "../src/checkpoint/mirror-progress.ts";
import { newestOf } from "../src/checkpoint/mirror-target.ts";
import { errorCodeOf, TidemarkError, toTidemarkError } from "../src/errors.ts";
import { isFatalMirrorError } from "../src/mirror/loop.ts";
import { boundTo, zeroRequestCounts } from "../src/mirror/progress.ts";
import { type MeteredStore, metered } from "../src/store/metered.ts";
import { storeId } from "../src/store/types.ts";
import { type CheckpointSetup, checkpointSetup, validateRoot } from "./checkpoint-config.ts";
import {
  type CheckpointObjectStatus,
  type CheckpointTickState,
  candidateOf,
  K_CHECKPOINT_STATE,
  K_ROOT,
  type StoppedBy,
} from "./checkpoint-state.ts";
import { advanceCostWindows, type CostMark, costSince, type Usage } from "./cost.ts";
import type { Env } from "./env.ts";
import { type LagSample, recordLag } from "./lag-history.ts";
import { ObjectMeter } from "./object-meter.ts";
import { failureBackoffMs } from "./object-state.ts";
import { tableRegistry } from "./tables.ts";

/** The Durable Object holding one checkpoint root's mirror loop. RPC: `status`, `kick`, `ensure`. */
export class CheckpointObject extends DurableObject<Env> {
  #root: string | undefined;
  #progress: CheckpointMirrorProgress | null = null;
  #failures = 0;
  #lagHistory: LagSample[] = [];
  #costMarks: CostMark[] = [];
  #stopped: StoppedBy | null = null;
  #behindSinceMs: number | null = null;
  #mirror: CheckpointMirror | undefined;
  #opened: CheckpointSetup | undefined;
  #ticking: Promise<void> | undefined;
  #tickError: TidemarkError | undefined;
  #setupError: { message: string; atMs: number } | undefined;
  /** The store requests of this instance's last alarm, against its budget. */
  #lastAlarm: { requests: number; atMs: number } | null = null;
  /** The mirror's two stores, metered: what each alarm made (`lastAlarm`). */
  #stores: MeteredStore[] = [];
  readonly #meter: ObjectMeter;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const meter = new ObjectMeter(ctx.storage);
    this.#meter = meter;
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await meter.get<string>(K_ROOT);
      this.#root = stored ?? ctx.id.name;
      if (stored === undefined && ctx.id.name !== undefined) await meter.put({ [K_ROOT]: ctx.id.name });
      const state = await meter.get<CheckpointTickState>(K_CHECKPOINT_STATE);
      if (state !== undefined) {
        this.#progress = state.progress;
        this.#failures = state.failures;
        this.#lagHistory = state.lagHistory;
        this.#stopped = state.stopped;
        this.#behindSinceMs = state.behindSinceMs;
        meter.resume(state.durableObject);
      }
      this.#costMarks = state?.costMarks.length
        ? state.costMarks
        : [{ atMs: Date.now(), usage: this.#usage() }];
    });
  }

  /** What the root used so far: the mirror's store counts, the object's own. */
  #usage(): Usage {
    const counters = this.#mirror?.status().counters ?? this.#progress?.counters;
    return {
      source: { ...(counters?.source ?? zeroRequestCounts()) },
      target: { ...(counters?.target ?? zeroRequestCounts()) },
      durableObject: this.#meter.reading(),
      queueMessages: 0,
    };
  }

  /** Persists everything an alarm changes as one row, with the next alarm (`null`: none, the loop stopped). */
  async #persist(nextAlarmMs: number | null): Promise<void> {
    this.#meter.willWrite(2);
    this.#costMarks = advanceCostWindows(this.#costMarks, Date.now(), () => this.#usage());
    await Promise.all([
      this.ctx.storage.put(K_CHECKPOINT_STATE, this.#state()),
      nextAlarmMs === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(nextAlarmMs),
    ]);
  }

  #state(): CheckpointTickState {
    return {
      progress: this.#progress,
      failures: this.#failures,
      lagHistory: this.#lagHistory,
      durableObject: this.#meter.counted,
      costMarks: this.#costMarks,
      stopped: this.#stopped,
      behindSinceMs: this.#behindSinceMs,
    };
  }

  /** Binds the object to its root (`idFromName` ids carry the name; the name is stored too). */
  async #ensureRoot(root?: string): Promise<string> {
    if (root !== undefined) validateRoot(root);
    if (this.#root === undefined && root !== undefined) {
      this.#root = root;
      await this.#meter.put({ [K_ROOT]: root });
    }
    if (this.#root === undefined) {
      throw new TidemarkError(
        "InvalidArgument",
        "this checkpoint object has no root (create it with idFromName)",
      );
    }
    if (root !== undefined && root !== this.#root) {
      throw new TidemarkError(
        "InvalidArgument",
        `this checkpoint object serves root ${this.#root}, not ${root}`,
      );
    }
    return this.#root;
  }

  /** The root's setup, opened once per instance (the vars cannot change within one). */
  #setup(root: string): CheckpointSetup {
    this.#opened ??= checkpointSetup(this.env, root);
    return this.#opened;
  }

  #getMirror(root: string): CheckpointMirror {
    if (this.#mirror) return this.#mirror;
    const setup = this.#setup(root);
    // Metered here too, to say what each alarm made (the mirror's counters are running totals).
    const source = metered(setup.source);
    const target = metered(setup.target);
    this.#stores = [source, target];
    this.#mirror = new CheckpointMirror({
      source,
      target,
      // The Worker mirrors state-v2 roots only: a root in the layout before it stops the loop with
      // NotSupported (fatal) saying so; `tidemark checkpoint mirror` copies that layout.
      layout: "state-v2",
      pollIntervalMs: setup.settings.pollIntervalMs,
      parallelism: setup.settings.parallelism,
      budget: setup.settings.budget,
      // Kept in memory: the alarm persists it with the rest of its state, in one row.
      progress: {
        load: async () => this.#progress ?? undefined,
        save: async (p) => {
          this.#progress = p;
        },
      },
      onError: (e) => {
        this.#tickError = e;
        console.warn(`tidemark: checkpoint root ${root} mirror tick failed: ${e.message}`);
      },
    });
    return this.#mirror;
  }

  /**
   * Refuses a target that overlaps an admin table's (the `TableRegistry`
   * records their targets; the vars' tables are checked without I/O by
   * `checkpointSetup`). Once per instance: one RPC before its first tick.
   */
  async #checkAdminTables(root: string): Promise<void> {
    const { targetLocation } = this.#setup(root);
    const table = await tableRegistry(this.env).overlapping(null, targetLocation);
    if (table !== null) {
      throw new TidemarkError(
        "InvalidArgument",
        `CHECKPOINT_CONFIG.${root}.target overlaps the target of table ${table} (one prefix holds the other's keys: ${targetLocation}); give each its own prefix`,
      );
    }
  }

  /** The alarm: one budgeted tick, then the next alarm. Never throws (we schedule our own retries). */
  override async alarm(): Promise<void> {
    await this.#meter.request(async () => {
      if (this.#root === undefined || this.#stopped) return;
      await this.#tick(this.#root);
    });
  }

  #tick(root: string): Promise<void> {
    this.#ticking ??= this.#runTick(root).finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #runTick(root: string): Promise<void> {
    let mirror: CheckpointMirror;
    try {
      if (!this.#mirror) await this.#checkAdminTables(root);
      mirror = this.#getMirror(root);
    } catch (e) {
      const err = toTidemarkError(e);
      if (err.code === "NotFound") {
        // Removed from CHECKPOINT_CONFIG: nothing to retry.
        this.#setupError = undefined;
        await this.#meter.deleteAlarm();
        return;
      }
      this.#setupError = { message: err.message, atMs: Date.now() };
      console.error(`tidemark: checkpoint root ${root}: cannot mirror: ${err.message}`);
      this.#failures++;
      await this.#persist(Date.now() + failureBackoffMs(this.#failures));
      return;
    }
    this.#setupError = undefined;
    this.#tickError = undefined;
    for (const s of this.#stores) s.reset();
    // CheckpointMirror.tick never throws: a failure is recorded (lastError) and passed to onError.
    await mirror.tick();
    const st = mirror.status();
    const now = Date.now();
    const requests = this.#stores.reduce((n, s) => n + s.counts().readClass + s.counts().writeClass, 0);
    this.#lastAlarm = { requests, atMs: now };
    // Set by onError during the tick (TypeScript cannot see that through the await).
    const failed = this.#tickError as TidemarkError | undefined;
    this.#failures = failed ? this.#failures + 1 : 0;
    if (failed === undefined) this.#behindSinceMs = st.caughtUp ? null : (this.#behindSinceMs ?? now);
    this.#lagHistory = recordLag(this.#lagHistory, now, this.#lagSeconds(now));
    if (failed && isFatalMirrorError(failed)) {
      this.#stopped = { code: failed.code, message: failed.message, atMs: now };
      // The alert: a line a log drain or Logpush filter can match, beside the status and the gauge.
      console.error(
        `tidemark: ALERT checkpoint root ${root}: mirroring stopped (${failed.code}): ${failed.message}; fix the target, then POST /api/checkpoints/${root}/kick`,
      );
      await this.#persist(null);
      return;
    }
    const delay = failed ? Math.max(st.nextDelayMs, failureBackoffMs(this.#failures)) : st.nextDelayMs;
    await this.#persist(now + delay);
  }

  #lagSeconds(now: number): number | null {
    if (this.#progress === null && this.#behindSinceMs === null) return null;
    return this.#behindSinceMs === null ? 0 : (now - this.#behindSinceMs) / 1000;
  }

  /** Makes the next alarm fire now (unless one is due sooner). */
  #wake(): Promise<void> {
    return this.#meter.alarmNow();
  }

  /** The loop's status (RPC). Starts a loop that has no alarm (and did not stop). */
  status(root?: string): Promise<CheckpointObjectStatus> {
    return this.#meter.request(() => this.#status(root));
  }

  async #status(root?: string): Promise<CheckpointObjectStatus> {
    const r = await this.#ensureRoot(root);
    let setup: CheckpointSetup | undefined;
    let setupError: { message: string; atMs: number } | undefined;
    try {
      setup = this.#setup(r);
    } catch (e) {
      if (errorCodeOf(e) === "NotFound") throw e;
      setupError = this.#setupError ?? { message: toTidemarkError(e).message, atMs: Date.now() };
    }
    // Progress made with other stores says nothing about these.
    const binding = setup && { source: storeId(setup.source), target: storeId(setup.target) };
    const p = this.#progress && (!binding || boundTo(this.#progress, binding)) ? this.#progress : null;
    const st = this.#mirror?.status();
    if (setup && !this.#stopped && !this.#ticking && (await this.#meter.getAlarm()) === null) {
      await this.#wake();
    }
    const now = Date.now();
    const nextAlarmMs = await this.#meter.getAlarm();
    return {
      root: r,
      source: setup?.source.name ?? null,
      target: setup?.target.name ?? null,
      sourceNewest: st?.sourceNewest ?? null,
      sourceFloor: st?.floor.source ?? null,
      targetNewestSealed: st?.newestCopied ?? (p ? (newestOf(p.attempts) ?? null) : null),
      targetFloor: p?.floor ?? null,
      candidate: candidateOf(p),
      through: p?.through ?? null,
      pending: st?.pending ?? 0,
      caughtUp: st?.caughtUp ?? false,
      lagSeconds: this.#lagSeconds(now),
      lagHistory: [...this.#lagHistory],
      floorHeld: p?.heldFloor ?? null,
      inProgress: p?.inProgress
        ? { epoch: p.inProgress.epoch, objects: Object.keys(p.inProgress.etags).length }
        : null,
      skipped: p ? structuredClone(p.skipped) : [],
      counters: p ? structuredClone(p.counters) : null,
      lastError: setupError ?? this.#setupError ?? p?.lastError ?? null,
      stopped: this.#stopped,
      nextAlarmMs,
      consecutiveFailures: this.#failures,
      lastAlarm: this.#lastAlarm,
      settings: setup?.settings ?? null,
      cost: costSince(this.#usage(), this.#costMarks, setup, now),
    };
  }

  /**
   * A tick now (RPC; `POST /api/checkpoints/:root/kick`): also starts a loop
   * a fatal failure stopped (the operator fixed the target).
   *
   * @throws TidemarkError `NotFound` for a root nobody configured; `InvalidArgument` for a bad one.
   */
  kick(root?: string): Promise<CheckpointObjectStatus> {
    return this.#meter.request(async () => {
      this.#setup(await this.#ensureRoot(root));
      if (this.#stopped) {
        this.#stopped = null;
        this.#mirror = undefined; // a new mirror reads the target again
        await this.#meter.put({ [K_CHECKPOINT_STATE]: this.#state() });
      }
      await this.#wake();
      return this.#status();
    });
  }

  /** Makes sure the loop runs (RPC, from the cron): starts it when no alarm is set, unless it stopped. */
  ensure(root: string): Promise<void> {
    return this.#meter.request(async () => {
      const r = await this.#ensureRoot(root);
      try {
        this.#setup(r);
      } catch (e) {
        if (errorCodeOf(e) === "NotFound") return;
      }
      if (!this.#stopped && !this.#ticking && (await this.#meter.getAlarm()) === null) await this.#wake();
    });
  }
}
