/**
 * The checkpoint mirror over the layout LaminarDB wrote before `state-v2`
 * (`epoch={E}/...`), on any pair of stores. The source is written by
 * `CheckpointStore` (the port of LaminarDB's backend of that time) through a
 * timeline (epochs sealed, one abandoned, one sealed late, the source pruned
 * down to an unsealed epoch, then on), and by the Python generator's
 * `legacy` root. After every tick, any reader of the target may rely on:
 * every `_COMMIT` there has every partial, commit descriptor and source
 * offsets object its epoch had on the source when sealed, byte for byte (the
 * crash sweep checks that at every request of the target).
 */
import assert from "node:assert/strict";
import { CheckpointStore } from "../../src/checkpoint/checkpoint-store.ts";
import { parseEpochKey } from "../../src/checkpoint/layout.ts";
import { verifyLegacyCheckpoints } from "../../src/checkpoint/legacy-verify.ts";
import { CheckpointMirror } from "../../src/checkpoint/mirror.ts";
import { isContentEtag } from "../../src/mirror/origin.ts";
import { faulty } from "../../src/store/faulty.ts";
import type { ObjectMeta, ObjectStore } from "../../src/store/types.ts";
import { collect, type Harness } from "../support/harness.ts";
import { recording } from "../support/mirror-fixture.ts";
import { bytesOf, type FixtureBundle, rootOf, writeRoot } from "../support/state-v2-fixtures.ts";
import {
  assertIdleTick,
  type CheckpointMirrorContractOptions,
  type CheckpointPair,
  crashSweep,
  memoryProgress,
  mirrorToCompletion,
  pairTest,
  tickThroughSteps,
} from "./checkpoint-mirror.contract.ts";

/** Tests whose logic is store-independent: run on memory and directories, skipped on services (CI time). */
export const LEGACY_SERVICE_SKIPS: Record<string, string> = {
  "incremental: an idle tick reads no epoch again (source: one LIST per unsealed epoch and one of the root; target: 1 HEAD)":
    "request counts of the mirror's own logic: run on memory and directories",
  "saved progress resumes without copying again; a wiped target is noticed and filled again":
    "store-independent, run on memory and directories",
  "lost responses on every create converge, with no false SplitBrain":
    "the faults are injected by a wrapper: store-independent, run on memory and directories",
  "a mirror pinned to state-v2 refuses this layout (NotSupported), as the Worker's does; another layout is InvalidArgument":
    "store-independent, run on memory and directories",
  "a target holding state-v2 checkpoints is refused (NotSupported), and nothing is written":
    "store-independent, run on memory and directories",
  "order: each epoch's objects before its _COMMIT, epochs oldest first":
    "the order is the mirror's own (recorded by a wrapper): run on memory and directories",
  "a target holding another job's checkpoints is SplitBrain, and nothing is written":
    "CI time: the proof of origin on S3 (content etags) is exercised by the foreign _COMMIT test; run on memory and directories",
  "the generator's root (the seed layout): copied whole, and the verifier says of the copy what it says of the source":
    "CI time: the timeline copies the same kinds of objects on S3; run on memory and directories",
};

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);
const readBytes = async (s: ObjectStore, k: string) => (await s.get(k)).bytes();

/** The source's sealed epochs: each one's objects (the marker included), their bytes and etags there. */
type SealedEpochs = Map<string, Map<string, { bytes: Uint8Array; etag: string }>>;

/**
 * The source's timeline: each step changes it as a LaminarDB job (or two
 * committers sharing a root) could; `expect` is the target's sealed epochs once caught up.
 */
