/**
 * A model-based test of the checkpoint mirror (fast-check `fc.commands`): a
 * LaminarDB-like writer publishes the attempts of the Python generator's pool
 * (test/support/laminardb_state_v2.py, `pools.lineage`: roots and deltas, some
 * with descriptors) in any order LaminarDB could (objects, then maybe a seal;
 * deltas only on sealed parents above the floor; floors that may cut chains;
 * sweeps below them), interleaved with mirror ticks under injected faults and
 * restarts with or without saved progress. After every command the target
 * must be sound (no seal without its objects, none that do not match, no kept
 * chain cut by its floor, the newest seal restorable); at the end a healthy
 * mirror must have copied every sealed source attempt whose chain is intact,
 * byte for byte.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as fc from "fast-check";
import { describe, it } from "vitest";
import { PRUNE_FLOOR_KEY, parseStateKey, STATE_V2_PREFIX } from "../../src/checkpoint/state-v2/keys.ts";
import { assertTargetSound, mirrorToCompletion } from "../contract/checkpoint-mirror.contract.ts";
import { MirrorWorld, mirrorCommands } from "../support/checkpoint-model.ts";
import { collect } from "../support/harness.ts";
import {
  bytesOf,
  type FixturePool,
  parseBundle,
  type Segment,
  writeRoot,
} from "../support/state-v2-fixtures.ts";

const RUNS = Number(process.env.CHECKPOINT_MODEL_RUNS ?? 100);
const SEED = Number(process.env.CHECKPOINT_MODEL_SEED ?? 20261207);

const root = join(import.meta.dirname, "..", "..");
const bundle = parseBundle(readFileSync(join(root, "test/fixtures/laminardb-state-v2.json"), "utf8"));
const maybePool = bundle.pools?.lineage;
if (!maybePool) throw new Error("the fixture bundle has no pools.lineage");
const pool: FixturePool = maybePool;
const EPOCHS = Object.keys(pool.attempts).map(Number);
const asMap = (o: Record<string, Segment[]>) => new Map(Object.entries(o).map(([k, v]) => [k, bytesOf(v)]));

/** What the writer has published. */
interface Model {
  next: number;
  begun: Set<number>;
  sealed: Set<number>;
  before: number;
  swept: number;
}

class World extends MirrorWorld {
  async floor(before: number, swept: number): Promise<void> {
    const f = pool.floors[`${before}/${swept}`];
    assert.ok(f, `pool floor ${before}/${swept}`);
    await this.source.put(PRUNE_FLOOR_KEY, bytesOf(f));
  }
}

type Cmd = fc.AsyncCommand<Model, World>;

const parentOf = (e: number) => {
  const p = pool.attempts[String(e)]?.parent;
  return p === null || p === undefined ? undefined : Number(p);
};

/** LaminarDB writes attempt `next` (or skips the ID: sparse IDs are normal) and, maybe, seals it at once. */
class Begin implements Cmd {
  readonly sealNow: boolean;
  constructor(sealNow: boolean) {
    this.sealNow = sealNow;
  }
  check = (m: Readonly<Model>) => m.next <= Math.max(...EPOCHS);
  async run(m: Model, w: World): Promise<void> {
    const e = m.next++;
    const parent = parentOf(e);
    // Below the floor writes fail; a delta is built only on a sealed parent above the floor.
    if (e < m.before || (parent !== undefined && (!m.sealed.has(parent) || parent < m.before))) return;
    const a = pool.attempts[String(e)];
    assert.ok(a);
    await writeRoot(w.source, asMap(a.objects));
    m.begun.add(e);
    if (this.sealNow) {
      await writeRoot(w.source, asMap(a.seal));
      m.sealed.add(e);
    }
  }
  toString = () => `begin${this.sealNow ? "+seal" : ""}`;
}

/** A late seal of an attempt written earlier. */
class Seal implements Cmd {
  readonly epoch: number;
  constructor(epoch: number) {
    this.epoch = epoch;
  }
  check = (m: Readonly<Model>) =>
    m.begun.has(this.epoch) && !m.sealed.has(this.epoch) && this.epoch >= m.before;
  async run(m: Model, w: World): Promise<void> {
    const a = pool.attempts[String(this.epoch)];
    assert.ok(a);
    await writeRoot(w.source, asMap(a.seal));
    m.sealed.add(this.epoch);
  }
  toString = () => `seal(${this.epoch})`;
}

/** A new prune floor (it may cut a chain LaminarDB keeps: the mirror must hold it back then). */
class Floor implements Cmd {
  readonly before: number;
  constructor(before: number) {
    this.before = before;
  }
  check = (m: Readonly<Model>) => this.before > m.before && [...m.sealed].some((e) => e >= this.before);
  async run(m: Model, w: World): Promise<void> {
    await w.floor(this.before, m.swept);
    m.before = this.before;
  }
  toString = () => `floor(${this.before})`;
}

