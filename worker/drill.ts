/**
 * The drill: a scheduled deep verification of each table's mirror, from the
 * mirror alone, in the table's `MirrorObject`. Every `drillIntervalMs` (the
 * table's setting, else the `DRILL_INTERVAL_MS` var; default a week; "off"
 * turns it off) the object verifies the version its mirror holds then
 * (HEAD): every file that version names read whole and hashed against the
 * mirror's checksum record, each data file read as merutable reads it, the
 * manifest's checksum, schema and chain link (`verifyDeepSlice`,
 * src/mirror/deep-slice.ts: the library's deep verification, a bounded
 * slice at a time).
 *
 * A drill runs in slices across alarms, after the alarm's mirror tick and
 * only when that tick ended caught up without failing (the mirror goes
 * first; a drill waits while the mirror is behind), within what the tick
 * left of the alarm's request budget, and at most the alarm's byte budget:
 * so a big table never takes more of one alarm than its budget, and the
 * cursor (the next file) is kept in the object's state row between alarms.
 * The last result (ok, damaged, unchecked: files without a recorded
 * checksum, failed: the store could not be read), its date, the files
 * checked and each damaged file named are in the status (`drill`), in
 * `/metrics` (`tidemark_drill_*`), and damage is alerted as the lag is: a
 * line in the Worker's log (`console.error`, "tidemark: table T drill of vN
 * found damage ..."), where log-based alerting picks it up.
 */
import { toTidemarkError } from "../src/errors.ts";
import { verifyDeepSlice } from "../src/mirror/deep-slice.ts";
import type { DeepProblem } from "../src/mirror/verify.ts";
import { checkNumber, MAX_TIMER_MS, parseNumberOption } from "../src/options.ts";
import { metered } from "../src/store/metered.ts";
import type { ObjectStore } from "../src/store/types.ts";
import type { TableSetup } from "./config.ts";
import type { Env } from "./env.ts";
import { type PartMetric, partFamilies } from "./metric-part.ts";
import type { Family } from "./metrics.ts";
import type { MirrorObjectStatus } from "./object-state.ts";
import { perEnv } from "./per-env.ts";
import type { TableConfig } from "./table-config.ts";

/** How often a table is drilled by default: weekly. */
export const DEFAULT_DRILL_INTERVAL_MS = 7 * 86_400_000;
/** The rule of a drill interval: a minute at least, and an alarm's longest delay at most (about 24.8 days). */
const DRILL_RULE = { min: 60_000, max: MAX_TIMER_MS } as const;
/**
 * Requests a slice may take per file: its GET, a data file's footer (one
 * or two reads), the first or last page of two row groups when the
 * statistics cannot settle its keys, its deletion vector. And its own:
 * the retention boundary, the checksum record, the manifest.
 */
const REQUESTS_PER_FILE = 6;
const REQUESTS_PER_SLICE = 3;
/** Slices that fail (the store unreachable) before the drill ends as `failed`. */
const MAX_FAILED_SLICES = 5;
/** The damaged files a result names (their count is always whole). */
const MAX_NAMED = 100;

/** A table's drill interval: ms, or `"off"`. */
export type DrillInterval = number | "off";

/** What a drill found wrong with one file (or manifest): deep verification's problem, without its version. */
export type DrillProblem = Omit<DeepProblem, "version">;

/** A drill in progress: its cursor and what it found so far. */
export interface DrillRun {
  /** The version verified (the mirror's HEAD when the drill started). */
  version: number;
  startedAtMs: number;
  /** The next file to check (an index into the version's files, sorted by path). */
  next: number;
  /** Files the version names (0 until the first slice). */
  total: number;
  files: number;
  bytes: number;
  requests: number;
  slices: number;
  problems: DrillProblem[];
  /** Distinct files (and manifests) damaged: `problems` names at most 100 problems. */
  damagedFiles: number;
  unrecorded: number;
  /** Slices in a row that failed to read the store. */
  failedSlices: number;
}

/** How a drill ended. */
export type DrillOutcome = "ok" | "damaged" | "unchecked" | "failed";

