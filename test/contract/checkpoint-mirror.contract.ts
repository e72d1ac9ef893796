/**
 * The checkpoint mirror on any pair of stores: the source roots change as the
 * timelines of test/support/laminardb_state_v2.py say (attempts sealed,
 * abandoned, a floor published, swept, a floor that would cut a kept chain),
 * and the target must hold what the generator says after each step, read back
 * by the verifier with no problem: never a `_SEAL` whose objects are missing,
 * never a floor above an ancestor the target keeps. The crash sweep checks
 * that at every request of the target.
 */
import assert from "node:assert/strict";
import { CheckpointMirror } from "../../src/checkpoint/mirror.ts";
import type {
  CheckpointMirrorProgress,
  CheckpointMirrorProgressStore,
} from "../../src/checkpoint/mirror-progress.ts";
import {
  NAMESPACE_KEY,
  PRUNE_FLOOR_KEY,
  parseStateKey,
  STATE_V2_PREFIX,
} from "../../src/checkpoint/state-v2/keys.ts";
import { sealedObjects } from "../../src/checkpoint/state-v2/mirror-copy.ts";
import { decodePruneFloor } from "../../src/checkpoint/state-v2/namespace.ts";
import { decodeSeal } from "../../src/checkpoint/state-v2/seal.ts";
import { verifyStateV2 } from "../../src/checkpoint/state-v2/verify.ts";
import { isTidemarkError } from "../../src/errors.ts";
import { isContentEtag } from "../../src/mirror/origin.ts";
import { faulty } from "../../src/store/faulty.ts";
import { metered } from "../../src/store/metered.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { collect, type Harness } from "../support/harness.ts";
import { recording } from "../support/mirror-fixture.ts";
import {
  applyStep,
  bytesOf,
  type FixtureBundle,
  rootOf,
  type Segment,
  writeRoot,
} from "../support/state-v2-fixtures.ts";

/** Tests whose logic is store-independent: run on memory and directories, skipped on services (CI time). */
export const SERVICE_SKIPS: Record<string, string> = {
  "timeline held-floor: after each step the target holds what the generator says, sound and byte for byte the source's":
    "store-independent (the steady timeline writes and prunes floors here), run on memory and directories",
  "a floor that would cut a chain the target keeps is held back, and said so":
    "store-independent (the held-floor timeline runs here), run on memory and directories",
  "saved progress is bound to the target: a wiped target is noticed and filled again":
    "store-independent, run on memory and directories",
  "a tick within a small request budget makes progress, and the ticks together finish the job":
    "store-independent, run on memory and directories",
  "a seal whose put lost its response still keeps its chain from a later floor":
    "the lost response is injected by a wrapper: store-independent, run on memory and directories",
  "lost responses on every create converge, with no false SplitBrain":
    "the faults are injected by a wrapper: store-independent, run on memory and directories",
};

export interface CheckpointMirrorContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  /** Run the crash sweep (a crash at every request of the target): memory only, thousands of requests. */
  exhaustive?: boolean;
  timeoutMs?: number;
  /** Called with the number of crash points swept. */
  onCrashPoints?: (n: number) => void;
}

/** A source, a target, and a maker of more empty stores of the kind. */
export interface CheckpointPair {
  source: ObjectStore;
  target: ObjectStore;
  another(): ObjectStore;
}

/** Ticks until caught up (at most `max` ticks); returns the ticks taken. */
export async function mirrorToCompletion(m: CheckpointMirror, max = 50): Promise<number> {
  for (let i = 1; i <= max; i++) {
    await m.tick();
    const s = m.status();
    if (s.caughtUp) return i;
  }
  throw new Error(`checkpoint mirror not caught up after ${max} ticks: ${JSON.stringify(m.status())}`);
}

/**
 * Runs `steps` (each changes the source), ticking `m` after each until it
 * is caught up (at most 20 ticks), and calls `check` after every tick with
 * a label naming the step; returns `m`.
 */
export async function tickThroughSteps(
  m: CheckpointMirror,
  steps: ReadonlyArray<() => Promise<void>>,
  check: (label: string) => Promise<void>,
): Promise<CheckpointMirror> {
  for (const [i, step] of steps.entries()) {
    await step();
    for (let k = 0; k < 20; k++) {
      await m.tick();
      await check(`step ${i + 1}`);
      if (m.status().caughtUp) break;
    }
  }
  return m;
}

