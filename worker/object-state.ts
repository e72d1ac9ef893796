/**
 * The shapes a `MirrorObject` keeps and reports: its storage keys, the one
 * row a tick writes ({@link TickState}), what pushed wake-ups did
 * ({@link PushStats}), the failure backoff, and the status it returns over
 * RPC ({@link MirrorObjectStatus}, the mirror's own `MirrorStatus` extended).
 * The keys it kept before the one row: worker/legacy-state.ts.
 */

import type { IcebergViewStatus } from "../src/iceberg/view.ts";
import type { MirrorProgress } from "../src/mirror/progress.ts";
import type { MirrorStatus } from "../src/mirror/settings.ts";
import type { CostMark, DurableObjectUsage, MirrorObjectCost } from "./cost.ts";
import type { DrillState, DrillStatus } from "./drill.ts";
import type { LagSample } from "./lag-history.ts";
import type { SavedRetention } from "./retention-status.ts";
import type { ConfigOrigin } from "./table-config.ts";
import type { MirrorVars } from "./vars.ts";
import type { TableViewStatus } from "./view-status.ts";

export const K_TABLE = "table";
export const K_CONFIG = "config";
/** Everything a tick changes ({@link TickState}), in one row: SQLite-backed storage bills rows written. */
export const K_STATE = "state";
/** The source location this object registered with the `TableRegistry` (admin tables). */
export const K_REGISTERED = "registered";

/** Pushed wake-ups, as this object saw them. */
export interface PushStats {
  /** Queue messages routed here. */
  messages: number;
  /** Pushes that woke the loop. */
  wakes: number;
  /** Pushes about versions already mirrored (duplicates, late deliveries): nothing to do. */
  stale: number;
  /** Pushes about a location that is not this table's source (a configuration changed since). */
  ignored: number;
  /**
   * Scheduled polls that found new versions no push had announced while the
   * loop was caught up: notifications that did not arrive (a rule's prefix
   * or suffix that misses this table, a queue that dropped them). Counted
   * only while the table is pushed.
   */
  missed: number;
  /** When the last push arrived, epoch ms. */
  lastMs: number | null;
}

/** What a tick persists, as one storage row. */
export interface TickState {
  progress: MirrorProgress;
  failures: number;
  lagHistory: LagSample[];
  durableObject: DurableObjectUsage;
  push: PushStats;
  /** The starts of the current and the previous cost window, oldest first. */
  costMarks: CostMark[];
  /** The retention figures of the last tick whose pass ended (absent: no pass yet). */
  retention?: SavedRetention;
  /** Where the table's Iceberg views stood after the last tick (worker/view-status.ts). */
  views?: IcebergViewStatus[];
  /** The drills: the one in progress (its cursor) and the last result (worker/drill.ts). */
  drill?: DrillState;
}

export const freshPushStats = (): PushStats => ({
  messages: 0,
  wakes: 0,
  stale: 0,
  ignored: 0,
  missed: 0,
  lastMs: null,
});

/** Backoff after `n` consecutive failed alarms: 1 s, 2 s, 4 s, ... capped at 5 minutes. */
export function failureBackoffMs(n: number): number {
  return Math.min(300_000, 1_000 * 2 ** Math.max(0, n - 1));
}

/**
 * What `status()` returns over RPC (plain data: structured-clonable): the
 * mirror's own status (`nextDelayMs`: until the next alarm), and the object's.
 */
export interface MirrorObjectStatus extends MirrorStatus {
  table: string | null;
  /** Where the table's configuration comes from; `null` when it has none or a bad one (`lastError` says why). */
  origin: ConfigOrigin | null;
  /** The names of the source and target stores (never a credential). */
  source: string | null;
  target: string | null;
  nextAlarmMs: number | null;
  consecutiveFailures: number;
  /** The per-alarm budget from the vars; `null` when the configuration is bad (`lastError` says why). */
  budget: MirrorVars["budget"] | null;
  /** The last hour of lag, oldest first: the worst lag measured by the ticks of each 30 s (lag-history.ts). */
  lagHistory: LagSample[];
  /** Whether wake-ups are pushed (the source's bucket is in `PUSH_BUCKETS`), and what they did. */
  push: PushStats & { enabled: boolean };
  /** What the table's mirror used and costs (worker/cost.ts). */
  cost: MirrorObjectCost;
  /** The table's Iceberg views, when it has any (worker/view-status.ts). */
  iceberg?: TableViewStatus[];
  /** The table's drills: the interval, the one in progress, the last result (worker/drill.ts). */
  drill?: DrillStatus;
}