/** A finished drill. */
export interface DrillResult {
  result: DrillOutcome;
  version: number;
  startedAtMs: number;
  finishedAtMs: number;
  /** Files read and hashed, and their bytes. */
  files: number;
  bytes: number;
  /** Store requests the drill made, and the alarms it took. */
  requests: number;
  slices: number;
  /** Distinct damaged files (and manifests). */
  damagedFiles: number;
  /** What is wrong, each naming the file (at most 100). */
  damaged: DrillProblem[];
  /** Files without a recorded checksum (copied before mirrors recorded them). */
  unrecorded: number;
  /** Why it could not check (`failed`), else null. */
  error: string | null;
}

/** What a table's object keeps of its drills (in its state row). */
export interface DrillState {
  /** When the next drill is due (epoch ms; `null`: none scheduled, the drill is off). */
  nextAtMs: number | null;
  /** A drill asked for now (the admin route): runs even with the drill off. */
  requested: boolean;
  running: DrillRun | null;
  last: DrillResult | null;
  /** Drills finished, and the store requests of every slice. */
  totals: { drills: number; requests: number };
}

/** The status's `drill` part. */
export interface DrillStatus extends DrillState {
  /** The interval in force; `null` with a bad `DRILL_INTERVAL_MS` (`error` says why). */
  intervalMs: DrillInterval | null;
  error: string | null;
}

export const freshDrillState = (): DrillState => ({
  nextAtMs: null,
  requested: false,
  running: null,
  last: null,
  totals: { drills: 0, requests: 0 },
});

/**
 * Checks a drill interval (a table's `drillIntervalMs`): `"off"`, or ms
 * from a minute to 2^31 - 1.
 *
 * @throws TidemarkError `InvalidArgument` naming `name`.
 */
export function checkDrillInterval(value: unknown, name: string): DrillInterval {
  if (value === "off") return "off";
  return checkNumber(name, value, DRILL_RULE);
}

/** `DRILL_INTERVAL_MS`: ms, `off`, or unset (weekly). Once per env. */
const drillVar = perEnv((env: Env): DrillInterval => {
  const raw = env.DRILL_INTERVAL_MS;
  if (raw?.trim() === "off") return "off";
  return parseNumberOption("DRILL_INTERVAL_MS", raw, DEFAULT_DRILL_INTERVAL_MS, DRILL_RULE);
});

/**
 * A table's drill interval: its own setting, else the var.
 *
 * @throws TidemarkError `InvalidArgument` for a bad `DRILL_INTERVAL_MS`.
 */
export function drillInterval(env: Env, config: TableConfig | undefined): DrillInterval {
  return config?.drillIntervalMs ?? drillVar(env);
}

/** What one alarm gives the drill, after the mirror's tick. */
export interface DrillTurn {
  table: string;
  /** The mirror's target (the drill only reads it). */
  target: ObjectStore;
  interval: DrillInterval;
  /** The tick ended caught up, without failing. */
  caughtUp: boolean;
  /** The mirror's HEAD. */
  mirrorSeq: number;
  /** The alarm's budget, and the requests the tick used of it. */
  budget: { requests: number; bytes: number };
  used: number;
  now: number;
}

function finish(run: DrillRun, now: number, error: string | null): DrillResult {
  const result: DrillOutcome =
    error !== null ? "failed" : run.damagedFiles > 0 ? "damaged" : run.unrecorded > 0 ? "unchecked" : "ok";
  return {
    result,
    version: run.version,
    startedAtMs: run.startedAtMs,
    finishedAtMs: now,
    files: run.files,
    bytes: run.bytes,
    requests: run.requests,
    slices: run.slices,
    damagedFiles: run.damagedFiles,
    damaged: run.problems,
    unrecorded: run.unrecorded,
    error,
  };
}

