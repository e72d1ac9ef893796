/**
 * The Worker's checkpoint routes (worker/index.ts lists them): the roots a
 * credential may read, a root's loop status, its attempts on either side
 * (seal, sizes, lineage, what the verifier finds), a tick now (admin), and
 * the roots' `/metrics` families.
 *
 * A root is read with the credentials a table is, and by the same rule
 * (`canRead`): a credential for every table reads every root;
 * `READ_TOKEN_TABLES` may name roots beside tables.
 */
import type { MiddlewareHandler } from "hono";
import { type StateV2Report, verifyStateV2 } from "../src/checkpoint/state-v2/verify.ts";
import { TidemarkError } from "../src/errors.ts";
import { canRead, type ReadGrant } from "./auth.ts";
import { checkpointRoots, checkpointSetup, validateRoot } from "./checkpoint-config.ts";
import type { CheckpointObjectStatus } from "./checkpoint-state.ts";
import type { Env } from "./env.ts";
import { renderMetrics } from "./metrics.ts";
import { read, type WorkerApp, type WorkerContext } from "./middleware.ts";

/** The Durable Object of checkpoint root `root`. */
export function checkpointObject(env: Env, root: string) {
  return env.CHECKPOINT_OBJECT.get(env.CHECKPOINT_OBJECT.idFromName(validateRoot(root)));
}

/** `read`, and the credential must cover the route's `:root`. */
export const readRoot: MiddlewareHandler<WorkerApp> = (c, next) =>
  read(c, async () => {
    const root = validateRoot(c.req.param("root") ?? "");
    if (!canRead(c.get("grant"), root)) {
      throw new TidemarkError("PermissionDenied", `this credential does not cover checkpoint root ${root}`);
    }
    await next();
  });

/** The route's root, configured (`NotFound` before any object is touched for a name nobody configured). */
function routeRoot(c: WorkerContext): string {
  const root = validateRoot(c.req.param("root") ?? "");
  if (!checkpointRoots(c.env).includes(root)) {
    throw new TidemarkError("NotFound", `no checkpoint root ${root} is configured`);
  }
  return root;
}

/** `GET /api/checkpoints`: the roots the credential may read. */
export async function listCheckpointsRoute(c: WorkerContext): Promise<Response> {
  const grant = c.get("grant");
  return c.json({ roots: checkpointRoots(c.env).filter((r) => canRead(grant, r)) });
}

/** `GET /api/checkpoints/:root/status`: the loop's status (worker/checkpoint-state.ts). */
export async function checkpointStatusRoute(c: WorkerContext): Promise<Response> {
  const root = routeRoot(c);
  return c.json(await checkpointObject(c.env, root).status(root));
}

/** `POST /api/checkpoints/:root/kick` (admin): a tick now; starts a loop a fatal failure stopped. */
export async function checkpointKickRoute(c: WorkerContext): Promise<Response> {
  const root = routeRoot(c);
  return c.json(await checkpointObject(c.env, root).kick(root));
}

/** How much `GET .../attempts` reads: `?check=`. */
const CHECKS = {
  /** The listing, the namespace, the floor and each seal (each object checked against its seal by listed size). */
  listing: { objects: false, hashes: false },
  /** And every partial's and descriptor's header (a ranged GET each). */
  headers: { objects: true, hashes: false },
  /** And every payload's SHA-256 (a GET of every byte). */
  full: { objects: true, hashes: true },
} as const;

/**
 * `GET /api/checkpoints/:root/attempts[?side=target|source][&check=listing|headers|full]`:
 * the root's attempts on that side (default: the target) as the verifier
 * reads them: state, seal, objects and bytes, lineage (the chain of
 * ancestors its seal names), restorable; the candidate; every finding by key.
 * u64 values are decimal strings (exact beyond 2^53).
 */
export async function checkpointAttemptsRoute(c: WorkerContext): Promise<Response> {
  const root = routeRoot(c);
  const side = c.req.query("side") ?? "target";
  if (side !== "target" && side !== "source") {
    throw new TidemarkError("InvalidArgument", "side must be target or source");
  }
  const check = c.req.query("check") ?? "listing";
  if (!Object.hasOwn(CHECKS, check)) {
    throw new TidemarkError("InvalidArgument", `check must be one of ${Object.keys(CHECKS).join(", ")}`);
  }
  const setup = checkpointSetup(c.env, root);
  const report = await verifyStateV2(setup[side], CHECKS[check as keyof typeof CHECKS]);
  return c.body(
    JSON.stringify({ root, side, check, store: setup[side].name, ...withLineage(report) }, u64),
    200,
    {
      "Content-Type": "application/json; charset=utf-8",
    },
  );
}

/** BigInts as decimal strings: a u64 epoch beyond 2^53 stays exact. */
const u64 = (_key: string, v: unknown) => (typeof v === "bigint" ? String(v) : v);