function legacyTimeline(source: ObjectStore): Array<{ step: () => Promise<void>; expect: string[] }> {
  const cp = new CheckpointStore(source, { instanceId: "node-1", vnodeCapacity: 2 });
  const epoch = async (e: number, seal: boolean, extra = true) => {
    await cp.writePartial(0, e, 1, b(`v0 of ${e}`));
    await cp.writePartial(1, e, 1, b(`vnode 1 of epoch ${e}`));
    if (extra) {
      await cp.writeCommitDescriptor(e, "node=1/sink=orders", 1, b(`{"txn":${e}}`));
      await cp.writeSourceOffsets(e, "node-1", 1, b(`{"p0":${e * 10}}`));
    }
    if (seal) assert.equal(await cp.sealEpoch(e, [0, 1], extra ? ["node=1/sink=orders"] : []), true);
  };
  return [
    // Epoch 2's partials are there, unsealed: not committed, not copied.
    { step: async () => Promise.all([epoch(1, true), epoch(2, false)]).then(() => {}), expect: ["1"] },
    // 4 sealed without descriptors, 3 abandoned (never sealed); 2 still unsealed.
    {
      step: async () => {
        await epoch(4, true, false);
        await epoch(3, false);
      },
      expect: ["1", "4"],
    },
    // 2 sealed late, after the mirror passed it: copied now.
    {
      step: async () => {
        assert.equal(await cp.sealEpoch(2, [0, 1], ["node=1/sink=orders"]), true);
      },
      expect: ["1", "2", "4"],
    },
    // The source pruned below 5, whose partials are not sealed yet: the target keeps its newest, 4.
    {
      step: async () => {
        await epoch(5, false);
        await cp.pruneBefore(5);
      },
      expect: ["4"],
    },
    // 5 and 6 sealed: 4 is no longer the newest, and the source pruned it.
    {
      step: async () => {
        assert.equal(await cp.sealEpoch(5, [0, 1], ["node=1/sink=orders"]), true);
        await epoch(6, true);
      },
      expect: ["5", "6"],
    },
  ];
}

/** The source's sealed epochs and their objects, added to `seen` (sealed objects never change). */
async function recordSealed(source: ObjectStore, seen: SealedEpochs): Promise<void> {
  const byEpoch = new Map<string, ObjectMeta[]>();
  for (const m of await collect(source.list("epoch="))) {
    const k = parseEpochKey(m.key);
    if (k?.kind === undefined) continue;
    const listed = byEpoch.get(String(k.epoch)) ?? [];
    listed.push(m);
    byEpoch.set(String(k.epoch), listed);
  }
  for (const [e, listed] of byEpoch) {
    if (seen.has(e) || !listed.some((m) => m.key === `epoch=${e}/_COMMIT`)) continue;
    const objects = new Map<string, { bytes: Uint8Array; etag: string }>();
    for (const m of listed) objects.set(m.key, { bytes: await readBytes(source, m.key), etag: m.etag });
    seen.set(e, objects);
  }
}

/** The target's epochs with a `_COMMIT`, ascending. */
async function sealedOn(target: ObjectStore): Promise<string[]> {
  const out: bigint[] = [];
  for (const m of await collect(target.list("epoch="))) {
    const k = parseEpochKey(m.key);
    if (k?.kind === "commit-marker") out.push(k.epoch);
  }
  return out.sort((x, y) => (x < y ? -1 : 1)).map(String);
}

/**
 * What every reader of the target may rely on, at any moment: each `_COMMIT`
 * there is one the source wrote, and its epoch's objects are all there with
 * the bytes they had on the source when it was sealed; the verifier finds no
 * problem.
 */
export async function assertLegacySound(
  target: ObjectStore,
  seen: SealedEpochs,
  label: string,
): Promise<void> {
  const r = await verifyLegacyCheckpoints(target);
  assert.deepEqual(r.problems, [], `${label}: the target has problems`);
  const onTarget = new Map((await collect(target.list("epoch="))).map((m) => [m.key, m.etag]));
  for (const e of await sealedOn(target)) {
    const objects = seen.get(e);
    assert.ok(objects, `${label}: the target has epoch ${e} sealed, which the source never sealed`);
    for (const [key, { bytes, etag }] of objects) {
      const there = onTarget.get(key);
      assert.ok(there !== undefined, `${label}: epoch ${e} is sealed on the target, ${key} is missing`);
      // Equal content etags (an MD5, on S3) are equal bytes; anything else is read.
      if (isContentEtag(etag) && there === etag) continue;
      assert.deepEqual(await readBytes(target, key), bytes, `${label}: ${key}`);
    }
  }
}

