/**
 * The catalog contract: one suite every store runs (memory in Node and Deno,
 * S3 on Ceph RGW). `makeStore` must return an empty store (a fresh prefix).
 */
import assert from "node:assert/strict";
import { manifestDigest, PREVIOUS_LINK_PROPERTY } from "../../src/catalog/chain.ts";
import { advanceLowWater, LOW_WATER_KEY, manifestKey, readLowWater } from "../../src/catalog/layout.ts";
import { Catalog, discoverHead, liveFiles, type ObjectStore, type PutOptions } from "../../src/index.ts";
import { faulty } from "../../src/testing/index.ts";
import { codeOf, collect, type Harness } from "../support/harness.ts";

export interface CatalogContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  /** Timeout of the slower tests (concurrent committers), in ms. */
  slowTimeoutMs?: number;
}

/** A store that records every put to a manifest key, to prove none is overwritten. */
function recording(store: ObjectStore): ObjectStore & { creates: Map<string, number>; overwrites: string[] } {
  const creates = new Map<string, number>();
  const overwrites: string[] = [];
  return {
    name: store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    creates,
    overwrites,
    get: (k, o) => store.get(k, o),
    head: (k) => store.head(k),
    async put(key, body, opts?: PutOptions) {
      const isManifest = /^metadata\/v\d+\.manifest\.bin$/.test(key);
      if (isManifest && opts?.mode !== "create") overwrites.push(key);
      const r = await store.put(key, body, opts);
      if (isManifest) creates.set(key, (creates.get(key) ?? 0) + 1);
      return r;
    },
    delete: (k) => store.delete(k),
    deleteMany: (ks) => store.deleteMany(ks),
    list: (p, o) => store.list(p, o),
  };
}

/** A store whose bulk deletes refuse `refuse` (per-key errors, as S3 DeleteObjects reports them). */
function refusingDeletes(store: ObjectStore, refuse: Set<string>): ObjectStore {
  return {
    ...passThrough(store),
    async deleteMany(keys) {
      const all: string[] = [];
      for await (const k of keys) all.push(k);
      const r = await store.deleteMany(all.filter((k) => !refuse.has(k)));
      const refused = all.filter((k) => refuse.has(k));
      return {
        deleted: r.deleted,
        errors: [...r.errors, ...refused.map((key) => ({ key, code: "AccessDenied", message: "refused" }))],
      };
    },
  };
}

/** A store whose next create of `key` waits for `release()` (a writer stalled right before its commit point). */
function stallingCreate(
  store: ObjectStore,
  key: string,
): { store: ObjectStore; reached: Promise<void>; release(): void } {
  let release = () => {};
  let reach = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const reached = new Promise<void>((r) => {
    reach = r;
  });
  let armed = true;
  return {
    store: {
      ...passThrough(store),
      async put(k, body, opts) {
        if (armed && k === key && opts?.mode === "create") {
          armed = false;
          reach();
          await gate;
        }
        return store.put(k, body, opts);
      },
    },
    reached,
    release: () => release(),
  };
}

function passThrough(store: ObjectStore): ObjectStore {
  return {
    name: store.name,
    ...(store.capabilities ? { capabilities: store.capabilities } : {}),
    get: (k, o) => store.get(k, o),
    head: (k) => store.head(k),
    put: (k, b, o) => store.put(k, b, o),
    delete: (k) => store.delete(k),
    deleteMany: (ks) => store.deleteMany(ks),
    list: (p, o) => store.list(p, o),
  };
}

const file = (path: string, rows = 10) => ({ path, fileSize: rows * 100, numRows: rows });