/**
 * The crash-point sweep of a checkpoint mirror (either layout): `run` once on
 * a counting target to learn how many requests the scenario makes, then once
 * per request k on a fresh pair whose target crashes at its k-th request;
 * after each, a fresh mirror of the same pair must finish the job and
 * `after` checks what it left. `run` asserts what any reader of the target
 * may rely on after every tick. Returns the number of crash points.
 */
export async function crashSweep<P extends { source: ObjectStore; target: ObjectStore }>(o: {
  label: string;
  makePair: () => P | Promise<P>;
  run: (pair: P, target: ObjectStore) => Promise<CheckpointMirror>;
  after: (pair: P, label: string) => Promise<void>;
}): Promise<number> {
  const clean = await o.makePair();
  const counted = faulty(clean.target, {});
  await o.run(clean, counted);
  const K = counted.requests();
  assert.ok(K > 20, `${o.label}: ${K} requests`);
  for (let k = 1; k <= K; k++) {
    const pair = await o.makePair();
    const m = await o.run(pair, faulty(pair.target, { crashAt: k }));
    assert.ok(m.status().counters.failures > 0, `${o.label} k=${k}: the crash happened`);
    await mirrorToCompletion(new CheckpointMirror({ source: pair.source, target: pair.target }));
    await o.after(pair, `${o.label} k=${k}`);
  }
  return K;
}

const readBytes = async (s: ObjectStore, k: string) => (await s.get(k)).bytes();

/** The target's sealed attempts (epochs, ascending) and its floor's before_epoch. */
async function targetHolds(target: ObjectStore): Promise<{ sealed: string[]; floor: string | null }> {
  const sealed: bigint[] = [];
  for (const m of await collect(target.list(STATE_V2_PREFIX))) {
    const k = parseStateKey(m.key);
    if (k.kind === "seal") sealed.push(k.attempt.epoch);
  }
  let floor: string | null = null;
  try {
    const f = decodePruneFloor(await readBytes(target, PRUNE_FLOOR_KEY));
    if ("rule" in f) throw new Error(`target floor: ${f.message}`);
    floor = String(f.beforeEpoch);
  } catch (e) {
    if (!isTidemarkError(e, "NotFound")) throw e;
  }
  return { sealed: sealed.sort((a, b) => (a < b ? -1 : 1)).map(String), floor };
}

/**
 * What every reader of the target may rely on, at any moment: the verifier
 * finds no problem (every seal's objects present and matching, namespace and
 * floor canonical, the newest sealed attempt restorable) and no older sealed
 * attempt's chain reaches below the floor or a missing attempt.
 */
export async function assertTargetSound(target: ObjectStore, label: string): Promise<void> {
  const r = await verifyStateV2(target);
  assert.deepEqual(
    r.problems.map((p) => `${p.rule} ${p.key}`),
    [],
    `${label}: the target has problems: ${JSON.stringify(r.problems)}`,
  );
  const chains = r.warnings.filter((w) => w.rule.startsWith("ancestor-") || w.rule === "lineage-parent");
  assert.deepEqual(chains, [], `${label}: a kept chain is cut`);
  if (r.candidate) assert.equal(r.restorable, true, `${label}: ${r.candidate.why}`);
  // Below the floor too (a reader that ignores the floor): no seal without the objects it names.
  const keys = new Set((await collect(target.list(STATE_V2_PREFIX))).map((o) => o.key));
  for (const key of keys) {
    const k = parseStateKey(key);
    if (k.kind !== "seal") continue;
    const seal = decodeSeal(await readBytes(target, key), k.attempt);
    if ("rule" in seal) throw new Error(`${label}: ${key}: ${seal.message}`);
    for (const o of sealedObjects(k.attempt, seal))
      assert.ok(keys.has(o.key), `${label}: ${key} names ${o.key}, missing`);
  }
}

/**
 * Every object of the target is byte for byte the source's, where the source
 * still has it: equal content etags (the MD5 of a single-part upload, on S3
 * and R2) prove it without reading; anything else (other etags, a directory's
 * or memory's) means reading both.
 */
async function assertSameBytes(source: ObjectStore, target: ObjectStore, label: string): Promise<void> {
  const onSource = new Map((await collect(source.list(STATE_V2_PREFIX))).map((o) => [o.key, o.etag]));
  for (const m of await collect(target.list(STATE_V2_PREFIX))) {
    const etag = onSource.get(m.key);
    if (etag === undefined) continue; // swept on the source, kept (or not yet pruned) here
    if (isContentEtag(etag) && m.etag === etag) continue;
    assert.deepEqual(await readBytes(target, m.key), await readBytes(source, m.key), `${label}: ${m.key}`);
  }
}

