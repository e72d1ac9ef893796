/**
 * A model-based test of the checkpoint mirror over the layout LaminarDB wrote
 * before state-v2 (fast-check `fc.commands`): a writer (`CheckpointStore`,
 * the port of LaminarDB's backend of that time) begins epochs (partials, and
 * maybe a commit descriptor and source offsets), rewrites partials of
 * unsealed ones (plain overwrites, as a retried writer does), seals them at
 * once or late, abandons some and prunes below an epoch, interleaved
 * with mirror ticks under injected faults and restarts with or without saved
 * progress. After every tick the target must be sound: every object on it
 * belongs to an epoch the source sealed, every `_COMMIT` there has its
 * epoch's objects with the bytes they had when it was sealed, and its newest
 * sealed epoch never goes away. At the end a healthy mirror holds exactly the
 * source's sealed epochs (and its own newest, if the source pruned it), and
 * nothing below what the source pruned.
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import { describe, it } from "vitest";
import { CheckpointStore } from "../../src/checkpoint/checkpoint-store.ts";
import { parseEpochKey } from "../../src/checkpoint/layout.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { mirrorToCompletion } from "../contract/checkpoint-mirror.contract.ts";
import { MirrorWorld, mirrorCommands } from "../support/checkpoint-model.ts";
import { collect } from "../support/harness.ts";

const RUNS = Number(process.env.CHECKPOINT_MODEL_RUNS ?? 100);
const SEED = Number(process.env.CHECKPOINT_MODEL_SEED ?? 20261207);
const MAX_EPOCH = 12;
const enc = new TextEncoder();

/** What the writer has done. */
interface Model {
  next: number;
  /** Epochs begun and not pruned, unsealed. */
  open: Set<number>;
  /** Epochs sealed and not pruned. */
  sealed: Set<number>;
  /** Every epoch ever sealed: its objects' bytes when it was sealed (the marker included). */
  atSeal: Map<number, Map<string, Uint8Array>>;
  /** The source pruned every epoch below this one. */
  prunedBelow: number;
  /** Rewrites so far (a partial's bytes change with each). */
  writes: number;
}

class World extends MirrorWorld {
  readonly cp = new CheckpointStore(this.source, { instanceId: "node-1", vnodeCapacity: 2 });
  /** The target's newest sealed epoch after the last tick (it never goes away). */
  targetNewest = -1;
}

type Cmd = fc.AsyncCommand<Model, World>;

/** Epoch `e`'s sealed epochs on `store`, and every object of the layout there by epoch. */
async function layoutOf(store: ObjectStore): Promise<{ sealed: Set<number>; keys: Map<number, string[]> }> {
  const sealed = new Set<number>();
  const keys = new Map<number, string[]>();
  for (const m of await collect(store.list("epoch="))) {
    const k = parseEpochKey(m.key);
    assert.ok(k?.kind, `${m.key} is not of the layout`);
    const e = Number(k.epoch);
    if (k.kind === "commit-marker") sealed.add(e);
    keys.set(e, [...(keys.get(e) ?? []), m.key]);
  }
  return { sealed, keys };
}

/** LaminarDB begins epoch `next` (partials; maybe a descriptor and offsets) and maybe seals it at once. */
class Begin implements Cmd {
  readonly sealNow: boolean;
  readonly extras: boolean;
  constructor(sealNow: boolean, extras: boolean) {
    this.sealNow = sealNow;
    this.extras = extras;
  }
  check = (m: Readonly<Model>) => m.next <= MAX_EPOCH;
  async run(m: Model, w: World): Promise<void> {
    const e = m.next++;
    for (const v of [0, 1]) await w.cp.writePartial(v, e, 1, enc.encode(`e${e} v${v} w${m.writes++}`));
    if (this.extras) {
      await w.cp.writeCommitDescriptor(e, "node=1/sink=orders", 1, enc.encode(`{"e":${e}}`));
      await w.cp.writeSourceOffsets(e, "node-1", 1, enc.encode(`{"p0":${e * 7}}`));
    }
    m.open.add(e);
    if (this.sealNow) await seal(m, w, e);
  }
  toString = () => `begin(${this.sealNow ? "seal" : "open"}${this.extras ? "+extras" : ""})`;
}

async function seal(m: Model, w: World, e: number): Promise<void> {
  assert.equal(await w.cp.sealEpoch(e, [0, 1]), true);
  m.open.delete(e);
  m.sealed.add(e);
  const objects = new Map<string, Uint8Array>();
  for (const o of await collect(w.source.list(`epoch=${e}/`))) {
    objects.set(o.key, await (await w.source.get(o.key)).bytes());
  }
  m.atSeal.set(e, objects);
}

/** A retried (or fenced-out) writer rewrites a partial of an unsealed epoch: a plain overwrite. */
class Rewrite implements Cmd {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.open.size > 0;
  async run(m: Model, w: World): Promise<void> {
    const e = [...m.open][this.pick % m.open.size] as number;
    await w.cp.writePartial(this.pick % 2, e, 1, enc.encode(`e${e} rewritten w${m.writes++}`));
  }
  toString = () => `rewrite(${this.pick})`;
}

/** A late seal of an epoch begun earlier. */
class LateSeal implements Cmd {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.open.size > 0;
  async run(m: Model, w: World): Promise<void> {
    await seal(m, w, [...m.open][this.pick % m.open.size] as number);
  }
  toString = () => `seal-late(${this.pick})`;
}