export function catalogContract(
  h: Harness,
  makeStore: () => ObjectStore | Promise<ObjectStore>,
  opts: CatalogContractOptions = {},
): void {
  const slow = { timeoutMs: opts.slowTimeoutMs ?? 180_000 };
  const test = (name: string, fn: (s: ObjectStore) => Promise<void>, o?: { timeoutMs?: number }) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makeStore()), o);
  };

  test("an empty table has head 0 and no snapshots", async (s) => {
    const c = await Catalog.open(s);
    assert.equal(await c.head(), 0);
    assert.deepEqual(await collect(c.snapshots()), []);
    const d = await discoverHead(s);
    // An empty table: low_water read twice (an expire might have raced the first read), v1 probed once.
    assert.deepEqual(d, { version: 0, probes: 1, lowWater: 0, lowWaterStatus: "missing" });
    assert.equal(await codeOf(c.manifest(1)), "NotFound");
  });

  test("commit maintains the chain, row lineage, statuses, uuid, clock and properties", async (s) => {
    let clock = 1_000;
    const c = await Catalog.open(s, { now: () => clock, newTableUuid: () => "uuid-1" });
    assert.equal(
      await c.commit({ add: [file("data/a", 10), file("data/b", 5)], properties: { owner: "x" } }),
      1,
    );
    clock = 500; // a writer whose clock is behind
    assert.equal(
      await c.commit({
        add: [
          {
            ...file("data/c", 7),
            dvPath: "data/c.puffin",
            dvOffset: 4,
            dvLength: 12,
            seqMax: 1000,
            format: 1,
          },
        ],
        remove: ["data/a"],
        properties: { owner: null, mode: "append" },
      }),
      2,
    );
    const m1 = await c.manifest(1);
    const m2 = await c.manifest(2);
    assert.equal(m1.snapshotId, 1n);
    assert.equal(m1.previousSnapshotId, undefined);
    assert.equal(m1.tableUuid, "uuid-1");
    assert.equal(m1.firstRowId, 0n);
    assert.equal(m1.nextRowId, 15n);
    assert.deepEqual(
      m1.dataFiles.map((f) => [f.path, f.status, f.firstRowId]),
      [
        ["data/a", 1, 0n],
        ["data/b", 1, 10n],
      ],
    );
    assert.equal(m1.lastUpdatedMs, 1000n);
    assert.deepEqual(m1.properties, { owner: "x" });

    assert.equal(m2.snapshotId, 2n);
    assert.equal(m2.previousSnapshotId, 1n);
    assert.equal(m2.tableUuid, "uuid-1");
    assert.equal(m2.firstRowId, 15n);
    assert.equal(m2.nextRowId, 22n);
    assert.ok(m2.sequenceNumber > m1.sequenceNumber);
    assert.equal(m2.sequenceNumber, 1000n); // at least the largest seq_max added
    assert.equal(m2.lastUpdatedMs, 1000n); // never backwards along the chain
    // v2 names the manifest it was built on: the SHA-256 of v1's file, bytes as stored.
    assert.deepEqual(m2.properties, {
      mode: "append",
      [PREVIOUS_LINK_PROPERTY]: await manifestDigest(await c.manifestBytes(1)),
    });
    assert.equal(
      await codeOf(c.commit({ properties: { [PREVIOUS_LINK_PROPERTY]: "x" } })),
      "InvalidArgument",
    );
    assert.deepEqual(
      m2.dataFiles.map((f) => [f.path, f.status, f.firstRowId]),
      [
        ["data/b", 0, 10n],
        ["data/c", 1, 15n],
      ],
    );
    assert.equal(m2.dataFiles[1]?.format, 1);
    assert.deepEqual(liveFiles(m2), ["data/b", "data/c", "data/c.puffin"]);
    assert.deepEqual(
      (await collect(c.snapshots())).map((x) => [x.version, Number(x.manifest.snapshotId)]),
      [
        [2, 2],
        [1, 1],
      ],
    );
  });

  test("remove of a file that is not live is PreconditionFailed, and nothing is written", async (s) => {
    const c = await Catalog.open(s);
    await c.commit({ add: [file("data/a")] });
    await c.commit({ remove: ["data/a"] });
    assert.equal(await codeOf(c.commit({ remove: ["data/a"] })), "PreconditionFailed");
    assert.equal(await codeOf(c.commit({ remove: ["data/never"] })), "PreconditionFailed");
    assert.equal(await codeOf(c.commit({ add: [file("data/b")], remove: ["data/a"] })), "PreconditionFailed");
    await c.commit({ add: [file("data/b")] });
    assert.equal(await codeOf(c.commit({ add: [file("data/b")] })), "PreconditionFailed");
    assert.equal(await codeOf(c.commit({ add: [file("../escape")] })), "InvalidArgument");
    assert.equal(await codeOf(c.commit({ add: [file("data/x"), file("data/x")] })), "InvalidArgument");
    assert.equal(await codeOf(c.commit({ add: [{ ...file("data/y"), dvPath: "/abs" }] })), "InvalidArgument");
    assert.equal(await c.head(), 3);
  });

  test("a remove racing a concurrent remove of the same file is a conflict for the loser", async (s) => {
    const a = await Catalog.open(s);
    await a.commit({ add: [file("data/a"), file("data/b")] });
    const b = await Catalog.open(s);
    const results = await Promise.allSettled([
      a.commit({ remove: ["data/a"] }),
      b.commit({ remove: ["data/a"] }),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const lost = results.find((r) => r.status === "rejected");
    assert.equal(await codeOf(Promise.reject(lost?.reason)), "PreconditionFailed");
    assert.deepEqual(liveFiles(await a.manifest(await a.head())), ["data/b"]);
  });

  test(
    "8 concurrent committers x 25 commits: versions 1..200, all files live, no manifest overwritten",
    async (s) => {
      const rec = recording(s);
      const writers = 8;
      const perWriter = 25;
      // Writers committing back to back saturate the table: each wins about 1/8 of the rounds, so a
      // losing streak can outgrow the default 32 attempts (geometric tail); allow more here.
      const catalogs = await Promise.all(
        Array.from({ length: writers }, () => Catalog.open(rec, { maxCommitAttempts: 100 })),
      );
      const versions = await Promise.all(
        catalogs.map(async (c, w) => {
          const got: number[] = [];
          for (let i = 0; i < perWriter; i++) {
            got.push(await c.commit({ add: [file(`data/w${w}/f${i}.parquet`, 1 + w)] }));
          }
          return got;
        }),
      );
      const all = versions.flat().sort((x, y) => x - y);
      const total = writers * perWriter;
      assert.deepEqual(
        all,
        Array.from({ length: total }, (_, i) => i + 1),
      );
      for (const v of versions)
        assert.deepEqual(
          v,
          [...v].sort((x, y) => x - y),
        ); // each writer's commits in order
      const c = await Catalog.open(s);
      assert.equal(await c.head(), total);
      const head = await c.manifest(total);
      const live = new Set(liveFiles(head));
      assert.equal(live.size, total);
      for (let w = 0; w < writers; w++) {
        for (let i = 0; i < perWriter; i++)
          assert.ok(live.has(`data/w${w}/f${i}.parquet`), `w${w}/f${i} live`);
      }
      assert.deepEqual(rec.overwrites, []);
      assert.equal(rec.creates.size, total);
      for (const [k, n] of rec.creates) assert.equal(n, 1, `${k} written once`);
      // Row lineage across writers: ids are contiguous and disjoint.
      const rows = head.dataFiles
        .map((f) => [Number(f.firstRowId), Number(f.numRows)] as const)
        .sort((x, y) => x[0] - y[0]);
      let next = 0;
      for (const [first, n] of rows) {
        assert.equal(first, next);
        next += n;
      }
      assert.equal(head.nextRowId, BigInt(next));
      // The chain is intact all the way down.
      const chain = await collect(c.snapshots());
      assert.equal(chain.length, total);
      assert.deepEqual(
        chain.map((x) => x.version),
        Array.from({ length: total }, (_, i) => total - i),
      );
    },
    slow,
  );

  test("expire keeps the last N, advances low_water first, deletes unreferenced files; reopen finds HEAD", async (s) => {
    const c = await Catalog.open(s);
    for (let i = 1; i <= 12; i++) {
      // Each commit adds f{i} and removes f{i-2}: a sliding window of live files.
      await c.commit({ add: [file(`data/f${i}`)], remove: i > 2 ? [`data/f${i - 2}`] : [] });
      await s.put(`data/f${i}`, "x".repeat(10));
    }
    const r = await c.expire({ keepLast: 3 });
    assert.equal(r.deletedManifests, 9);
    assert.equal(r.lowWater, 10);
    assert.deepEqual(r.errors, []);
    // v10 (oldest kept) has f9, f10: f1..f8 are referenced only by expired snapshots.
    assert.equal(r.deletedFiles, 8);
    for (let i = 1; i <= 8; i++) assert.equal(await codeOf(s.head(`data/f${i}`)), "NotFound");
    for (let i = 9; i <= 12; i++) await s.head(`data/f${i}`);
    assert.equal((await readLowWater(s)).version, 10);
    for (let v = 1; v <= 9; v++) assert.equal(await codeOf(s.head(manifestKey(v))), "NotFound");
    // merutable's outage: reopening must not probe v1, find it gone and declare the table empty.
    const reopened = await Catalog.open(s);
    assert.equal(await reopened.head(), 12);
    const d = await discoverHead(s);
    assert.equal(d.version, 12);
    assert.equal(d.lowWater, 10);
    assert.deepEqual(
      (await collect(reopened.snapshots())).map((x) => x.version),
      [12, 11, 10],
    );
    assert.equal(await reopened.commit({ add: [file("data/f13")] }), 13);
    // Expiring again is incremental and idempotent.
    // v10 referenced f9 and f10; f10 is still live in v11.
    assert.deepEqual(await c.expire({ keepLast: 3 }), {
      deletedManifests: 1,
      deletedFiles: 1,
      lowWater: 11,
      errors: [],
    });
    assert.deepEqual(await c.expire({ keepLast: 3 }), {
      deletedManifests: 0,
      deletedFiles: 0,
      lowWater: 11,
      errors: [],
    });
    assert.equal(await codeOf(c.expire({ keepLast: 0 })), "InvalidArgument");
  });

  test("discoverHead probes at most 2*log2(gap)+4 manifests, from low_water", async (s) => {
    const start = 40;
    const heads = [140, 100, 47, 42, 41, 40]; // descending: each round deletes above the next head
    const max = heads[0] ?? 0;
    await Promise.all(Array.from({ length: max - start + 1 }, (_, i) => s.put(manifestKey(start + i), "m")));
    await s.put(LOW_WATER_KEY, String(start));
    for (const head of heads) {
      for (let v = head + 1; v <= max; v++) await s.delete(manifestKey(v));
      const d = await discoverHead(s);
      assert.equal(d.version, head);
      assert.equal(d.lowWater, start);
      const gap = Math.max(1, head - start);
      assert.ok(d.probes <= 2 * Math.log2(gap) + 4, `gap ${gap}: ${d.probes} probes`);
      // A cached HEAD as hint: two probes when nothing changed, and one low_water read
      // after them (a hint is never trusted below the boundary).
      const again = await discoverHead(s, { from: head });
      assert.deepEqual([again.version, again.probes, again.lowWater], [head, 2, start]);
    }
  });

  test("low_water: missing starts at 1; garbage or naming a missing manifest is Corrupt, and commit refuses", async (s) => {
    await s.put(manifestKey(1), "m");
    await s.put(manifestKey(2), "m");
    const d = await discoverHead(s);
    assert.deepEqual([d.version, d.lowWaterStatus], [2, "missing"]);
    await s.put(LOW_WATER_KEY, "not a number");
    assert.equal(await codeOf(discoverHead(s)), "Corrupt");
    // A writer never starts a second history over the one garbage hides.
    assert.equal(await codeOf(Catalog.open(s)), "Corrupt");
    await s.put(LOW_WATER_KEY, "7\n");
    assert.equal(await codeOf(discoverHead(s)), "Corrupt");
  });

  test("a transient error reading low_water is an error, not 'start at 1'", async (s) => {
    await s.put(manifestKey(1), "m");
    // Request 1 of discoverHead is the low_water read.
    assert.equal(await codeOf(discoverHead(faulty(s, { failAt: [1] }))), "Transient");
    assert.equal(await codeOf(Catalog.open(faulty(s, { failAt: [1] }))), "Transient");
    // A transient error on a probe is an error too, never "missing".
    assert.equal(await codeOf(discoverHead(faulty(s, { failAt: [2] }))), "Transient");
  });

  test("advanceLowWater never moves backwards, creates when missing, and survives racing writers", async (s) => {
    assert.equal(await advanceLowWater(s, 5), 5);
    assert.equal(await advanceLowWater(s, 3), 5);
    assert.equal((await readLowWater(s)).version, 5);
    const targets = [9, 7, 12, 8, 11, 6];
    await Promise.all(targets.map((t) => advanceLowWater(s, t)));
    assert.equal((await readLowWater(s)).version, 12);
    await s.put(LOW_WATER_KEY, "garbage");
    assert.equal(await advanceLowWater(s, 2), 2); // garbage is replaced
    assert.equal(await codeOf(advanceLowWater(s, 0)), "InvalidArgument");
  });

  test("a commit whose response is lost is recognised as ours, never committed twice", async (s) => {
    const f = faulty(s, { lostResponseRate: 1, kinds: ["create"], seed: 1 });
    const c = await Catalog.open(f);
    assert.equal(await c.commit({ add: [file("data/a")] }), 1);
    assert.equal(await c.commit({ add: [file("data/b")] }), 2);
    assert.equal(await c.head(), 2);
    assert.deepEqual(liveFiles(await c.manifest(2)), ["data/a", "data/b"]);
  });

  test("a leftover of a failed expire is never taken for HEAD: its version number is not used again", async (s) => {
    const writer = await Catalog.open(s);
    const other = await Catalog.open(s);
    for (let i = 1; i <= 3; i++) await writer.commit({ add: [file(`data/w${i}`)] });
    // v4 drops w3: from then on only v3 references it.
    for (let i = 4; i <= 6; i++)
      await other.commit({ add: [file(`data/o${i}`)], remove: i === 4 ? ["data/w3"] : [] });
    for (const p of ["w1", "w2", "w3", "o4", "o5", "o6"]) await s.put(`data/${p}`, "x");
    // The store refuses to delete v3's manifest: it stays below low_water while v4 goes.
    const r = await (await Catalog.open(refusingDeletes(s, new Set([manifestKey(3)])))).expire({
      keepLast: 2,
    });
    assert.equal(r.lowWater, 5);
    assert.deepEqual(
      r.errors.map((e) => e.key),
      [manifestKey(3)],
    );
    await s.head(manifestKey(3)); // the leftover
    assert.equal(await codeOf(s.head(manifestKey(4))), "NotFound");
    // A manifest the store kept keeps its files: w3 is referenced by the leftover only.
    await s.head("data/w3");
    // The writer's cached HEAD is v3: it must neither see HEAD 3 nor create v4 again.
    assert.equal(await writer.head(), 6);
    assert.equal(await writer.commit({ add: [file("data/w7")] }), 7);
    assert.equal(await codeOf(s.head(manifestKey(4))), "NotFound");
    const fresh = await Catalog.open(s);
    assert.equal(await fresh.head(), 7);
    assert.deepEqual(
      (await collect(fresh.snapshots())).map((x) => x.version),
      [7, 6, 5],
    );
    // The next expire removes the leftover, then the files only it referenced.
    const again = await fresh.expire({ keepLast: 3 });
    assert.deepEqual([again.deletedManifests, again.lowWater, again.errors], [1, 5, []]);
    assert.equal(await codeOf(s.head(manifestKey(3))), "NotFound");
    assert.equal(await codeOf(s.head("data/w3")), "NotFound");
  });

  test("a writer that stalls past an expire has its commit withdrawn, never acknowledged", async (s) => {
    const setup = await Catalog.open(s);
    for (let i = 1; i <= 3; i++) await setup.commit({ add: [file(`data/a${i}`)] });
    const stall = stallingCreate(s, manifestKey(4));
    const stalled = await Catalog.open(stall.store);
    const pending = stalled.commit({ add: [file("data/late")] });
    await stall.reached; // it read HEAD 3 and is about to create v4
    const other = await Catalog.open(s);
    for (let i = 4; i <= 8; i++) await other.commit({ add: [file(`data/b${i}`)] });
    await other.expire({ keepLast: 2 }); // low_water 7; v1..v6 deleted, so v4 is free again
    stall.release();
    assert.equal(await codeOf(pending), "PreconditionFailed");
    assert.equal(await codeOf(s.head(manifestKey(4))), "NotFound", "the stale v4 is withdrawn");
    const fresh = await Catalog.open(s);
    assert.equal(await fresh.head(), 8);
    assert.deepEqual(
      (await collect(fresh.snapshots())).map((x) => x.version),
      [8, 7],
    );
    // The writer itself commits on the real HEAD next time.
    assert.equal(await stalled.commit({ add: [file("data/late")] }), 9);
  });

  test("a hint below low_water and an expire racing the probes never give a stale HEAD", async (s) => {
    const c = await Catalog.open(s);
    for (let i = 1; i <= 10; i++) await c.commit({ add: [file(`data/f${i}`)] });
    await s.put(LOW_WATER_KEY, "6");
    // v3 is a leftover below low_water; v4 and v5 are gone.
    for (const v of [1, 2, 4, 5]) await s.delete(manifestKey(v));
    const d = await discoverHead(s, { from: 3 });
    assert.deepEqual([d.version, d.lowWater], [10, 6]);
    // An expire that moves low_water to 9 and deletes v6..v8 while the probes run.
    let raced = false;
    const racing: ObjectStore = {
      ...passThrough(s),
      async head(k) {
        if (!raced && k === manifestKey(8)) {
          raced = true;
          await s.put(LOW_WATER_KEY, "9");
          for (const v of [6, 7, 8]) await s.delete(manifestKey(v));
        }
        return s.head(k);
      },
    };
    const d2 = await discoverHead(racing, { from: 6 });
    assert.ok(raced);
    assert.deepEqual([d2.version, d2.lowWater], [10, 9]);
  });

  test("manifests without low_water to find them are not an empty table to commit on", async (s) => {
    const c = await Catalog.open(s);
    for (let i = 1; i <= 3; i++) await c.commit({ add: [file(`data/f${i}`)] });
    await s.delete(manifestKey(1)); // low_water was never written; v1 is gone
    const reopened = await Catalog.open(s);
    assert.equal(await reopened.head(), 0);
    assert.equal(await codeOf(reopened.commit({ add: [file("data/new")] })), "Corrupt");
    assert.equal(await codeOf(s.head(manifestKey(1))), "NotFound", "no second history begun");
  });

  test("a first commit racing ours on an empty table is rebased onto, not taken for hidden history", async (s) => {
    const other = await Catalog.open(s);
    let raced = false;
    let lists = 0;
    // The racing commit lands after our writer found HEAD 0, before it looks for manifests
    // (its second listing: the first is the open's check that the table is empty).
    const racing: ObjectStore = {
      ...passThrough(s),
      list(prefix, o) {
        if (!raced && ++lists === 2) {
          raced = true;
          return (async function* () {
            await other.commit({ add: [file("data/theirs")] });
            yield* s.list(prefix, o);
          })();
        }
        return s.list(prefix, o);
      },
    };
    const mine = await Catalog.open(racing);
    assert.equal(await mine.commit({ add: [file("data/mine")] }), 2);
    assert.ok(raced);
    assert.deepEqual(liveFiles(await mine.manifest(2)), ["data/theirs", "data/mine"]);
  });
}