/** A progress store in memory, whose last save tests can read. */
export function memoryProgress(): CheckpointMirrorProgressStore & {
  saved: CheckpointMirrorProgress | undefined;
} {
  const s = {
    saved: undefined as CheckpointMirrorProgress | undefined,
    load: async () => s.saved,
    save: async (p: CheckpointMirrorProgress) => {
      s.saved = p;
    },
  };
  return s;
}

/**
 * Mirrors `source` to `target` until caught up, then asserts that one more
 * tick reads no checkpoint again: `lists` LISTs and no GET or HEAD on the
 * source, one HEAD (the target's newest seal) and nothing else on the
 * target, and still caught up. Returns the mirror.
 */
export async function assertIdleTick(
  source: ObjectStore,
  target: ObjectStore,
  lists: number,
): Promise<CheckpointMirror> {
  const src = metered(source);
  const dst = metered(target);
  const m = new CheckpointMirror({ source: src, target: dst });
  await mirrorToCompletion(m);
  src.reset();
  dst.reset();
  await m.tick();
  assert.deepEqual(
    { list: src.counts().list, get: src.counts().get, head: src.counts().head },
    { list: lists, get: 0, head: 0 },
  );
  assert.deepEqual(
    { head: dst.counts().head, writes: dst.counts().writeClass, get: dst.counts().get },
    { head: 1, writes: 0, get: 0 },
  );
  assert.equal(m.status().caughtUp, true);
  return m;
}

/**
 * Declares the tests of a checkpoint mirror contract: each on a fresh pair,
 * unless `opts.skip` names it or it is exhaustive and `opts` is not (then it
 * is declared as skipped, with the reason in its title).
 */
export function pairTest(
  h: Harness,
  makePair: () => CheckpointPair | Promise<CheckpointPair>,
  opts: CheckpointMirrorContractOptions,
): (name: string, fn: (p: CheckpointPair) => Promise<void>, o?: { exhaustive?: boolean }) => void {
  const t = { timeoutMs: opts.timeoutMs ?? 60_000 };
  return (name, fn, o = {}) => {
    const reason =
      opts.skip?.[name] ?? (o.exhaustive && !opts.exhaustive ? "exhaustive, memory only" : undefined);
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makePair()), t);
  };
}