/** The report, each attempt with its lineage: itself, then every ancestor its seals name, newest first. */
function withLineage(r: StateV2Report) {
  const parents = new Map(r.attempts.map((a) => [a.epoch, a.seal?.parents ?? []]));
  return {
    ...r,
    attempts: r.attempts.map((a) => {
      const chain = new Set<bigint>();
      const todo = [a.epoch];
      const missing: bigint[] = [];
      while (todo.length > 0) {
        const e = todo.shift() as bigint;
        if (chain.has(e)) continue;
        chain.add(e);
        const up = parents.get(e);
        if (up === undefined) missing.push(e);
        else todo.push(...up);
      }
      return { ...a, lineage: { chain: [...chain].sort((x, y) => (x < y ? 1 : -1)), missing } };
    }),
  };
}

/** The `/metrics` families of the roots the credential may read, from each root's status. */
export async function checkpointMetrics(env: Env, grant: ReadGrant): Promise<string> {
  let all: string[];
  try {
    all = checkpointRoots(env);
  } catch {
    // A CHECKPOINT_CONFIG that does not parse: said so, without taking the tables' series down with it.
    return renderMetrics([
      {
        name: "tidemark_checkpoint_config_valid",
        help: "0 when CHECKPOINT_CONFIG does not parse (GET /api/checkpoints says why).",
        type: "gauge",
        samples: [{ labels: {}, value: 0 }],
      },
    ]);
  }
  const roots = all.filter((r) => canRead(grant, r));
  if (roots.length === 0) return "";
  const statuses = await Promise.all(
    roots.map(async (root) => {
      try {
        return { root, s: await checkpointObject(env, root).status(root) };
      } catch {
        return { root, s: undefined }; // reported as tidemark_checkpoint_up 0
      }
    }),
  );
  // name (after tidemark_checkpoint_), type, help, value (null: no sample)
  const families: Array<[string, "gauge" | "counter", string, (s: CheckpointObjectStatus) => number | null]> =
    [
      [
        "caught_up",
        "gauge",
        "1 when the target holds every sealed attempt the source has.",
        (s) => (s.caughtUp ? 1 : 0),
      ],
      ["pending_attempts", "gauge", "Source attempts above the target's not handled yet.", (s) => s.pending],
      [
        "lag_seconds",
        "gauge",
        "Seconds the target has lacked an attempt the source has.",
        (s) => s.lagSeconds,
      ],
      [
        "source_newest_epoch",
        "gauge",
        "The newest attempt the source listed (sealed or not).",
        (s) => num(s.sourceNewest),
      ],
      [
        "target_newest_epoch",
        "gauge",
        "The newest attempt sealed on the target.",
        (s) => num(s.targetNewestSealed),
      ],
      [
        "restorable",
        "gauge",
        "1 when the target's newest sealed attempt above its floor has its whole chain there.",
        (s) => (s.candidate === null ? null : s.candidate.restorable ? 1 : 0),
      ],
      [
        "stopped",
        "gauge",
        "1 when a failure no retry fixes (SplitBrain...) stopped the loop; POST .../kick restarts it.",
        (s) => (s.stopped ? 1 : 0),
      ],
      [
        "skipped_attempts",
        "gauge",
        "Source attempts not copied (damaged, or built on one the target lacks), the last 100.",
        (s) => s.skipped.length,
      ],
      [
        "attempts_total",
        "counter",
        "Attempts copied and sealed on the target.",
        (s) => s.counters?.attempts ?? 0,
      ],
      ["objects_total", "counter", "Partials and descriptors copied.", (s) => s.counters?.objects ?? 0],
      ["bytes_total", "counter", "Bytes copied to the target.", (s) => s.counters?.bytes ?? 0],
      [
        "pruned_total",
        "counter",
        "Objects deleted from the target below its floor.",
        (s) => s.counters?.pruned ?? 0,
      ],
      ["failures_total", "counter", "Failed ticks.", (s) => s.counters?.failures ?? 0],
    ];
  return renderMetrics([
    {
      name: "tidemark_checkpoint_up",
      help: "1 when the checkpoint root's object answered.",
      type: "gauge",
      samples: statuses.map(({ root, s }) => ({ labels: { root }, value: s ? 1 : 0 })),
    },
    ...families.map(([name, type, help, value]) => ({
      name: `tidemark_checkpoint_${name}`,
      help,
      type,
      samples: statuses.flatMap(({ root, s }) => {
        const v = s ? value(s) : null;
        return v === null ? [] : [{ labels: { root }, value: v }];
      }),
    })),
  ]);
}

/** A u64 decimal as a gauge's value (a float: exact up to 2^53). */
const num = (v: string | null): number | null => (v === null ? null : Number(v));

/**
 * The cron's visit: makes sure every root's loop runs (one Durable Object
 * request per root and run, no store request; a loop that stopped on a
 * fatal failure stays stopped). Roots are few, and live in the vars: every run visits each.
 */
export async function ensureCheckpointLoops(env: Env): Promise<void> {
  let roots: string[];
  try {
    roots = checkpointRoots(env);
  } catch (e) {
    console.warn(`tidemark: cron: CHECKPOINT_CONFIG: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const results = await Promise.allSettled(roots.map((r) => checkpointObject(env, r).ensure(r)));
  results.forEach((r, i) => {
    if (r.status === "rejected") {
      console.warn(
        `tidemark: cron: checkpoint root ${roots[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
      );
    }
  });
}