/** The log line a damaged (or unreadable) mirror raises, naming each damaged file. */
export function drillAlert(table: string, r: DrillResult): string {
  if (r.result === "failed")
    return `tidemark: table ${table} drill of v${r.version} could not check the mirror: ${r.error}`;
  const named = r.damaged.map((p) => `${p.key} (${p.kind}: ${p.detail})`).join("; ");
  const more = r.damagedFiles > new Set(r.damaged.map((p) => p.key)).size ? "; and more" : "";
  return `tidemark: table ${table} drill of v${r.version} found damage in ${r.damagedFiles} file(s): ${named}${more}`;
}

/**
 * A table's drill: its state (kept in the object's state row) and one
 * slice per alarm. See the module notes.
 */
export class TableDrill {
  state: DrillState;

  constructor(saved: DrillState | undefined) {
    this.state = saved ? { ...freshDrillState(), ...saved } : freshDrillState();
  }

  /** Asks for a drill now (the admin route): at the next alarm whose tick is caught up. */
  request(): void {
    this.state.requested = true;
  }

  status(interval: DrillInterval | null, error: string | null): DrillStatus {
    return { ...structuredClone(this.state), intervalMs: interval, error };
  }

  /**
   * After an alarm's tick: starts a drill when one is due, runs one slice of
   * the drill in progress when the tick left room for it, schedules the
   * next. Returns the delay the drill wants before the next alarm
   * (`Infinity`: none of its own). Never throws.
   */
  async turn(t: DrillTurn): Promise<number> {
    const s = this.state;
    if (t.interval === "off" && !s.requested) s.nextAtMs = null;
    else if (s.nextAtMs === null && t.interval !== "off") s.nextAtMs = t.now + t.interval;
    const due = s.requested || (s.nextAtMs !== null && s.nextAtMs <= t.now);
    if (s.running === null && !due)
      return s.nextAtMs === null ? Number.POSITIVE_INFINITY : s.nextAtMs - t.now;
    // The mirror goes first: a drill waits while it is behind (its own alarms come sooner anyway).
    if (!t.caughtUp || t.mirrorSeq === 0) return Number.POSITIVE_INFINITY;
    s.running ??= {
      version: t.mirrorSeq,
      startedAtMs: t.now,
      next: 0,
      total: 0,
      files: 0,
      bytes: 0,
      requests: 0,
      slices: 0,
      problems: [],
      damagedFiles: 0,
      unrecorded: 0,
      failedSlices: 0,
    };
    s.requested = false;
    const room = t.budget.requests - t.used - REQUESTS_PER_SLICE;
    // Too little left of this alarm: the next one, right after.
    if (room < REQUESTS_PER_FILE) return 0;
    await this.#slice(t, s.running, Math.floor(room / REQUESTS_PER_FILE));
    return s.running === null ? (s.nextAtMs === null ? Number.POSITIVE_INFINITY : s.nextAtMs - t.now) : 0;
  }

  async #slice(t: DrillTurn, run: DrillRun, maxFiles: number): Promise<void> {
    const s = this.state;
    const counted = metered(t.target);
    let error: string | null = null;
    try {
      const r = await verifyDeepSlice(counted, {
        version: run.version,
        from: run.next,
        maxFiles,
        maxBytes: t.budget.bytes,
      });
      run.slices++;
      run.failedSlices = 0;
      run.total = r.total;
      run.next = r.next;
      run.files += r.files;
      run.bytes += r.bytes;
      run.unrecorded += r.unrecorded.length;
      const damaged = new Set(r.problems.map((p) => p.key));
      run.damagedFiles += damaged.size;
      for (const p of r.problems) {
        if (run.problems.length < MAX_NAMED)
          run.problems.push({ key: p.key, kind: p.kind, detail: p.detail });
      }
    } catch (e) {
      const err = toTidemarkError(e);
      if (err.code === "NotFound") {
        // The version expired under retention meanwhile: start again from the mirror's HEAD.
        s.running = null;
        s.requested = true;
        return;
      }
      run.failedSlices++;
      if (run.failedSlices >= MAX_FAILED_SLICES) error = err.message;
      else console.warn(`tidemark: table ${t.table} drill slice failed (retried): ${err.message}`);
    } finally {
      const used = counted.counts();
      const requests = used.readClass + used.writeClass;
      run.requests += requests;
      s.totals.requests += requests;
    }
    // A slice to retry, or files left: the next alarm goes on.
    if (error === null && (run.failedSlices > 0 || run.next < run.total)) return;
    const result = finish(run, t.now, error);
    s.last = result;
    s.running = null;
    s.totals.drills++;
    s.nextAtMs = t.interval === "off" ? null : t.now + t.interval;
    if (result.result === "damaged" || result.result === "failed") console.error(drillAlert(t.table, result));
  }
}