export function checkpointMirrorContract(
  h: Harness,
  bundle: FixtureBundle,
  makePair: () => CheckpointPair | Promise<CheckpointPair>,
  opts: CheckpointMirrorContractOptions = {},
): void {
  const test = pairTest(h, makePair, opts);
  const timeline = (name: string) => {
    const tl = bundle.timelines[name];
    if (!tl) throw new Error(`no timeline ${name}`);
    return tl;
  };

  for (const name of Object.keys(bundle.timelines)) {
    test(`timeline ${name}: after each step the target holds what the generator says, sound and byte for byte the source's`, async ({
      source,
      target,
    }) => {
      const m = new CheckpointMirror({ source, target });
      for (const [i, step] of timeline(name).steps.entries()) {
        await applyStep(source, step);
        await mirrorToCompletion(m);
        const label = `${name} step ${i + 1}`;
        assert.deepEqual(
          await targetHolds(target),
          { sealed: step.expect.sealed, floor: step.expect.floor },
          label,
        );
        await assertTargetSound(target, label);
        await assertSameBytes(source, target, label);
        assert.equal(m.status().lastError, null, label);
      }
    });
  }

  test("a floor that would cut a chain the target keeps is held back, and said so", async ({
    source,
    target,
  }) => {
    const m = new CheckpointMirror({ source, target });
    const steps = timeline("held-floor").steps;
    for (const step of steps.slice(0, 2)) {
      await applyStep(source, step);
      await mirrorToCompletion(m);
    }
    const s = m.status();
    assert.equal(s.floor.source, "6");
    assert.equal(s.floor.target, null);
    assert.match(s.floor.held?.because ?? "", /attempt 6, which the target keeps, is built on attempt 5/);
    await applyStep(source, steps[2] as (typeof steps)[number]);
    await mirrorToCompletion(m);
    assert.deepEqual(m.status().floor, { source: "8", target: "8", held: null });
  });

  test("incremental: an idle tick reads no attempt again (source: 2 LISTs, no GET; target: 1 HEAD)", async ({
    source,
    target,
  }) => {
    const steps = timeline("steady").steps;
    for (const step of steps.slice(0, 2)) await applyStep(source, step);
    // The delimited listing of state-v2/, and one of epoch 3 (partials, no seal yet).
    const m = await assertIdleTick(source, target, 2);
    assert.equal(m.status().newestCopied, "2");
  });

  test("a source attempt whose objects do not match its seal is skipped, and so is every attempt built on it", async ({
    source,
    target,
  }) => {
    const c = bundle.cases["wrong-hash"];
    assert.ok(c);
    await writeRoot(source, rootOf(bundle, c));
    const m = new CheckpointMirror({ source, target });
    await mirrorToCompletion(m);
    const s = m.status();
    assert.deepEqual(
      s.skipped.map((x) => x.epoch),
      ["2", "3"],
    );
    assert.match(s.skipped[0]?.reason ?? "", /SHA-256/);
    assert.match(s.skipped[1]?.reason ?? "", /built on attempt 2/);
    assert.deepEqual((await targetHolds(target)).sealed, ["1"]);
    await assertTargetSound(target, "wrong-hash");
    // Nothing of the damaged partial was written.
    assert.equal(
      (await collect(target.list("state-v2/epoch=2/"))).some((o) => o.key.endsWith("vnode=1/partial.bin")),
      false,
    );
  });

  test("a target holding another deployment's namespace is SplitBrain, and nothing is written", async ({
    source,
    target,
    another,
  }) => {
    const single = bundle.cases["single-root"];
    const chain = bundle.cases["incremental-chain"];
    assert.ok(single && chain);
    await writeRoot(source, rootOf(bundle, chain));
    const other = another();
    await writeRoot(other, rootOf(bundle, single));
    await new CheckpointMirror({ source: other, target }).tick();
    const before = await collect(target.list(""));
    const errors: string[] = [];
    const m = new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) });
    await m.tick();
    assert.match(errors[0] ?? "", /^\[SplitBrain\] .*another state namespace/);
    assert.deepEqual(
      (await collect(target.list(""))).map((o) => o.key),
      before.map((o) => o.key),
    );
  });

  test("saved progress is bound to the target: a wiped target is noticed and filled again", async ({
    source,
    target,
  }) => {
    const chain = bundle.cases["incremental-chain"];
    assert.ok(chain);
    await writeRoot(source, rootOf(bundle, chain));
    const progress = memoryProgress();
    const m = new CheckpointMirror({ source, target, progress });
    await mirrorToCompletion(m);
    assert.equal(progress.saved?.through, "3");
    await target.deleteMany((await collect(target.list(""))).map((o) => o.key));
    // A live mirror notices at its next tick; a new one does not trust the saved progress.
    await mirrorToCompletion(m);
    assert.deepEqual((await targetHolds(target)).sealed, ["1", "2", "3"]);
    await target.deleteMany((await collect(target.list(""))).map((o) => o.key));
    const fresh = new CheckpointMirror({ source, target, progress });
    await mirrorToCompletion(fresh);
    assert.deepEqual((await targetHolds(target)).sealed, ["1", "2", "3"]);
    assert.equal(
      fresh.status().counters.attempts,
      m.status().counters.attempts + 3,
      "the totals carried over",
    );
    await assertTargetSound(target, "refilled");
  });

  test("a tick within a small request budget makes progress, and the ticks together finish the job", async ({
    source,
    target,
  }) => {
    const chain = bundle.cases["cluster-chain"];
    assert.ok(chain);
    await writeRoot(source, rootOf(bundle, chain));
    const m = new CheckpointMirror({ source, target, budget: { requests: 8 } });
    const ticks = await mirrorToCompletion(m, 100);
    assert.ok(ticks > 3, `${ticks} ticks`);
    assert.deepEqual((await targetHolds(target)).sealed, ["1", "2", "3"]);
    await assertTargetSound(target, "budgeted");
    await assertSameBytes(source, target, "budgeted");
  });

  test("lost responses on every create converge, with no false SplitBrain", async ({ source, target }) => {
    const chain = bundle.cases["incremental-chain"];
    assert.ok(chain);
    await writeRoot(source, rootOf(bundle, chain));
    const lossy = faulty(target, { lostResponseRate: 1, kinds: ["create"], seed: 3 });
    const errors: string[] = [];
    const m = new CheckpointMirror({ source, target: lossy, onError: (e) => errors.push(e.message) });
    await mirrorToCompletion(m, 200);
    assert.equal(errors.filter((e) => e.includes("SplitBrain")).length, 0, errors.join("\n"));
    assert.ok(lossy.injected() >= 14, `${lossy.injected()} lost responses`);
    await assertTargetSound(target, "lossy");
    await assertSameBytes(source, target, "lossy");
  });

  test("a seal whose put lost its response still keeps its chain from a later floor", async ({
    source,
    target,
  }) => {
    const pool = bundle.pools?.lineage;
    assert.ok(pool);
    const put = async (o: Record<string, Segment[]>) =>
      writeRoot(source, new Map(Object.entries(o).map(([k, v]) => [k, bytesOf(v)])));
    await put(pool.namespace);
    for (const e of ["1", "2"]) {
      const a = pool.attempts[e];
      assert.ok(a);
      await put(a.objects);
      await put(a.seal);
    }
    // Every create lands and its response is lost: tick until attempt 2's seal is there.
    const lossy = faulty(target, { lostResponseRate: 1, kinds: ["create"], seed: 5 });
    const progress = memoryProgress();
    const m = new CheckpointMirror({ source, target: lossy, progress });
    for (let i = 0; i < 40 && (await targetHolds(target)).sealed.length < 2; i++) await m.tick();
    assert.deepEqual((await targetHolds(target)).sealed, ["1", "2"]);
    // LaminarDB publishes a floor that retires attempt 1, which attempt 2 is built on, and sweeps.
    await put({ [PRUNE_FLOOR_KEY]: pool.floors["2/2"] as Segment[] });
    await source.deleteMany((await collect(source.list("state-v2/epoch=1/"))).map((o) => o.key));
    const healthy = new CheckpointMirror({ source, target, progress });
    await mirrorToCompletion(healthy);
    assert.equal(healthy.status().floor.held?.before, "2");
    await assertTargetSound(target, "after the floor");
  });

  test(
    "a crash at every request of the target, then a fresh mirror: no reader ever finds a torn seal or a floor above a kept ancestor",
    async () => {
      let points = 0;
      for (const name of Object.keys(bundle.timelines)) {
        const steps = timeline(name).steps;
        points += await crashSweep({
          label: name,
          makePair,
          run: (pair, target) =>
            tickThroughSteps(
              new CheckpointMirror({ source: pair.source, target }),
              steps.map((step) => () => applyStep(pair.source, step)),
              // The raw target, as any reader sees it after the crash (or between ticks).
              (label) => assertTargetSound(pair.target, `${name} ${label}`),
            ),
          after: async (pair, label) => {
            const last = steps.at(-1)?.expect;
            assert.deepEqual(
              await targetHolds(pair.target),
              { sealed: last?.sealed, floor: last?.floor },
              label,
            );
            await assertTargetSound(pair.target, `${label} after the restart`);
            await assertSameBytes(pair.source, pair.target, label);
          },
        });
      }
      opts.onCrashPoints?.(points);
    },
    { exhaustive: true },
  );

  test("the namespace is the first object the target gets", async ({ source, target }) => {
    const chain = bundle.cases["floor-leftovers"];
    assert.ok(chain);
    await writeRoot(source, rootOf(bundle, chain));
    const rec = recording(target);
    await mirrorToCompletion(new CheckpointMirror({ source, target: rec }));
    // The first successful write of each key, in order.
    const order = [...rec.writes.keys()];
    assert.equal(order[0], NAMESPACE_KEY);
    assert.equal(order.at(-1), PRUNE_FLOOR_KEY, "the floor last");
    for (const e of ["10", "11"]) {
      const seal = order.indexOf(`state-v2/epoch=${e}/checkpoint=${e}/_SEAL`);
      const objects = order.filter((k) => k.startsWith(`state-v2/epoch=${e}/`) && !k.endsWith("_SEAL"));
      assert.ok(seal > 0 && objects.length > 0);
      for (const k of objects) assert.ok(order.indexOf(k) < seal, `${k} before its seal`);
    }
    // Attempts below the source's floor (8, 9) are dead to LaminarDB: not copied.
    assert.equal(
      order.some((k) => k.includes("epoch=8/") || k.includes("epoch=9/")),
      false,
    );
  });
}