/** The sweep: everything below the floor deleted, then the cursor published. */
class Sweep implements Cmd {
  check = (m: Readonly<Model>) => m.before > m.swept;
  async run(m: Model, w: World): Promise<void> {
    const doomed = (await collect(w.source.list(STATE_V2_PREFIX)))
      .map((o) => o.key)
      .filter((k) => {
        const p = parseStateKey(k);
        return "attempt" in p && p.attempt.epoch < BigInt(m.before);
      });
    if (doomed.length > 0) await w.source.deleteMany(doomed);
    await w.floor(m.before, m.before);
    m.swept = m.before;
  }
  toString = () => "sweep";
}

// Weighted by repetition (fc.commands picks uniformly): writes and ticks are most of the traffic.
const commands = [
  fc.boolean().map((s) => new Begin(s)),
  fc.boolean().map((s) => new Begin(s)),
  fc.constant(new Begin(true)),
  fc.constant(new Begin(true)),
  fc.constantFrom(...EPOCHS).map((e) => new Seal(e)),
  fc.constantFrom(2, 4, 6, 8, 10).map((b) => new Floor(b)),
  fc.constant(new Sweep()),
  ...mirrorCommands<Model, World>((_m, w, label) => assertTargetSound(w.target, label)),
];

/** Whether every ancestor of `e` is sealed and at or above the floor (what the mirror can copy). */
function chainIntact(e: number, m: Model): boolean {
  for (let p = parentOf(e); p !== undefined; p = parentOf(p))
    if (!m.sealed.has(p) || p < m.before) return false;
  return true;
}

/** What the runs exercised (asserted at the end: a model that never reached a case proves nothing of it). */
const seen = {
  runs: 0,
  seals: 0,
  floors: 0,
  sweeps: 0,
  copied: 0,
  pruned: 0,
  held: 0,
  targetFloors: 0,
  faultyTicks: 0,
};

describe("checkpoint mirror model", () => {
  it(`${RUNS} random publish/tick/fault/restart sequences keep the target sound and end complete (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: "max" }), async (cmds) => {
        const w = new World();
        await writeRoot(w.source, asMap(pool.namespace));
        const m: Model = { next: 1, begun: new Set(), sealed: new Set(), before: 0, swept: 0 };
        await fc.asyncModelRun(() => ({ model: m, real: w }), cmds);
        const cmdNames = [...cmds].map(String);
        seen.runs++;
        seen.seals += cmdNames.filter((c) => c.includes("seal")).length;
        seen.floors += cmdNames.filter((c) => c.startsWith("floor")).length;
        seen.sweeps += cmdNames.filter((c) => c === "sweep").length;
        seen.faultyTicks += cmdNames.filter((c) => c.startsWith("tick(")).length;
        if (w.mirror.status().floor.held) seen.held++;
        // A healthy mirror (restarted with its progress) finishes the job.
        await w.mirror.shutdown();
        w.mirror = w.fresh();
        await mirrorToCompletion(w.mirror);
        await assertTargetSound(w.target, "at the end");
        const onTarget = new Set<number>();
        for (const o of await collect(w.target.list(STATE_V2_PREFIX))) {
          const k = parseStateKey(o.key);
          if (k.kind === "seal") onTarget.add(Number(k.attempt.epoch));
          // Byte for byte what LaminarDB wrote (the pool, the namespace, a floor it published).
          if ("attempt" in k) {
            const a = pool.attempts[String(k.attempt.epoch)];
            const expected = a?.objects[o.key] ?? a?.seal[o.key];
            assert.ok(expected, `${o.key} is not LaminarDB's`);
            assert.deepEqual(await (await w.target.get(o.key)).bytes(), bytesOf(expected), o.key);
          }
        }
        const status = w.mirror.status();
        seen.copied += status.counters.attempts;
        seen.pruned += status.counters.pruned;
        if (status.floor.target !== null) seen.targetFloors++;
        for (const e of m.sealed) {
          if (e >= m.before && chainIntact(e, m))
            assert.ok(onTarget.has(e), `sealed attempt ${e} was not copied`);
        }
        // What the target keeps below the source's floor is only what a kept chain needs.
        for (const e of onTarget) {
          if (e >= m.before) continue;
          const kept = [...onTarget].some((x) => {
            for (let p = parentOf(x); p !== undefined; p = parentOf(p)) if (p === e) return x >= m.before;
            return false;
          });
          const status = w.mirror.status();
          assert.ok(
            kept || status.floor.held !== null,
            `attempt ${e} below the floor ${m.before} kept for nothing`,
          );
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false },
    );
    console.log(`checkpoint mirror model: ${JSON.stringify(seen)}`);
    // Every kind of situation was reached, many times.
    for (const [k, v] of Object.entries(seen)) assert.ok(v >= Math.min(5, RUNS / 10), `${k}: ${v}`);
  }, 300_000);
});
