/**
 * What a `MirrorObject` keeps in its one state row ({@link TickState} under
 * `K_STATE`): the mirror's progress, the failures in a row, the lag history,
 * what pushes did, the cost windows, the retention and view figures, the
 * drill. Loaded before any event is delivered (with an object's state kept
 * one key each before the row, worker/legacy-state.ts); everything a tick
 * changes is written as that one row with the next alarm (rows written are
 * billed).
 */
import type { IcebergViewStatus } from "../src/iceberg/view.ts";
import { freshMirrorProgress, type MirrorProgress, zeroRequestCounts } from "../src/mirror/progress.ts";
import type { MirrorStatus } from "../src/mirror/settings.ts";
import type { TableSetup } from "./config.ts";
import { advanceCostWindows, type CostMark, costSince, type Usage } from "./cost.ts";
import { drillPart, TableDrill } from "./drill.ts";
import type { Env } from "./env.ts";
import type { LagSample } from "./lag-history.ts";
import { loadLegacyState } from "./legacy-state.ts";
import type { ObjectMeter } from "./object-meter.ts";
import {
  freshPushStats,
  K_STATE,
  type MirrorObjectStatus,
  type PushStats,
  type TickState,
} from "./object-state.ts";
import { retentionPart, type SavedRetention } from "./retention-status.ts";
import { tableViewStatuses } from "./view-status.ts";

/** A `MirrorObject`'s state row, in memory (see the module). */
export class MirrorRow {
  progress: MirrorProgress = freshMirrorProgress();
  failures = 0;
  lagHistory: LagSample[] = [];
  push: PushStats = freshPushStats();
  costMarks: CostMark[] = [];
  /** Keys of the state before {@link K_STATE} to delete at the next write of it. */
  legacy: string[] = [];
  /** The retention figures of the last tick whose pass ended (worker/retention-status.ts). */
  retention: SavedRetention | undefined;
  /** Where the Iceberg views stood after the last tick (persisted: a status before the next tick says it). */
  views: IcebergViewStatus[] = [];
  /** The table's drills (worker/drill.ts): kept in the state row. */
  drill = new TableDrill(undefined);
  /** Every storage access and request of the object, counted (they are billed). */
  readonly #meter: ObjectMeter;

  constructor(meter: ObjectMeter) {
    this.#meter = meter;
  }

  /** Reads the row (or the keys of an object from before it); the meter resumes its counts. */
  async load(): Promise<void> {
    const meter = this.#meter;
    let state = await meter.get<TickState>(K_STATE);
    if (state === undefined) {
      const legacy = await loadLegacyState((key) => meter.get(key));
      state = legacy.state;
      this.legacy = legacy.found;
    }
    this.progress = state.progress;
    this.failures = state.failures;
    this.lagHistory = state.lagHistory;
    this.retention = state.retention;
    meter.resume(state.durableObject);
    this.push = { ...freshPushStats(), ...state.push };
    this.views = state.views ?? [];
    this.drill = new TableDrill(state.drill);
    this.costMarks =
      state.costMarks.length > 0
        ? state.costMarks
        : [{ atMs: Date.now(), usage: this.usageOf(state.progress) }];
  }

  /**
   * Persists everything a tick changes as one row, with the next alarm (two
   * rows written), and moves the cost window on.
   */
  async persist(storage: DurableObjectStorage, nextAlarmMs: number): Promise<void> {
    // Counted before the state is built, so the state holds its own write.
    this.#meter.willWrite(2 + this.legacy.length);
    this.costMarks = advanceCostWindows(this.costMarks, Date.now(), () => this.usageOf(this.progress));
    const state: TickState = {
      progress: this.progress,
      failures: this.failures,
      lagHistory: this.lagHistory,
      durableObject: this.#meter.counted,
      push: this.push,
      costMarks: this.costMarks,
      ...(this.retention !== undefined ? { retention: this.retention } : {}),
      views: this.views,
      drill: this.drill.state,
    };
    const legacy = this.legacy;
    this.legacy = [];
    await Promise.all([
      storage.put(K_STATE, state),
      storage.setAlarm(nextAlarmMs),
      ...(legacy.length > 0 ? [storage.delete(legacy)] : []),
    ]);
  }

  /** What the table used so far, the mirror's store counts from `progress`. */
  usageOf(progress: MirrorProgress): Usage {
    return {
      source: { ...(progress.counters.source ?? zeroRequestCounts()) },
      target: { ...(progress.counters.target ?? zeroRequestCounts()) },
      durableObject: this.#meter.reading(),
      queueMessages: this.push.messages,
    };
  }

  /**
   * The object's status (`MirrorObject.status`): this row with the table's
   * setup (`undefined` when it cannot be opened: `setupError` says why), the
   * progress about its stores, the mirror's own status (`undefined` before a
   * tick in this instance), the usage so far and the next alarm.
   */
  status(r: {
    table: string;
    setup: TableSetup | undefined;
    setupError: { message: string; atMs: number } | undefined;
    progress: MirrorProgress;
    mirror: MirrorStatus | undefined;
    usage: Usage;
    now: number;
    nextAlarmMs: number | null;
    env: Env;
  }): MirrorObjectStatus {
    const { table, setup, setupError, progress: p, mirror: st, usage, now, nextAlarmMs, env } = r;
    const mirrorSeq = st?.mirrorSeq ?? p.mirrorSeq;
    const views = tableViewStatuses(setup?.config.iceberg, this.views, mirrorSeq);
    return {
      table,
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
      counters: structuredClone(st?.counters ?? p.counters),
      lastError: setupError ?? p.lastError ?? null,
      gaps: structuredClone(p.gaps),
      nextDelayMs: nextAlarmMs === null ? 0 : Math.max(0, nextAlarmMs - now),
      nextAlarmMs,
      consecutiveFailures: this.failures,
      budget: setup?.vars.budget ?? null,
      lagHistory: [...this.lagHistory],
      push: { enabled: setup?.push ?? false, ...this.push },
      cost: costSince(usage, this.costMarks, setup, now),
      ...retentionPart(setup, st?.retention, this.retention, p.counters.retention),
      ...(views.length > 0 ? { iceberg: views } : {}),
      ...drillPart(this.drill, env, setup),
    };
  }
}
