/**
 * `MirrorObject`: the single-writer mirror loop of one table, as a Durable
 * Object (`idFromName(table)`). An alarm runs one `Mirror.tick()` within a
 * per-alarm budget of store requests and bytes, persists the mirror's
 * progress in Durable Object storage, and reschedules itself: at once while
 * work remains, after the poll interval when caught up, with backoff after
 * failures. After an eviction or a crash the next alarm resumes from the
 * persisted progress, so finished files are not uploaded again.
 *
 * Two instances can briefly overlap (network partition, deploy); correctness
 * never rests on the single-instance guarantee: the mirror writes files and
 * manifests create-only and low_water only forwards.
 * https://developers.cloudflare.com/durable-objects/platform/known-issues/
 */
import { DurableObject } from "cloudflare:workers";
import {
  type Body,
  freshMirrorProgress,
  Mirror,
  type MirrorProgress,
  type MirrorProgressStore,
  type ObjectStore,
  type PutOptions,
  TidemarkError,
} from "../src/index.ts";
import type { Env } from "./env.ts";
import { intVar, mirrorStore, sourceStore, validateTable } from "./tables.ts";

const K_TABLE = "table";
const K_PROGRESS = "progress";
const K_FAILURES = "consecutiveFailures";
const K_TEST_PUTS = "test:puts";

/** Defaults of the vars in wrangler.toml. */
/** The shortest poll interval honoured (see `#pollMs`). */
export const MIN_POLL_INTERVAL_MS = 100;

export const DEFAULTS = {
  pollIntervalMs: 5_000,
  lagAlertSecs: 300,
  // Free-plan Workers allow 50 subrequests per invocation (paid: 10,000); an
  // alarm is one invocation. https://developers.cloudflare.com/workers/platform/limits/
  budgetRequests: 40,
  budgetBytes: 64 * 1024 * 1024,
  parallelism: 6, // at most 6 simultaneous outgoing connections per invocation
} as const;

/** Backoff after `n` consecutive failed alarms: 1 s, 2 s, 4 s, ... capped at 5 minutes. */
export function failureBackoffMs(n: number): number {
  return Math.min(300_000, 1_000 * 2 ** Math.max(0, n - 1));
}