/**
 * The source is pruned below one of its epochs: a sealed one (LaminarDB keeps
 * its latest committed epoch), or one still open (an operator's
 * `checkpoint prune --force`), which leaves the source no committed epoch: the
 * target must keep its newest then.
 */
class Prune implements Cmd {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => [...m.sealed, ...m.open].some((e) => e > m.prunedBelow);
  async run(m: Model, w: World): Promise<void> {
    const candidates = [...m.sealed, ...m.open].filter((e) => e > m.prunedBelow).sort((a, b) => a - b);
    const before = candidates[this.pick % candidates.length] as number;
    const r = await w.cp.pruneBefore(before);
    assert.deepEqual(r.failed, []);
    m.prunedBelow = before;
    for (const s of [m.open, m.sealed]) for (const e of [...s]) if (e < before) s.delete(e);
  }
  toString = () => `prune(${this.pick})`;
}

/**
 * What any reader of the target may rely on: only epochs the source sealed,
 * each `_COMMIT` with its epoch's objects as they were when sealed, and the
 * newest sealed epoch never gone.
 */
async function assertSound(m: Model, w: World, label: string): Promise<void> {
  const { sealed, keys } = await layoutOf(w.target);
  for (const [e, list] of keys) {
    const objects = m.atSeal.get(e);
    assert.ok(objects, `${label}: the target has objects of epoch ${e}, which the source never sealed`);
    if (!sealed.has(e)) continue;
    for (const [key, bytes] of objects) {
      assert.ok(list.includes(key), `${label}: epoch ${e} is sealed on the target, ${key} is missing`);
      assert.deepEqual(await (await w.target.get(key)).bytes(), bytes, `${label}: ${key}`);
    }
  }
  const newest = Math.max(-1, ...sealed);
  assert.ok(
    newest >= w.targetNewest,
    `${label}: the target's newest sealed epoch ${w.targetNewest} went away`,
  );
  w.targetNewest = newest;
}

const pick = fc.integer({ min: 0, max: 1_000 });
// Weighted by repetition (fc.commands picks uniformly): writes and ticks are most of the traffic.
const commands = [
  fc.tuple(fc.boolean(), fc.boolean()).map(([s, x]) => new Begin(s, x)),
  fc.boolean().map((x) => new Begin(true, x)),
  fc.boolean().map((x) => new Begin(true, x)),
  pick.map((p) => new Rewrite(p)),
  pick.map((p) => new LateSeal(p)),
  pick.map((p) => new Prune(p)),
  ...mirrorCommands<Model, World>(assertSound),
];

/** What the runs exercised (asserted at the end: a model that never reached a case proves nothing of it). */
const seen = {
  runs: 0,
  lateSeals: 0,
  rewrites: 0,
  prunes: 0,
  copied: 0,
  pruned: 0,
  faultyTicks: 0,
  restarts: 0,
};

describe("legacy checkpoint mirror model", () => {
  it(`${RUNS} random write/seal/prune/tick/fault/restart sequences keep the target sound and end complete (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: "max" }), async (cmds) => {
        const w = new World();
        const m: Model = {
          next: 0,
          open: new Set(),
          sealed: new Set(),
          atSeal: new Map(),
          prunedBelow: 0,
          writes: 0,
        };
        await fc.asyncModelRun(() => ({ model: m, real: w }), cmds);
        const names = [...cmds].map(String);
        seen.runs++;
        seen.lateSeals += names.filter((c) => c.startsWith("seal-late")).length;
        seen.rewrites += names.filter((c) => c.startsWith("rewrite")).length;
        seen.prunes += names.filter((c) => c.startsWith("prune")).length;
        seen.faultyTicks += names.filter((c) => c.startsWith("tick(")).length;
        seen.restarts += names.filter((c) => c.startsWith("restart")).length;
        // A healthy mirror (restarted with its progress) finishes the job.
        await w.mirror.shutdown();
        w.mirror = w.fresh();
        await mirrorToCompletion(w.mirror);
        await assertSound(m, w, "at the end");
        const { sealed, keys } = await layoutOf(w.target);
        const expected = new Set(m.sealed);
        // The target's newest, if the source pruned it (the source then holds no sealed epoch above it).
        if (w.targetNewest >= 0 && !m.sealed.has(w.targetNewest)) expected.add(w.targetNewest);
        assert.deepEqual(
          [...sealed].sort((a, b) => a - b),
          [...expected].sort((a, b) => a - b),
        );
        // Nothing below what the source pruned, but the newest sealed epoch.
        const floor = Math.min(m.prunedBelow, w.targetNewest < 0 ? m.prunedBelow : w.targetNewest);
        for (const e of keys.keys())
          assert.ok(e >= floor, `epoch ${e} below ${floor} is still on the target`);
        const s = w.mirror.status();
        seen.copied += s.counters.attempts;
        seen.pruned += s.counters.pruned;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false },
    );
    console.log(`legacy checkpoint mirror model: ${JSON.stringify(seen)}`);
    // Every kind of situation was reached, many times.
    for (const [k, v] of Object.entries(seen)) assert.ok(v >= Math.min(5, RUNS / 10), `${k}: ${v}`);
  }, 300_000);
});
