/**
 * The checkpoint-store contract: every test of LaminarDB's object-store state
 * backend (laminardb/laminardb crates/laminar-core/src/state/object_store.rs),
 * ported, plus races, lost responses, failed deletes, request counts and the
 * latest-epoch hint. One suite for every store (memory, S3 on Ceph RGW, R2
 * inside workerd; Node and Deno). Every test works under its own random prefix.
 */
import assert from "node:assert/strict";
import { checkpointCommitKey } from "../../src/checkpoint/layout.ts";
import {
  CheckpointStore,
  type CheckpointStoreOptions,
  metered,
  type ObjectStore,
  prefixed,
  type RequestCounts,
  retrying,
  TidemarkError,
} from "../../src/index.ts";
import { forEachLimit } from "../../src/store/batch.ts";
import { faulty } from "../../src/testing/index.ts";
import { codeOf, collect, type Harness, uniquePrefix } from "../support/harness.ts";

export interface CheckpointContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  /** Timeout of the slower tests (1,000 partials), in ms. */
  slowTimeoutMs?: number;
}

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);
const dec = new TextDecoder();
const fast = { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 10 };

/** A store that delegates to `inner`, with some methods replaced. */
function wrap(inner: ObjectStore, over: Partial<ObjectStore>): ObjectStore {
  return {
    name: inner.name,
    get: over.get ?? ((k, o) => inner.get(k, o)),
    head: over.head ?? ((k) => inner.head(k)),
    put: over.put ?? ((k, body, o) => inner.put(k, body, o)),
    delete: over.delete ?? ((k) => inner.delete(k)),
    deleteMany: over.deleteMany ?? ((keys) => inner.deleteMany(keys)),
    list: over.list ?? ((p, o) => inner.list(p, o)),
  };
}

/** Awaits `p`, expecting a TidemarkError with `code`; returns its message. */
async function messageOf(p: Promise<unknown>, code: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.equal((e as TidemarkError).code, code, String(e));
    return (e as Error).message;
  }
  throw new Error(`expected ${code}, but the promise resolved`);
}

