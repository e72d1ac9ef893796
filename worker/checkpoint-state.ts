/**
 * The shapes a `CheckpointObject` keeps and reports: the one row an alarm
 * writes ({@link CheckpointTickState}), the status it returns over RPC
 * ({@link CheckpointObjectStatus}), and the target's restorable candidate as
 * the mirror recorded it ({@link candidateOf}), which costs no request.
 */
import type { CheckpointMirrorStatus } from "../src/checkpoint/mirror.ts";
import {
  byEpoch,
  type CheckpointMirrorCounters,
  type CheckpointMirrorProgress,
} from "../src/checkpoint/mirror-progress.ts";
import type { CostMark, DurableObjectUsage, MirrorObjectCost } from "./cost.ts";
import type { LagSample } from "./lag-history.ts";

/** The root's name (an alarm may wake the object with no caller). */
export const K_ROOT = "root";
/** Everything an alarm changes ({@link CheckpointTickState}), in one row. */
export const K_CHECKPOINT_STATE = "state";

/** A failure no retry fixes (`FATAL_MIRROR_CODES`): the loop stopped until an operator kicks it. */
export interface StoppedBy {
  code: string;
  message: string;
  atMs: number;
}

/** What an alarm persists, as one storage row. */
export interface CheckpointTickState {
  /** The mirror's progress (`null`: no tick saved any yet). */
  progress: CheckpointMirrorProgress | null;
  failures: number;
  lagHistory: LagSample[];
  durableObject: DurableObjectUsage;
  costMarks: CostMark[];
  stopped: StoppedBy | null;
  /** Since when the target lacks an attempt the source has (`null`: caught up at the last tick). */
  behindSinceMs: number | null;
}

/** The target's newest sealed attempt above its floor, and whether its chain is whole there. */
export interface CheckpointCandidate {
  epoch: string;
  restorable: boolean;
  /** Its lineage, newest first: the attempt, then every ancestor its seals name. */
  chain: string[];
  why: string;
}

/**
 * The target's candidate, from what the mirror recorded of it (the seals it
 * holds and their parents, its floor): restorable when every ancestor in the
 * chain is sealed there and not below the floor. The mirror seals an
 * attempt only after its ancestors, so this is `false` only while the
 * record and the target disagree; the attempts route verifies the target
 * itself (`verifyStateV2`).
 */
export function candidateOf(p: CheckpointMirrorProgress | null): CheckpointCandidate | null {
  if (p === null) return null;
  const floor = p.floor === null ? 0n : BigInt(p.floor);
  const epoch = Object.keys(p.attempts)
    .filter((e) => BigInt(e) >= floor)
    .sort(byEpoch)
    .at(-1);
  if (epoch === undefined) return null;
  const chain: string[] = [];
  const todo = [epoch];
  let broken: string | undefined;
  while (todo.length > 0) {
    const e = todo.shift() as string;
    if (chain.includes(e)) continue;
    chain.push(e);
    const parents = p.attempts[e];
    if (parents === undefined) broken ??= `ancestor ${e} is not sealed on the target`;
    else if (BigInt(e) < floor) broken ??= `ancestor ${e} is below the target's floor (${p.floor})`;
    else todo.push(...parents);
  }
  chain.sort((a, b) => byEpoch(b, a));
  return {
    epoch,
    restorable: broken === undefined,
    chain,
    why:
      broken ??
      (chain.length === 1
        ? `attempt ${epoch} is a root: every partial is whole`
        : `attempt ${epoch} and its ancestors ${chain.slice(1).join(", ")} are sealed on the target, above its floor`),
  };
}

/** What `status()` returns over RPC (plain data). */
export interface CheckpointObjectStatus {
  root: string;
  /** The names of the source and target stores (never a credential); `null` when the configuration is bad. */
  source: string | null;
  target: string | null;
  /** The newest attempt the source listed (sealed or not), and its floor's `before_epoch`. */
  sourceNewest: string | null;
  sourceFloor: string | null;
  /** The newest attempt sealed on the target, its floor, and its restorable candidate. */
  targetNewestSealed: string | null;
  targetFloor: string | null;
  candidate: CheckpointCandidate | null;
  /** The newest source attempt handled (copied, or skipped) and those not handled yet. */
  through: string | null;
  pending: number;
  caughtUp: boolean;
  /** Seconds the target has lacked an attempt the source has (0 when caught up; `null` before a tick). */
  lagSeconds: number | null;
  lagHistory: LagSample[];
  floorHeld: { before: string; because: string } | null;
  inProgress: CheckpointMirrorStatus["inProgress"];
  skipped: CheckpointMirrorStatus["skipped"];
  counters: CheckpointMirrorCounters | null;
  lastError: { message: string; atMs: number } | null;
  /** Set when a failure no retry fixes stopped the loop (`POST .../kick` starts it again). */
  stopped: StoppedBy | null;
  nextAlarmMs: number | null;
  consecutiveFailures: number;
  /** The store requests of the last alarm this instance ran (against `settings.budget.requests`). */
  lastAlarm: { requests: number; atMs: number } | null;
  settings: {
    pollIntervalMs: number;
    parallelism: number;
    budget: { requests: number; bytes: number };
  } | null;
  cost: MirrorObjectCost;
}