const OUTCOME_VALUE: Record<DrillOutcome, number> = { ok: 1, unchecked: 0, damaged: -1, failed: -2 };

const METRICS: PartMetric<DrillStatus>[] = [
  [
    "tidemark_drill_last_timestamp_seconds",
    "When the table's last drill (a deep verification of its mirror) finished, Unix seconds (absent before the first).",
    "gauge",
    (d) => (d.last === null ? undefined : d.last.finishedAtMs / 1000),
  ],
  [
    "tidemark_drill_last_result",
    "The last drill's result: 1 ok, 0 unchecked (files without a recorded checksum), -1 damaged, -2 failed (the store could not be read).",
    "gauge",
    (d) => (d.last === null ? undefined : OUTCOME_VALUE[d.last.result]),
  ],
  [
    "tidemark_drill_damaged_files",
    "Files (and manifests) the last drill found damaged.",
    "gauge",
    (d) => d.last?.damagedFiles,
  ],
  ["tidemark_drill_files_checked", "Files the last drill read and hashed.", "gauge", (d) => d.last?.files],
  [
    "tidemark_drill_running",
    "1 while a drill is in progress (its slices run across alarms).",
    "gauge",
    (d) => (d.running === null ? 0 : 1),
  ],
  [
    "tidemark_drill_requests_total",
    "Store requests the drills made (reads of the target, inside each alarm's budget).",
    "counter",
    (d) => d.totals.requests,
  ],
];

/** The drill families of `/metrics`, one sample per table whose status has a drill part. */
export function drillFamilies(
  statuses: Array<{ table: string; status: MirrorObjectStatus | undefined }>,
): Family[] {
  return partFamilies(METRICS, statuses, (s) => s.drill);
}

/** The store requests a mirror's counters say it made (source and target). */
export function requestsMade(st: { counters: { requests: { read: number; write: number } } }): number {
  return st.counters.requests.read + st.counters.requests.write;
}

/**
 * The drill's turn after a tick of the table `setup` (see
 * {@link TableDrill.turn}): its interval (a bad `DRILL_INTERVAL_MS` is
 * logged and drills nothing), what the tick used of the alarm's budget.
 */
export function drillTurn(
  drill: TableDrill,
  env: Env,
  setup: TableSetup,
  st: { caughtUp: boolean; mirrorSeq: number; counters: { requests: { read: number; write: number } } },
  requestsBefore: number,
): Promise<number> {
  let interval: DrillInterval;
  try {
    interval = drillInterval(env, setup.config);
  } catch (e) {
    console.error(`tidemark: table ${setup.table}: no drill: ${toTidemarkError(e).message}`);
    return Promise.resolve(Number.POSITIVE_INFINITY);
  }
  return drill.turn({
    table: setup.table,
    target: setup.target,
    interval,
    caughtUp: st.caughtUp,
    mirrorSeq: st.mirrorSeq,
    budget: setup.vars.budget,
    used: requestsMade(st) - requestsBefore,
    now: Date.now(),
  });
}

/** The status's `drill` key (absent without a configuration). */
export function drillPart(
  drill: TableDrill,
  env: Env,
  setup: TableSetup | undefined,
): { drill?: DrillStatus } {
  if (setup === undefined) return {};
  try {
    return { drill: drill.status(drillInterval(env, setup.config), null) };
  } catch (e) {
    return { drill: drill.status(null, toTidemarkError(e).message) };
  }
}