/** What `status()` returns over RPC (plain data: structured-clonable). */
export interface MirrorObjectStatus {
  table: string | null;
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
  budget: { requests: number; bytes: number };
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
    name: store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
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
  #progress: MirrorProgress = freshMirrorProgress();
  #failures = 0;
  #mirror: Mirror | undefined;
  #testPuts: Record<string, number> | undefined;
  readonly #waiters = new Set<Waiter>();
  #ticking: Promise<void> | undefined;
  #tickFailed = false;
  /** A kick or awaitMirror came in while a tick was in flight (it may have read HEAD too early). */
  #wokenDuringTick = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Load state before any event is delivered (RPC or alarm).
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<string>(K_TABLE);
      const name = ctx.id.name;
      this.#table = stored ?? name;
      if (stored === undefined && name !== undefined) await ctx.storage.put(K_TABLE, name);
      this.#progress = (await ctx.storage.get<MirrorProgress>(K_PROGRESS)) ?? freshMirrorProgress();
      this.#failures = (await ctx.storage.get<number>(K_FAILURES)) ?? 0;
      if (env.TIDEMARK_TEST_HOOKS === "1") {
        this.#testPuts = (await ctx.storage.get<Record<string, number>>(K_TEST_PUTS)) ?? {};
      }
    });
  }

  get #budget(): { requests: number; bytes: number } {
    return {
      requests: Math.max(1, intVar(this.env.BUDGET_REQUESTS, DEFAULTS.budgetRequests)),
      bytes: Math.max(1, intVar(this.env.BUDGET_BYTES, DEFAULTS.budgetBytes)),
    };
  }

  get #pollMs(): number {
    // At least 100 ms: 0 would re-alarm a caught-up table at once, forever
    // (2 HEADs per alarm, billed, for nothing).
    return Math.max(MIN_POLL_INTERVAL_MS, intVar(this.env.POLL_INTERVAL_MS, DEFAULTS.pollIntervalMs));
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

  #getMirror(table: string): Mirror {
    if (this.#mirror) return this.#mirror;
    let target = mirrorStore(this.env, table);
    if (this.#testPuts) target = recordingPuts(target, this.#testPuts);
    const progress: MirrorProgressStore = {
      load: async () => this.#progress,
      save: async (p) => {
        this.#progress = p;
        await this.ctx.storage.put(K_PROGRESS, p);
      },
    };
    this.#mirror = new Mirror({
      source: sourceStore(this.env, table),
      target,
      pollIntervalMs: this.#pollMs,
      parallelism: Math.max(1, intVar(this.env.PARALLELISM, DEFAULTS.parallelism)),
      lagAlertSecs: intVar(this.env.LAG_ALERT_SECS, DEFAULTS.lagAlertSecs),
      onLagAlert: (a) =>
        console.warn(
          `tidemark: table ${table} mirror v${a.mirrorSeq} lags source v${a.sourceHead} by ${Math.round(a.lagSeconds)} s`,
        ),
      onError: (e) => {
        this.#tickFailed = true;
        console.warn(`tidemark: table ${table} mirror tick failed: ${e.message}`);
      },
      progress,
      budget: this.#budget,
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
      const mirror = this.#getMirror(table);
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
      const delay = this.#tickFailed
        ? Math.max(st.nextDelayMs, failureBackoffMs(this.#failures))
        : this.#wokenDuringTick
          ? 0
          : st.nextDelayMs;
      const writes: Promise<unknown>[] = [
        this.ctx.storage.put(K_FAILURES, this.#failures),
        this.ctx.storage.setAlarm(Date.now() + delay),
      ];
      if (this.#testPuts) writes.push(this.ctx.storage.put(K_TEST_PUTS, this.#testPuts));
      await Promise.all(writes);
      this.#settleWaiters(st.mirrorSeq);
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
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
    const p = this.#progress;
    // No tick yet in this instance: report the persisted progress.
    const st = this.#mirror?.status();
    // An object with no alarm (never kicked) starts its loop; during a tick
    // the tick itself sets the next alarm, and a status read is no kick.
    if (!this.#ticking && (await this.ctx.storage.getAlarm()) === null) await this.#wake();
    return {
      table: t,
      mirrorSeq: st?.mirrorSeq ?? p.mirrorSeq,
      sourceHead: st?.sourceHead ?? null,
      caughtUp: st?.caughtUp ?? false,
      lagSeconds: st?.lagSeconds ?? null,
      inProgress: p.inProgress
        ? { version: p.inProgress.version, uploaded: p.inProgress.uploaded.length }
        : null,
      counters: structuredClone(p.counters),
      lastError: p.lastError ?? null,
      gaps: [...p.gaps],
      nextAlarmMs: await this.ctx.storage.getAlarm(),
      consecutiveFailures: this.#failures,
      budget: this.#budget,
    };
  }

  /** Asks for a tick now (RPC), e.g. after a commit to the source. */
  async kick(table?: string): Promise<MirrorObjectStatus> {
    await this.#ensureTable(table);
    this.#mirror?.kick();
    await this.#wake();
    return this.status();
  }

  /**
   * Resolves with the mirrored version once `version` is mirrored (RPC).
   * `Transient` after `timeoutMs` (default 30 s) without getting there.
   */
  async awaitMirror(version: number, timeoutMs = 30_000, table?: string): Promise<number> {
    await this.#ensureTable(table);
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new TidemarkError("InvalidArgument", "awaitMirror needs a non-negative integer version");
    }
    // setTimeout would treat NaN, a negative or an infinite delay as "now".
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TidemarkError("InvalidArgument", "awaitMirror needs a finite, non-negative timeoutMs");
    }
    const seq = this.#mirror?.status().mirrorSeq ?? this.#progress.mirrorSeq;
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

  /** Test-only (`TIDEMARK_TEST_HOOKS=1`): puts per MIRROR key since the object was created. */
  async testPutCounts(): Promise<Record<string, number>> {
    if (!this.#testPuts) throw new TidemarkError("NotSupported", "test hooks are off");
    return { ...this.#testPuts };
  }
}