export function checkpointContract(
  h: Harness,
  makeStore: () => ObjectStore | Promise<ObjectStore>,
  opts: CheckpointContractOptions = {},
): void {
  const slow = { timeoutMs: opts.slowTimeoutMs ?? 120_000 };
  const test = (name: string, fn: (s: ObjectStore) => Promise<void>, o?: { timeoutMs?: number }) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(prefixed(await makeStore(), uniquePrefix("cp"))), o);
  };
  const cpOf = (s: ObjectStore, instanceId = "node-0", o: Partial<CheckpointStoreOptions> = {}) =>
    new CheckpointStore(s, { instanceId, vnodeCapacity: 4, retry: fast, ...o });
  const sealWith = async (cp: CheckpointStore, epoch: number, vnodes: number[]) => {
    for (const v of vnodes) await cp.writePartial(v, epoch, 0, b("s"));
    assert.equal(await cp.sealEpoch(epoch, vnodes), true, `seal epoch ${epoch}`);
  };
  const exists = async (s: ObjectStore, key: string) => {
    try {
      await s.head(key);
      return true;
    } catch (e) {
      if ((e as TidemarkError).code === "NotFound") return false;
      throw e;
    }
  };

  // --- LaminarDB's tests, ported -------------------------------------------------

  test("write then read round-trips a partial; a missing one reads as null", async (s) => {
    const cp = cpOf(s);
    await cp.writePartial(0, 1, 0, b("hello"));
    assert.equal(dec.decode((await cp.readPartial(0, 1)) ?? new Uint8Array()), "hello");
    assert.equal(await cp.readPartial(1, 1), null);
    assert.equal(await cp.readPartial(0, 2), null);
  });

  test("seal is false until every partial is present, then true and idempotent", async (s) => {
    const cp = cpOf(s);
    const vnodes = [0, 1, 2];
    assert.equal(await cp.sealEpoch(1, vnodes), false);
    await cp.writePartial(0, 1, 0, b("y"));
    await cp.writePartial(1, 1, 0, b("y"));
    assert.equal(await cp.sealEpoch(1, vnodes), false, "vnode 2 missing");
    assert.equal(await exists(s, checkpointCommitKey(1)), false);
    await cp.writePartial(2, 1, 0, b("y"));
    assert.equal(await cp.sealEpoch(1, vnodes), true);
    assert.equal(await cp.sealEpoch(1, vnodes), true, "same committer: idempotent");
    assert.equal(
      await (await s.get(checkpointCommitKey(1))).text(),
      "node-0",
      "the marker names the committer",
    );
    // Another instance with the same id (a restart) owns the marker too.
    assert.equal(await cpOf(s, "node-0").sealEpoch(1, vnodes), true);
  });

  test("split brain on the fast path: a marker by another committer is SplitBrain", async (s) => {
    const winner = cpOf(s, "winner");
    const loser = cpOf(s, "loser");
    const vnodes = [0, 1];
    for (const v of vnodes) await winner.writePartial(v, 7, 0, b("w"));
    assert.equal(await winner.sealEpoch(7, vnodes), true);
    const msg = await messageOf(loser.sealEpoch(7, vnodes), "SplitBrain");
    assert.match(msg, /"winner"/);
    assert.match(msg, /"loser"/);
    assert.equal(await winner.sealEpoch(7, vnodes), true, "the winner stays idempotent");
  });

  test("split brain on the lost-race path: a pre-seeded marker is SplitBrain", async (s) => {
    const winner = cpOf(s, "winner");
    const loser = cpOf(s, "loser");
    const vnodes = [0, 1];
    for (const v of vnodes) await winner.writePartial(v, 3, 0, b("w"));
    await s.put(checkpointCommitKey(3), "winner");
    assert.match(await messageOf(loser.sealEpoch(3, vnodes), "SplitBrain"), /"winner"/);
  });

  test("split brain when a peer's marker lands between the listing and the create", async (s) => {
    const vnodes = [0, 1];
    let injected = false;
    // The peer's create lands just before ours: our create gets AlreadyExists.
    const racy = wrap(s, {
      put: async (k, body, o) => {
        if (k === checkpointCommitKey(3) && o?.mode === "create" && !injected) {
          injected = true;
          await s.put(k, "winner", { mode: "create" });
        }
        return s.put(k, body, o);
      },
    });
    const loser = cpOf(racy, "loser");
    for (const v of vnodes) await loser.writePartial(v, 3, 0, b("l"));
    assert.match(await messageOf(loser.sealEpoch(3, vnodes), "SplitBrain"), /"winner".*"loser"/);
    assert.equal(injected, true);
    assert.equal(await cpOf(s, "winner").sealEpoch(3, vnodes), true);
  });

  test("a stale assignment version is rejected; fence off (0) accepts any", async (s) => {
    const stale = cpOf(s, "node-stale");
    const fresh = cpOf(s, "node-fresh");
    fresh.setAuthoritativeVersion(2);
    await fresh.writePartial(0, 1, 2, b("fresh"));
    await fresh.writePartial(0, 1, 3, b("newer"));
    stale.setAuthoritativeVersion(2);
    const msg = await messageOf(stale.writePartial(0, 1, 1, b("stale")), "StaleVersion");
    assert.match(msg, /assignment version 1 is below the authoritative version 2/);
    assert.equal(dec.decode((await fresh.readPartial(0, 1)) ?? new Uint8Array()), "newer", "not overwritten");
    const unfenced = cpOf(s, "node-unfenced");
    await unfenced.writePartial(1, 1, 0, b("ok"));
    assert.equal(dec.decode((await unfenced.readPartial(1, 1)) ?? new Uint8Array()), "ok");
  });

  test("the authoritative version is monotonic", async (s) => {
    const cp = cpOf(s, "node", { vnodeCapacity: 2 });
    assert.equal(cp.authoritativeVersion, 0);
    cp.setAuthoritativeVersion(3);
    assert.equal(cp.authoritativeVersion, 3);
    cp.setAuthoritativeVersion(1);
    assert.equal(cp.authoritativeVersion, 3, "lowering is a no-op");
    cp.setAuthoritativeVersion(4);
    assert.equal(cp.authoritativeVersion, 4);
    assert.throws(() => cp.setAuthoritativeVersion(-1), /InvalidArgument/);
  });

  test("latest committed epoch tracks the highest sealed (3 and 7) and ignores unsealed (5)", async (s) => {
    const cp = cpOf(s);
    assert.equal(await cp.latestCommittedEpoch(), null, "fresh store");
    for (const e of [3, 7]) await sealWith(cp, e, [0, 1]);
    await cp.writePartial(0, 5, 0, b("uncommitted"));
    assert.equal(await cp.latestCommittedEpoch(), 7);
    assert.equal(await cpOf(s, "reader").latestCommittedEpoch(), 7, "a fresh reader agrees");
    assert.deepEqual(await collect(cp.sealedEpochs()), [3, 7]);
  });

  test("latest committed epoch with seals out of order (7 then 3) is 7", async (s) => {
    const cp = cpOf(s);
    for (const e of [7, 3]) await sealWith(cp, e, [0, 1]);
    assert.equal(await cp.latestCommittedEpoch(), 7);
    assert.deepEqual(await collect(cp.sealedEpochs()), [3, 7]);
  });

  test("epochs compare numerically: 10 after 9, 10 after 2", async (s) => {
    const cp = cpOf(s);
    for (const e of [2, 9, 10]) await sealWith(cp, e, [0]);
    assert.equal(await cp.latestCommittedEpoch(), 10);
    assert.deepEqual(await collect(cp.sealedEpochs()), [2, 9, 10]);
    assert.deepEqual(await collect(cp.sealedEpochs(9)), [10]);
    assert.deepEqual(await collect(cp.sealedEpochs(2)), [9, 10]);
    assert.equal(await cpOf(s, "reader").latestCommittedEpoch(), 10, "a fresh reader parses numbers too");
  });

  test("prune deletes old epochs", async (s) => {
    const cp = cpOf(s);
    for (let e = 1; e <= 5; e++) await cp.writePartial(0, e, 0, b("x"));
    const r = await cp.pruneBefore(4);
    assert.equal(r.fullScan, true);
    assert.equal(r.deleted, 3);
    assert.deepEqual(r.failed, []);
    for (let e = 1; e <= 3; e++) assert.equal(await cp.readPartial(0, e), null, `epoch ${e} pruned`);
    for (let e = 4; e <= 5; e++) assert.notEqual(await cp.readPartial(0, e), null, `epoch ${e} kept`);
  });

  test("prune is incremental, advances the cursor, and re-pruning is idempotent", async (s) => {
    const m = metered(s);
    const cp = cpOf(m);
    for (let e = 1; e <= 6; e++) for (const v of [0, 1]) await cp.writePartial(v, e, 0, b("x"));
    const first = await cp.pruneBefore(3);
    assert.equal(first.fullScan, true, "cold: one full listing");
    assert.equal(cp.pruneCursor, 3);
    m.reset();
    const second = await cp.pruneBefore(5);
    assert.equal(second.fullScan, false, "warm: the window [3, 5)");
    assert.equal(cp.pruneCursor, 5);
    assert.equal(m.counts().list, 2, "one listing per epoch of the window");
    assert.equal(m.counts().deleteMany, 1);
    for (let e = 1; e <= 4; e++) {
      for (const v of [0, 1]) assert.equal(await cp.readPartial(v, e), null, `epoch ${e} vnode ${v} pruned`);
    }
    for (let e = 5; e <= 6; e++) {
      for (const v of [0, 1]) assert.notEqual(await cp.readPartial(v, e), null, `epoch ${e} vnode ${v} kept`);
    }
    m.reset();
    const again = await cp.pruneBefore(5);
    assert.equal(again.listed, 0);
    assert.equal(cp.pruneCursor, 5);
    assert.equal(m.counts().list + m.counts().deleteMany, 0, "an empty window costs nothing");
    assert.notEqual(await cp.readPartial(0, 5), null);
    await cp.pruneBefore(2);
    assert.equal(cp.pruneCursor, 5, "the cursor never moves back");
  });

  test("a straggler below the cursor is reclaimed by the periodic full scan", async (s) => {
    const cp = cpOf(s);
    await cp.writePartial(0, 1, 0, b("x"));
    await cp.pruneBefore(3);
    assert.equal(await cp.readPartial(0, 1), null);
    await cp.writePartial(0, 1, 0, b("late"));
    await cp.pruneBefore(3);
    assert.notEqual(await cp.readPartial(0, 1), null, "an incremental prune cannot see below the cursor");
    for (let i = 0; i < 32; i++) await cp.pruneBefore(3);
    assert.equal(await cp.readPartial(0, 1), null, "the full scan reclaimed it");
    assert.equal(cp.stats.prunePasses, 34);
  });

  test("fullScanEvery sets the re-scan period", async (s) => {
    const cp = cpOf(s, "node-0", { fullScanEvery: 3 });
    const kinds: boolean[] = [];
    for (let i = 0; i < 7; i++) kinds.push((await cp.pruneBefore(1)).fullScan);
    assert.deepEqual(kinds, [true, false, false, true, false, false, true]);
  });

  // --- Beyond LaminarDB ---------------------------------------------------------

  test("prune deletes the markers of pruned epochs and never a key outside epoch=", async (s) => {
    const cp = cpOf(s);
    for (let e = 1; e <= 4; e++) await sealWith(cp, e, [0, 1]);
    // A root-level key, e.g. the _LATEST hint earlier tidemark versions wrote.
    await s.put("_LATEST", "2");
    const r = await cp.pruneBefore(3);
    assert.equal(r.deleted, 6, "2 markers + 4 partials");
    assert.deepEqual(await collect(cp.sealedEpochs()), [3, 4]);
    assert.equal(await cp.latestCommittedEpoch(), 4);
    await cp.pruneBefore(10);
    assert.equal(await cp.latestCommittedEpoch(), null, "everything pruned");
    assert.deepEqual(await collect(s.list("")).then((l) => l.map((m) => m.key)), ["_LATEST"]);
  });

  test("4 committers racing to seal the same epoch: exactly one wins, the others get SplitBrain", async (s) => {
    const vnodes = [0, 1, 2, 3];
    const cps = [0, 1, 2, 3].map((i) => cpOf(s, `racer-${i}`));
    for (const v of vnodes) await cps[0]!.writePartial(v, 5, 0, b("r"));
    const results = await Promise.allSettled(cps.map((cp) => cp.sealEpoch(5, vnodes)));
    const wins = results.filter((r) => r.status === "fulfilled");
    assert.equal(wins.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.equal((wins[0] as PromiseFulfilledResult<boolean>).value, true);
    for (const r of results) {
      if (r.status === "rejected")
        assert.equal((r.reason as TidemarkError).code, "SplitBrain", String(r.reason));
    }
    const owner = await (await s.get(checkpointCommitKey(5))).text();
    assert.equal(
      results[Number(owner.slice("racer-".length))]?.status,
      "fulfilled",
      "the winner is the marker's",
    );
    assert.equal(await cps[0]!.latestCommittedEpoch(), 5);
  });

  test("lost responses on _COMMIT creates never turn into a false SplitBrain (own re-read)", async (s) => {
    // Every create lands but its caller gets Transient.
    const lossy = faulty(s, { lostResponseRate: 1, kinds: ["create"], seed: 11 });
    const cp = cpOf(lossy, "node-a");
    for (let e = 0; e < 4; e++) await sealWith(cp, e, [0, 1]);
    assert.ok(lossy.injected() >= 4, `injected ${lossy.injected()}`);
    assert.equal(await cp.latestCommittedEpoch(), 3);
    await messageOf(cpOf(s, "node-b").sealEpoch(2, [0, 1]), "SplitBrain");
  });

  test("lost responses on _COMMIT creates never turn into a false SplitBrain (retrying wrapper)", async (s) => {
    const lossy = faulty(s, { lostResponseRate: 0.5, kinds: ["create"], seed: 5 });
    const cp = cpOf(retrying(lossy, fast), "node-a");
    for (let e = 0; e < 6; e++) await sealWith(cp, e, [0, 1]);
    assert.ok(lossy.injected() >= 1, `injected ${lossy.injected()}`);
    assert.deepEqual(await collect(cp.sealedEpochs()), [0, 1, 2, 3, 4, 5]);
  });

  test("a create that fails without effect is retried", async (s) => {
    const flaky = faulty(s, { failRate: 0.5, kinds: ["create"], seed: 3 });
    const cp = cpOf(flaky, "node-a");
    for (let e = 0; e < 4; e++) await sealWith(cp, e, [0]);
    assert.ok(flaky.injected() >= 1);
    assert.equal(await (await s.get(checkpointCommitKey(3))).text(), "node-a");
  });

  test("a failed bulk delete keeps the cursor and the marker's partials; the next pass cleans up", async (s) => {
    const setup = cpOf(s);
    for (const e of [1, 2]) await sealWith(setup, e, [0, 1]);
    await setup.writePartial(0, 3, 0, b("x"));
    // Request 1 is the full listing, request 2 the markers' bulk delete.
    const cp = cpOf(faulty(s, { failAt: [2] }));
    const r = await cp.pruneBefore(3);
    assert.equal(r.failed.length, 6, "2 markers failed, their 4 partials kept");
    assert.equal(cp.pruneCursor, 0);
    assert.notEqual(await cp.readPartial(0, 1), null, "partials stay while the marker does");
    assert.deepEqual(await collect(cp.sealedEpochs()), [1, 2]);
    const again = await cp.pruneBefore(3);
    assert.deepEqual(again.failed, []);
    assert.equal(again.fullScan, true, "no clean baseline yet: full scan");
    assert.equal(cp.pruneCursor, 3);
    assert.deepEqual(await collect(cp.sealedEpochs()), []);
    assert.equal(await cp.readPartial(1, 2), null);
    assert.notEqual(await cp.readPartial(0, 3), null);
  });

  test("a failed delete in an incremental pass keeps the cursor until a clean pass", async (s) => {
    const setup = cpOf(s);
    for (let e = 1; e <= 6; e++) await setup.writePartial(0, e, 0, b("x"));
    // Pass 1: list (1), delete (2). Pass 2: list epoch=3 (3), list epoch=4 (4), delete (5).
    const cp = cpOf(faulty(s, { failAt: [5] }));
    await cp.pruneBefore(3);
    assert.equal(cp.pruneCursor, 3);
    const r = await cp.pruneBefore(5);
    assert.equal(r.fullScan, false);
    assert.equal(r.failed.length, 2);
    assert.equal(cp.pruneCursor, 3, "not advanced past a failed delete");
    assert.notEqual(await cp.readPartial(0, 4), null);
    await cp.pruneBefore(5);
    assert.equal(cp.pruneCursor, 5);
    assert.equal(await cp.readPartial(0, 4), null);
  });

  test("vnodes out of range and bad epochs are InvalidArgument", async (s) => {
    const cp = cpOf(s);
    assert.equal(await codeOf(cp.writePartial(4, 1, 0, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.writePartial(-1, 1, 0, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.writePartial(1.5, 1, 0, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.readPartial(4, 1)), "InvalidArgument");
    assert.equal(await codeOf(cp.sealEpoch(1, [0, 4])), "InvalidArgument");
    assert.equal(await codeOf(cp.writePartial(0, -1, 0, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.writePartial(0, 2 ** 53, 0, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.writePartial(0, 1, -1, b("x"))), "InvalidArgument");
    assert.equal(await codeOf(cp.sealEpoch(Number.NaN, [0])), "InvalidArgument");
    assert.equal(await codeOf(cp.pruneBefore(-1)), "InvalidArgument");
    assert.equal(await codeOf(collect(cp.sealedEpochs(-2))), "InvalidArgument");
    assert.throws(() => new CheckpointStore(s, { instanceId: "", vnodeCapacity: 4 }), /InvalidArgument/);
    assert.throws(() => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: 0 }), /InvalidArgument/);
    assert.throws(
      () => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: 4, fullScanEvery: 0 }),
      /InvalidArgument/,
    );
    assert.deepEqual(await collect(s.list("")), [], "nothing was written");
  });

  test(
    "sealEpoch with 1,000 vnodes: one listing and one create",
    async (s) => {
      const m = metered(s);
      const cp = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: 1000, retry: fast });
      const vnodes = Array.from({ length: 1000 }, (_, i) => i);
      assert.equal(await cp.sealEpoch(0, []), true);
      assert.deepEqual(pick(m.counts()), { list: 1, get: 0, head: 0, put: 1, delete: 0, deleteMany: 0 });
      await forEachLimit(vnodes, 16, (v) => cp.writePartial(v, 1, 0, b("p")));
      m.reset();
      assert.equal(await cp.sealEpoch(1, vnodes), true);
      assert.deepEqual(pick(m.counts()), { list: 1, get: 0, head: 0, put: 1, delete: 0, deleteMany: 0 });
      await forEachLimit(vnodes, 16, (v) => cp.writePartial(v, 5, 0, b("p")));
      m.reset();
      const cold = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: 1000, retry: fast });
      assert.equal(await cold.sealEpoch(5, vnodes), true, "after a restart and a gap: the same");
      assert.deepEqual(pick(m.counts()), { list: 1, get: 0, head: 0, put: 1, delete: 0, deleteMany: 0 });
      m.reset();
      assert.equal(await cp.sealEpoch(1, vnodes), true);
      // Repeat call: the marker sorts first, so the listing stops on its first page.
      assert.deepEqual(pick(m.counts()), { list: 1, get: 1, head: 0, put: 0, delete: 0, deleteMany: 0 });
    },
    slow,
  );

  test("latest committed epoch costs one delimited listing and one HEAD per epoch from the top down to a sealed one", async (s) => {
    const m = metered(s);
    const cp = cpOf(m);
    for (let e = 1; e <= 10; e++) await sealWith(cp, e, [0, 1, 2, 3]);
    m.reset();
    const reader = cpOf(m, "reader");
    assert.equal(await reader.latestCommittedEpoch(), 10);
    assert.deepEqual(pick(m.counts()), { list: 1, get: 0, head: 1, put: 0, delete: 0, deleteMany: 0 });
    // Epoch 11 in flight (partials, no marker yet): one HEAD more.
    await cp.writePartial(0, 11, 0, b("x"));
    m.reset();
    assert.equal(await reader.latestCommittedEpoch(), 10);
    assert.deepEqual(pick(m.counts()), { list: 1, get: 0, head: 2, put: 0, delete: 0, deleteMany: 0 });
    assert.equal(reader.stats.latestFallbacks, 0);
  });

  test("latest committed epoch finds epochs a writer without a hint sealed past an abandoned one (LaminarDB: 4 and 6, not 5)", async (s) => {
    const cp = cpOf(s);
    for (let e = 1; e <= 3; e++) await sealWith(cp, e, [0, 1]);
    assert.equal(await cp.latestCommittedEpoch(), 3);
    // LaminarDB's backend: plain partial puts, a create-only marker, no hint.
    const laminar = async (epoch: number, seal: boolean) => {
      for (const v of [0, 1]) await s.put(`epoch=${epoch}/vnode=${v}/partial.bin`, b("l"));
      if (seal) await s.put(checkpointCommitKey(epoch), "laminar-node-2", { mode: "create" });
    };
    await laminar(4, true);
    await laminar(5, false); // abandoned
    await laminar(6, true);
    assert.equal(await cp.latestCommittedEpoch(), 6);
    assert.equal(await cpOf(s, "reader").latestCommittedEpoch(), 6, "a fresh reader agrees");
    // epoch=10 sorts before epoch=4 as text; the answer is numeric.
    await laminar(9, false);
    await laminar(10, true);
    assert.equal(await cp.latestCommittedEpoch(), 10);
    assert.deepEqual(await collect(cp.sealedEpochs(3)), [4, 6, 10]);
  });

  test("a leftover _LATEST hint is ignored, whether stale-low, stale-high or garbage", async (s) => {
    const cp = cpOf(s);
    for (const e of [3, 7]) await sealWith(cp, e, [0]);
    const reader = cpOf(s, "reader");
    for (const hint of ["3", "9", "50", "garbage"]) {
      await s.put("_LATEST", hint);
      assert.equal(await reader.latestCommittedEpoch(), 7, `hint ${hint}`);
    }
    await s.delete("_LATEST");
    assert.equal(await reader.latestCommittedEpoch(), 7);
    await sealWith(cp, 8, [0]);
    assert.equal(await exists(s, "_LATEST"), false, "sealing writes no hint");
    assert.equal(await reader.latestCommittedEpoch(), 8);
  });

  test("latest committed epoch on a store that cannot list is NotSupported, never a guess", async (s) => {
    const noList: ObjectStore = {
      ...wrap(s, {
        list: () => ({
          [Symbol.asyncIterator]: () => ({
            next: () => Promise.reject(new TidemarkError("NotSupported", "this store cannot list")),
          }),
        }),
      }),
      capabilities: { list: false },
    };
    const cp = cpOf(s);
    for (let e = 1; e <= 2; e++) await sealWith(cp, e, [0]);
    await s.put("_LATEST", "2");
    const msg = await messageOf(cpOf(noList, "reader").latestCommittedEpoch(), "NotSupported");
    assert.match(msg, /latestCommittedEpoch/);
    assert.match(msg, /list/);
  });

  test("an instanceId that does not survive a UTF-8 round trip, or is empty, is InvalidArgument naming instanceId", async (s) => {
    // A BOM is dropped by a default TextDecoder; a lone surrogate becomes U+FFFD:
    // such an id would read back from its own marker as someone else's.
    for (const id of ["", "\uFEFFnode-0", "node\uD800", "\uDC00node", "a\uDBFFb", 42 as unknown as string]) {
      assert.throws(
        () => new CheckpointStore(s, { instanceId: id, vnodeCapacity: 4 }),
        (e: Error) => /InvalidArgument/.test(e.message) && /instanceId/.test(e.message),
        JSON.stringify(id),
      );
    }
    // Ids that round-trip are fine, however exotic.
    for (const id of ["node-0", "ünï 日本 🦀", "mid\uFEFFdle"]) {
      const cp = cpOf(s, id);
      await sealWith(cp, 1, [0]);
      assert.equal(await cp.sealEpoch(1, [0]), true, `repeat seal by ${JSON.stringify(id)}`);
      await cp.pruneBefore(2);
    }
  });

  test("a marker whose bytes differ from this committer's id only by a BOM is SplitBrain (bytes compared exactly, as LaminarDB)", async (s) => {
    const cp = cpOf(s, "node-0");
    await cp.writePartial(0, 3, 0, b("x"));
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...b("node-0")]);
    await s.put(checkpointCommitKey(3), bom, { mode: "create" });
    await messageOf(cp.sealEpoch(3, [0]), "SplitBrain");
    // The lost-race path compares the same way.
    await cp.writePartial(0, 4, 0, b("x"));
    const racy = wrap(s, {
      put: async (k, body, o) => {
        if (k === checkpointCommitKey(4)) await s.put(k, bom, { mode: "create" });
        return s.put(k, body, o);
      },
    });
    await messageOf(cpOf(racy, "node-0").sealEpoch(4, [0]), "SplitBrain");
  });

  test("every numeric option and argument is checked: NaN, Infinity, fractions, negatives are InvalidArgument naming it", async (s) => {
    const cp = cpOf(s);
    const bad = [Number.NaN, Number.POSITIVE_INFINITY, 1.5, -1, 2 ** 53, "1" as unknown as number];
    const expectNamed = async (name: string, fn: () => unknown) => {
      let err: unknown;
      try {
        await fn();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof Error, `${name}: expected an error`);
      assert.equal(await codeOf(Promise.reject(err)), "InvalidArgument", `${name}: ${String(err)}`);
      assert.match(err.message, new RegExp(`\\b${name}\\b`), `${name}: ${err.message}`);
    };
    for (const x of bad) {
      const tag = String(x);
      await expectNamed("vnodeCapacity", () => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: x }));
      await expectNamed(
        "fullScanEvery",
        () => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: 4, fullScanEvery: x }),
      );
      await expectNamed("vnode", () => cp.writePartial(x, 1, 0, b(tag)));
      await expectNamed("epoch", () => cp.writePartial(0, x, 0, b(tag)));
      await expectNamed("assignmentVersion", () => cp.writePartial(0, 1, x, b(tag)));
      await expectNamed("vnode", () => cp.readPartial(x, 1));
      await expectNamed("epoch", () => cp.readPartial(0, x));
      await expectNamed("epoch", () => cp.sealEpoch(x, [0]));
      await expectNamed("vnode", () => cp.sealEpoch(1, [0, x]));
      await expectNamed("before", () => cp.pruneBefore(x));
      await expectNamed("after", () => collect(cp.sealedEpochs(x)));
      await expectNamed("version", () => cp.setAuthoritativeVersion(x));
    }
    await expectNamed(
      "fullScanEvery",
      () => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: 4, fullScanEvery: 0 }),
    );
    await expectNamed(
      "vnodeCapacity",
      () => new CheckpointStore(s, { instanceId: "a", vnodeCapacity: 2 ** 32 + 1 }),
    );
    await expectNamed("vnode", () => cp.writePartial(4, 1, 0, b("x")));
    await expectNamed("vnodes", () => cp.sealEpoch(1, 7 as unknown as number[]));
    assert.equal(cp.authoritativeVersion, 0);
    assert.deepEqual(await collect(s.list("")), [], "nothing was written");
  });

  test("commit descriptors and source offsets round-trip at LaminarDB's keys (epoch=E/commit/{key}, epoch=E/srcoff/{node})", async (s) => {
    const cp = cpOf(s);
    await cp.writeCommitDescriptor(7, "node=1/sink=kafka-out", 0, b("txn-1"));
    await cp.writeCommitDescriptor(7, "node=0/sink=kafka-out", 0, b("txn-0"));
    await cp.writeSourceOffsets(7, "node-1", 0, b('{"events-0":"100"}'));
    await cp.writeSourceOffsets(7, "node-2", 0, b('{"events-1":"200"}'));
    assert.deepEqual(
      (await collect(s.list("epoch=7/"))).map((m) => m.key),
      [
        "epoch=7/commit/node=0/sink=kafka-out",
        "epoch=7/commit/node=1/sink=kafka-out",
        "epoch=7/srcoff/node-1",
        "epoch=7/srcoff/node-2",
      ],
    );
    const show = (xs: Array<{ key: string; bytes: Uint8Array }>) =>
      xs.map((x) => [x.key, dec.decode(x.bytes)]);
    assert.deepEqual(show(await cp.readCommitDescriptors(7)), [
      ["node=0/sink=kafka-out", "txn-0"],
      ["node=1/sink=kafka-out", "txn-1"],
    ]);
    assert.deepEqual(show(await cp.readSourceOffsets(7)), [
      ["node-1", '{"events-0":"100"}'],
      ["node-2", '{"events-1":"200"}'],
    ]);
    assert.deepEqual(await cp.readCommitDescriptors(8), []);
    assert.deepEqual(await cp.readSourceOffsets(8), []);
    // A plain overwrite, as LaminarDB's put.
    await cp.writeSourceOffsets(7, "node-1", 0, b('{"events-0":"150"}'));
    assert.equal(dec.decode((await cp.readSourceOffsets(7))[0]?.bytes), '{"events-0":"150"}');
  });

  test("a seal waits for the required commit descriptors, as LaminarDB's epoch_complete", async (s) => {
    const cp = cpOf(s);
    for (const v of [0, 1]) await cp.writePartial(v, 3, 0, b("s"));
    const required = ["node=0/sink=s1", "node=0/sink=s2"];
    assert.equal(await cp.sealEpoch(3, [0, 1], required), false, "no descriptor yet");
    await cp.writeCommitDescriptor(3, "node=0/sink=s1", 0, b("d1"));
    assert.equal(await cp.sealEpoch(3, [0, 1], required), false, "one of two");
    assert.equal(await exists(s, checkpointCommitKey(3)), false);
    await cp.writeCommitDescriptor(3, "node=0/sink=s2", 0, b("d2"));
    assert.equal(await cp.sealEpoch(3, [0, 1], required), true);
    assert.equal(await cp.sealEpoch(3, [0, 1], required), true, "idempotent");
    assert.equal(await cp.latestCommittedEpoch(), 3);
    // An idle sink contributes no descriptor: none required, the partials seal the epoch.
    for (const v of [0, 1]) await cp.writePartial(v, 4, 0, b("s"));
    assert.equal(await cp.sealEpoch(4, [0, 1]), true);
  });

  test("descriptors and source offsets are fenced like partials and pruned with their epoch", async (s) => {
    const cp = cpOf(s);
    cp.setAuthoritativeVersion(5);
    assert.equal(await codeOf(cp.writeCommitDescriptor(1, "node=0/sink=s", 4, b("old"))), "StaleVersion");
    assert.equal(await codeOf(cp.writeSourceOffsets(1, "node-0", 4, b("{}"))), "StaleVersion");
    assert.deepEqual(await collect(s.list("")), [], "nothing written");
    await cp.writeCommitDescriptor(1, "node=0/sink=s", 5, b("d"));
    await cp.writeSourceOffsets(1, "node-0", 6, b("{}"));
    for (const e of [1, 2]) {
      await cp.writePartial(0, e, 5, b("s"));
      assert.equal(await cp.sealEpoch(e, [0]), true);
    }
    await cp.pruneBefore(2);
    assert.deepEqual(await cp.readCommitDescriptors(1), []);
    assert.deepEqual(await cp.readSourceOffsets(1), []);
    assert.deepEqual(
      (await collect(s.list(""))).map((m) => m.key),
      ["epoch=2/_COMMIT", "epoch=2/vnode=0/partial.bin"],
    );
  });

  test("descriptor and node keys that are not relative normalised paths are InvalidArgument, nothing written", async (s) => {
    const cp = cpOf(s);
    for (const key of ["", "/x", "a//b", "..", "a/./b", "a\\b", "x\u0001"]) {
      assert.equal(
        await codeOf(cp.writeCommitDescriptor(1, key, 0, b("d"))),
        "InvalidArgument",
        JSON.stringify(key),
      );
      assert.equal(
        await codeOf(cp.writeSourceOffsets(1, key, 0, b("d"))),
        "InvalidArgument",
        JSON.stringify(key),
      );
      assert.equal(await codeOf(cp.sealEpoch(1, [], [key])), "InvalidArgument", JSON.stringify(key));
    }
    assert.equal(await codeOf(cp.writeCommitDescriptor(Number.NaN, "k", 0, b("d"))), "InvalidArgument");
    assert.equal(await codeOf(cp.writeSourceOffsets(1, "k", -1, b("d"))), "InvalidArgument");
    assert.deepEqual(await collect(s.list("")), [], "nothing written");
  });

  test("many unsealed epochs above the latest sealed: a few HEADs, then one listing of the layout", async (s) => {
    const cp = cpOf(s);
    await sealWith(cp, 1, [0]);
    for (let e = 2; e <= 12; e++) await cp.writePartial(0, e, 0, b("unsealed"));
    assert.equal(await cp.latestCommittedEpoch(), 1);
    assert.equal(cp.stats.latestFallbacks, 1);
    // Foreign keys that do not follow the layout are ignored.
    await s.put("epoch=007/_COMMIT", "x");
    await s.put("epoch=x/_COMMIT", "x");
    assert.equal(await cp.latestCommittedEpoch(), 1);
    assert.deepEqual(await collect(cp.sealedEpochs()), [1]);
  });
}

function pick(c: RequestCounts): Record<string, number> {
  return { list: c.list, get: c.get, head: c.head, put: c.put, delete: c.delete, deleteMany: c.deleteMany };
}