export function legacyMirrorContract(
  h: Harness,
  bundle: FixtureBundle,
  makePair: () => CheckpointPair | Promise<CheckpointPair>,
  opts: CheckpointMirrorContractOptions = {},
): void {
  const test = pairTest(h, makePair, opts);
  /** The Python generator's root in the layout before state-v2, written into `store`. */
  const writeGenerated = async (store: ObjectStore) => {
    const c = bundle.cases.legacy;
    assert.ok(c);
    await writeRoot(store, rootOf(bundle, c));
  };
  /** Runs the timeline on `pair`'s source, the mirror ticking onto `target` (the pair's, maybe wrapped). */
  const runTimeline = (pair: CheckpointPair, target: ObjectStore, seen: SealedEpochs) => {
    const steps = legacyTimeline(pair.source);
    return tickThroughSteps(
      new CheckpointMirror({ source: pair.source, target }),
      steps.map(({ step }) => async () => {
        await step();
        await recordSealed(pair.source, seen);
      }),
      (label) => assertLegacySound(pair.target, seen, label),
    );
  };

  test("timeline: after each step the target holds the source's sealed epochs, byte for byte, and nothing unsealed", async (pair) => {
    const seen: SealedEpochs = new Map();
    const m = new CheckpointMirror({ source: pair.source, target: pair.target });
    for (const [i, { step, expect }] of legacyTimeline(pair.source).entries()) {
      await step();
      await recordSealed(pair.source, seen);
      await mirrorToCompletion(m);
      const label = `step ${i + 1}`;
      assert.deepEqual(await sealedOn(pair.target), expect, label);
      await assertLegacySound(pair.target, seen, label);
      assert.equal(m.status().lastError, null, label);
      assert.equal(m.status().layout, "legacy");
      // Unsealed epochs (2 at step 1, the abandoned 3) have nothing on the target.
      const keys = (await collect(pair.target.list("epoch="))).map((o) => o.key);
      for (const key of keys) {
        const e = String(parseEpochKey(key)?.epoch);
        assert.ok(expect.includes(e), `${label}: ${key} is on the target, epoch ${e} is not sealed there`);
      }
    }
    const s = m.status();
    assert.deepEqual([s.newestCopied, s.sourceNewest, s.counters.attempts], ["6", "6", 5]);
    assert.equal(
      s.counters.pruned,
      5 + 5 + 3,
      "epochs 1 and 2 (5 objects each), then 4 (no descriptor, no offsets)",
    );
  });

  test("the generator's root (the seed layout): copied whole, and the verifier says of the copy what it says of the source", async ({
    source,
    target,
  }) => {
    await writeGenerated(source);
    await mirrorToCompletion(new CheckpointMirror({ source, target }));
    const [a, z] = await Promise.all([verifyLegacyCheckpoints(source), verifyLegacyCheckpoints(target)]);
    assert.deepEqual(z.candidate, a.candidate);
    assert.deepEqual(
      z.epochs.map((e) => [e.epoch, e.partials, e.descriptors, e.sourceOffsets, e.committer]),
      a.epochs
        .filter((e) => e.sealed)
        .map((e) => [e.epoch, e.partials, e.descriptors, e.sourceOffsets, e.committer]),
    );
    for (const m of await collect(target.list(""))) {
      assert.deepEqual(await readBytes(target, m.key), await readBytes(source, m.key), m.key);
    }
  });

  test("order: each epoch's objects before its _COMMIT, epochs oldest first", async ({ source, target }) => {
    await writeGenerated(source);
    const rec = recording(target);
    await mirrorToCompletion(new CheckpointMirror({ source, target: rec }));
    const order = [...rec.writes.keys()];
    assert.deepEqual(
      order.filter((k) => k.endsWith("/_COMMIT")),
      ["epoch=1/_COMMIT", "epoch=2/_COMMIT"],
    );
    for (const e of ["1", "2"]) {
      const marker = order.indexOf(`epoch=${e}/_COMMIT`);
      const objects = order.filter((k) => k.startsWith(`epoch=${e}/`) && !k.endsWith("_COMMIT"));
      assert.ok(objects.length >= 2);
      for (const k of objects) assert.ok(order.indexOf(k) < marker, `${k} before its marker`);
    }
    assert.ok(order.indexOf("epoch=1/_COMMIT") < order.indexOf("epoch=2/vnode=0/partial.bin"));
  });

  test("incremental: an idle tick reads no epoch again (source: one LIST per unsealed epoch and one of the root; target: 1 HEAD)", async ({
    source,
    target,
  }) => {
    await writeGenerated(source);
    // The delimited listing of epoch=, and one of epoch 3 (a partial, no _COMMIT yet).
    const m = await assertIdleTick(source, target, 2);
    assert.equal(m.status().newestCopied, "2");
  });

  test("a target holding another job's checkpoints is SplitBrain, and nothing is written", async ({
    source,
    target,
    another,
  }) => {
    // Another job, same committer id and epoch numbers, other state; mirrored first.
    const other = another();
    const theirs = new CheckpointStore(other, { instanceId: "node-1", vnodeCapacity: 1 });
    const ours = new CheckpointStore(source, { instanceId: "node-1", vnodeCapacity: 1 });
    for (const e of [1, 2]) {
      await theirs.writePartial(0, e, 0, b(`theirs ${e}`));
      await theirs.sealEpoch(e, [0]);
      await ours.writePartial(0, e, 0, b(`ours ${e}!`));
      await ours.sealEpoch(e, [0]);
    }
    await mirrorToCompletion(new CheckpointMirror({ source: other, target }));
    const before = await collect(target.list(""));
    const errors: string[] = [];
    const listing = async () => (await collect(target.list(""))).map((o) => [o.key, o.etag]);
    await new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) }).tick();
    assert.match(errors[0] ?? "", /^\[SplitBrain\] .*epoch=2\/vnode=0\/partial\.bin/);
    assert.deepEqual(
      await listing(),
      before.map((o) => [o.key, o.etag]),
    );
    // A target ahead of the source: another history too.
    await ours.writePartial(0, 3, 0, b("3"));
    await theirs.writePartial(0, 3, 0, b("3"));
    await theirs.sealEpoch(3, [0]);
    await theirs.writePartial(0, 4, 0, b("4"));
    await theirs.sealEpoch(4, [0]);
    await mirrorToCompletion(new CheckpointMirror({ source: other, target }));
    const ahead = await collect(target.list(""));
    await new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) }).tick();
    assert.match(errors[1] ?? "", /^\[SplitBrain\] .*epoch 4 sealed, past the source's newest epoch \(3\)/);
    assert.deepEqual(
      await listing(),
      ahead.map((o) => [o.key, o.etag]),
    );
    // The source pruned past the target's newest epoch, which another source's mirror copied there.
    for (const e of [5, 6]) {
      await ours.writePartial(0, e, 0, b(`ours ${e}`));
      await ours.sealEpoch(e, [0]);
    }
    await ours.pruneBefore(5);
    await new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) }).tick();
    assert.match(
      errors[2] ?? "",
      /^\[SplitBrain\] .*newest sealed epoch 4 is no longer on the source, and was not copied from it/,
    );
    assert.deepEqual(
      await listing(),
      ahead.map((o) => [o.key, o.etag]),
    );
  });

  test("a _COMMIT already on the target with other bytes is SplitBrain, and stays as it was", async ({
    source,
    target,
  }) => {
    const cp = new CheckpointStore(source, { instanceId: "node-1", vnodeCapacity: 1 });
    await cp.writePartial(0, 1, 0, b("one"));
    await cp.sealEpoch(1, [0]);
    const errors: string[] = [];
    const m = new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) });
    await mirrorToCompletion(m);
    await cp.writePartial(0, 2, 0, b("two"));
    await cp.sealEpoch(2, [0]);
    // Another committer sealed epoch 2 on the target, whose partial is the source's.
    await target.put("epoch=2/vnode=0/partial.bin", b("two"));
    await target.put("epoch=2/_COMMIT", b("node-9"));
    // The live mirror meets it copying epoch 2; a new one, checking the target's newest epoch.
    const fresh = new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) });
    await m.tick();
    await fresh.tick();
    assert.equal(errors.length, 2);
    for (const e of errors) assert.match(e, /^\[SplitBrain\] .*epoch=2\/_COMMIT/);
    assert.deepEqual(await readBytes(target, "epoch=2/_COMMIT"), b("node-9"));
  });

  test("a target holding state-v2 checkpoints is refused (NotSupported), and nothing is written", async ({
    source,
    target,
  }) => {
    await writeGenerated(source);
    const ns = bundle.cases["single-root"]?.objects["state-v2/_NAMESPACE"];
    assert.ok(ns);
    await target.put("state-v2/_NAMESPACE", bytesOf(ns));
    const errors: string[] = [];
    await new CheckpointMirror({ source, target, onError: (e) => errors.push(e.message) }).tick();
    assert.match(errors[0] ?? "", /^\[NotSupported\] .*holds state-v2 checkpoints/);
    assert.deepEqual(
      (await collect(target.list(""))).map((o) => o.key),
      ["state-v2/_NAMESPACE"],
    );
  });

  test("saved progress resumes without copying again; a wiped target is noticed and filled again", async ({
    source,
    target,
  }) => {
    await writeGenerated(source);
    const progress = memoryProgress();
    const m = new CheckpointMirror({ source, target, progress });
    await mirrorToCompletion(m);
    assert.deepEqual([progress.saved?.layout, progress.saved?.through], ["legacy", "2"]);
    const again = new CheckpointMirror({ source, target, progress });
    await mirrorToCompletion(again);
    assert.equal(again.status().counters.objects, m.status().counters.objects, "nothing copied again");
    await target.deleteMany((await collect(target.list(""))).map((o) => o.key));
    await mirrorToCompletion(again);
    assert.deepEqual(await sealedOn(target), ["1", "2"]);
    await assertLegacySound(target, await sealedOf(source), "refilled");
  });

  test("lost responses on every create converge, with no false SplitBrain", async ({ source, target }) => {
    await writeGenerated(source);
    const lossy = faulty(target, { lostResponseRate: 1, kinds: ["create"], seed: 3 });
    const errors: string[] = [];
    const m = new CheckpointMirror({ source, target: lossy, onError: (e) => errors.push(e.message) });
    await mirrorToCompletion(m, 200);
    assert.equal(errors.filter((e) => e.includes("SplitBrain")).length, 0, errors.join("\n"));
    assert.ok(lossy.injected() >= 8, `${lossy.injected()} lost responses`);
    await assertLegacySound(target, await sealedOf(source), "lossy");
  });

  test("a mirror pinned to state-v2 refuses this layout (NotSupported), as the Worker's does; another layout is InvalidArgument", async ({
    source,
    target,
  }) => {
    await writeGenerated(source);
    const errors: string[] = [];
    const m = new CheckpointMirror({
      source,
      target,
      layout: "state-v2",
      onError: (e) => errors.push(e.message),
    });
    await m.tick();
    assert.match(errors[0] ?? "", /^\[NotSupported\] .*before state-v2.*copies LaminarDB's state-v2 layout/);
    assert.deepEqual(await collect(target.list("")), []);
    assert.throws(
      () => new CheckpointMirror({ source, target, layout: "v1" as "legacy" }),
      /^TidemarkError: \[InvalidArgument\] layout must be "state-v2" or "legacy", not "v1"/,
    );
  });

  test(
    "a crash at every request of the target, then a fresh mirror: no reader ever finds a _COMMIT whose objects are missing",
    async () => {
      const n = await crashSweep({
        label: "legacy timeline",
        makePair,
        run: (pair, target) => runTimeline(pair, target, new Map()),
        after: async (pair, label) => {
          assert.deepEqual(await sealedOn(pair.target), ["5", "6"], label);
          await assertLegacySound(pair.target, await sealedOf(pair.source), `${label} after the restart`);
        },
      });
      opts.onCrashPoints?.(n);
    },
    { exhaustive: true },
  );
}

/** The source's sealed epochs now. */
async function sealedOf(source: ObjectStore): Promise<SealedEpochs> {
  const seen: SealedEpochs = new Map();
  await recordSealed(source, seen);
  return seen;
}
