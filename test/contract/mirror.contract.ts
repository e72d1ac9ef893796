/**
 * The mirror suite: `mirrorSnapshot`, the `Mirror` loop and the reader, run on
 * fresh source/target store pairs (memory in Node and Deno; S3 on Ceph RGW).
 * Ports merutable's mirror-worker tests (spawn/shutdown, double shutdown, lag
 * None → Some, mirror_snapshot uploads + idempotent re-run) and adds the fault
 * tests its design lacked: a crash at every request, lost create responses,
 * racing mirrors, idle-primary lag, resume, expired gaps.
 */
import assert from "node:assert/strict";
import { LOW_WATER_KEY, manifestKey } from "../../src/catalog/layout.ts";
import { legacyManifestKey, posixManifestKey, VERSION_HINT_KEY } from "../../src/catalog/posix.ts";
import {
  Catalog,
  createManifest,
  encodeManifest,
  isTidemarkError,
  type LagAlert,
  Mirror,
  type MirrorOptions,
  metered,
  mirrorSnapshot,
  type ObjectStore,
  openMirror,
  type TidemarkError,
  verifyMirror,
} from "../../src/index.ts";
import { faulty } from "../../src/testing/index.ts";
import { codeOf, collect, type Harness } from "../support/harness.ts";
import {
  assertReadable,
  assertSameTable,
  contents,
  fileBytes,
  manualClock,
  memoryProgress,
  Primary,
  recording,
} from "../support/mirror-fixture.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

/** Tests the RGW runs (Node and Deno) skip: their logic is store-independent and runs on memory. */
export const RGW_MIRROR_SKIPS: Record<string, string> = {
  "an idle primary has lag 0 and fires no alert over a simulated hour":
    "1,440 idle HEADs: the logic is store-independent, run on memory",
  "a lagging mirror alerts once per threshold window, then stops when caught up":
    "store-independent, run on memory",
  "lag is on the mirror's clock: a fast writer clock never hides an outage, a slow one never alarms":
    "720 ticks: the logic is store-independent, run on memory",
  "a target that is down from the start reports growing lag and alerts, never null":
    "store-independent (the target is a fault wrapper), run on memory",
};

export interface MirrorContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  /** Run the exhaustive fault tests (crash at every request): memory only, they make thousands of requests. */
  exhaustive?: boolean;
  /** Timeout of each test, in ms. */
  timeoutMs?: number;
  /** Called with the number of crash points of the sweep (for the report). */
  onCrashPoints?: (n: number) => void;
}

export interface StorePair {
  source: ObjectStore;
  target: ObjectStore;
  /** A fresh, empty store of the same kind (for a second source or target). */
  another(): ObjectStore;
}

/** Ticks until caught up without error, at most `max` ticks. */
async function runToCompletion(m: Mirror, max = 50): Promise<void> {
  for (let i = 0; i < max; i++) {
    await m.tick();
    const s = m.status();
    if (s.caughtUp && s.lastError === null && s.inProgress === null) return;
  }
  throw new Error(`mirror not caught up after ${max} ticks: ${JSON.stringify(m.status())}`);
}

const text = async (s: ObjectStore, k: string) => (await s.get(k)).text();

export function mirrorContract(
  h: Harness,
  makeStores: () => StorePair | Promise<StorePair>,
  opts: MirrorContractOptions = {},
): void {
  const t = { timeoutMs: opts.timeoutMs ?? 30_000 };
  const test = (name: string, fn: (p: StorePair) => Promise<void>, o: { exhaustive?: boolean } = {}) => {
    const reason =
      opts.skip?.[name] ?? (o.exhaustive && !opts.exhaustive ? "exhaustive: memory only" : undefined);
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makeStores()), t);
  };

  /**
   * Mirrors the 3 commits `commitsOf` makes on a fresh pair's source, once
   * cleanly to count the target's requests, then once per request with the
   * target crashing from it on; a fresh mirror then finishes on the healthy
   * target and `check` runs. Per mode: "steady" ticks after every commit
   * (else one catch-up tick, where low_water is written once at the end);
   * "+list" checks every snapshot's files with one listing of the target
   * (listThreshold 1), the path a big snapshot takes. Returns the crash
   * points swept.
   */
  const sweepTargetCrashes = async (
    modes: readonly string[],
    commitsOf: (source: ObjectStore) => Promise<Array<() => Promise<unknown>>>,
    check: (pair: StorePair, label: string) => Promise<void>,
  ): Promise<number> => {
    let points = 0;
    for (const mode of modes) {
      const listThreshold = mode.endsWith("+list") ? 1 : Number.POSITIVE_INFINITY;
      const run = async (pair: StorePair, target: ObjectStore) => {
        const commits = await commitsOf(pair.source);
        const m = new Mirror({ source: pair.source, target, listThreshold });
        for (const commit of commits) {
          await commit();
          if (mode.startsWith("steady")) {
            await m.tick();
            await assertReadable(pair.target, pair.source);
          }
        }
        await m.tick();
        await assertReadable(pair.target, pair.source);
        return m;
      };
      const cleanPair = await makeStores();
      const clean = faulty(cleanPair.target, {});
      assert.equal((await run(cleanPair, clean)).mirrorSeq, 3);
      const K = clean.requests();
      assert.ok(K > 10, `${mode}: ${K} requests`);
      for (let k = 1; k <= K; k++) {
        const pair = await makeStores();
        const m = await run(pair, faulty(pair.target, { crashAt: k }));
        assert.ok(m.status().counters.failures > 0, `${mode} k=${k}: the crash happened`);
        // Restart on the healthy target.
        const restarted = new Mirror({ source: pair.source, target: pair.target, listThreshold });
        await runToCompletion(restarted);
        await check(pair, `${mode} k=${k}`);
      }
      points += K;
    }
    return points;
  };

  // --- merutable's tests, ported ---

  test("start and shutdown are bounded; mirrorSeq stays 0 on an empty source", async ({ source, target }) => {
    const m = new Mirror({ source, target, pollIntervalMs: 60_000 });
    m.start();
    assert.equal(m.mirrorSeq, 0);
    const t0 = Date.now();
    await m.shutdown();
    assert.ok(Date.now() - t0 < 5_000, "shutdown hung");
    assert.equal(m.mirrorSeq, 0);
  });

  test("a second shutdown is a no-op", async ({ source, target }) => {
    const m = new Mirror({ source, target });
    m.start();
    await m.shutdown();
    await m.shutdown();
    assert.equal(await m.tick(), 0, "tick after shutdown does nothing");
  });

  test("lag is null before the first tick, 0 when caught up, the age of the oldest unmirrored commit when behind", async ({
    source,
    target,
  }) => {
    const clock = manualClock();
    const primary = await Primary.open(source, { now: clock.now });
    await primary.commit([{ path: "data/a.parquet", size: 10 }]);
    const broken = faulty(target, { failRate: 1, kinds: ["put", "create"], seed: 1 });
    const m = new Mirror({ source, target: broken, now: clock.now });
    assert.equal(m.lagSeconds(), null);
    clock.advance(7_000);
    await m.tick(); // the target is down: v1 stays unmirrored, committed 7 s ago
    assert.equal(m.lagSeconds(), 7);
    const ok = new Mirror({ source, target, now: clock.now });
    await ok.tick();
    assert.equal(ok.lagSeconds(), 0);
    assert.equal(ok.mirrorSeq, 1);
  });

  test("mirrorSnapshot uploads files, manifest and low_water, and a re-run is idempotent", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    const v = await primary.commit([
      { path: "data/L0/f0.parquet", size: 9 },
      { path: "data/L0/f1.parquet", size: 9, dv: { path: "data/L0/f1.puffin", size: 5 } },
    ]);
    const r = await mirrorSnapshot({ source, target, version: v });
    assert.deepEqual([r.uploadedFiles, r.skippedFiles], [3, 0]);
    for (const k of ["data/L0/f0.parquet", "data/L0/f1.parquet", "data/L0/f1.puffin"]) {
      assert.deepEqual(await (await target.get(k)).bytes(), await (await source.get(k)).bytes());
    }
    // The manifest is the source's bytes, verbatim.
    assert.deepEqual(
      await (await target.get(manifestKey(v))).bytes(),
      await (await source.get(manifestKey(v))).bytes(),
    );
    assert.equal(await text(target, LOW_WATER_KEY), "1");
    const etags = new Map((await collect(target.list(""))).map((m) => [m.key, m.etag]));
    const again = await mirrorSnapshot({ source, target, version: v });
    assert.deepEqual([again.uploadedFiles, again.skippedFiles], [0, 3]);
    const after = new Map((await collect(target.list(""))).map((m) => [m.key, m.etag]));
    assert.deepEqual(after, etags, "a re-run rewrites nothing");
  });

  // --- mirrorSnapshot ---

  test("mirrorSnapshot copies only the files the previous snapshot lacked", async ({ source, target }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 20);
    const v2 = await primary.commit([{ path: "data/new.parquet", size: 3 }]);
    await mirrorSnapshot({ source, target, version: 1 });
    const mt = metered(target);
    const previous = await openMirror(target).manifest(1);
    const r = await mirrorSnapshot({ source, target: mt, version: v2, previous });
    assert.deepEqual([r.uploadedFiles, r.skippedFiles], [1, 0]);
    const c = mt.counts();
    assert.equal(c.put, 4, "one file, the checksum record, the manifest, low_water");
    assert.equal(c.head, 1, "one HEAD for the one new file");
  });

  test("a big snapshot lists the target once instead of one HEAD per file", async ({ source, target }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 6, 16, "old");
    await mirrorSnapshot({ source, target, version: 1 }); // 6 files: HEADs (below the threshold)
    const v2 = await primary.commit(
      Array.from({ length: 10 }, (_, i) => ({ path: `data/new-${i}.parquet`, size: 16 })),
    );
    const mt = metered(target);
    // No `previous`: all 16 live files are checked, with one listing.
    const r = await mirrorSnapshot({ source, target: mt, version: v2, listThreshold: 16 });
    assert.deepEqual([r.uploadedFiles, r.skippedFiles], [10, 6]);
    const c = mt.counts();
    assert.equal(c.head, 0, "no HEAD: the listing answered for every file");
    assert.equal(c.list, 1, "one listing page");
    assert.equal(c.put, 13, "10 files, the checksum record, the manifest, low_water");
    assert.equal(c.writeClass, 14, "the listing is write-class and counted as such");
    await assertSameTable(target, source);
    // Below the threshold, HEADs as before; a re-run lists and writes no file.
    mt.reset();
    const again = await mirrorSnapshot({ source, target: mt, version: v2, listThreshold: 1 });
    assert.deepEqual([again.uploadedFiles, again.skippedFiles], [0, 16]);
    assert.deepEqual([mt.counts().head, mt.counts().list], [0, 1]);
    assert.equal(
      [...(await collect(target.list("data/")))].length,
      16,
      "nothing but the table's files under data/",
    );
  });

  test("a listing that shows a file of the wrong size is SplitBrain, before any write", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 5, 16);
    await target.put("data/f-0-3.parquet", new Uint8Array(3)); // another history's file
    const mt = metered(target);
    const err = await mirrorSnapshot({ source, target: mt, version: 1, listThreshold: 1 }).catch(
      (e: TidemarkError) => e,
    );
    assert.ok(isTidemarkError(err, "SplitBrain"), String(err));
    assert.match((err as Error).message, /data\/f-0-3\.parquet with 3 bytes.*v1 says 6 bytes/);
    assert.equal(mt.counts().put, 0, "nothing written");
    await assert.rejects(target.head(manifestKey(1)), "no manifest");
    // A deletion vector below its minimum size (the manifest's dv_offset + dv_length) too.
    await target.delete("data/f-0-3.parquet");
    await primary.commit([{ path: "data/p.parquet", size: 20, dv: { path: "data/p.puffin", size: 9 } }]);
    await target.put("data/p.puffin", new Uint8Array(2));
    const dvErr = await mirrorSnapshot({ source, target, version: 2, listThreshold: 1 }).catch(
      (e: TidemarkError) => e,
    );
    assert.ok(isTidemarkError(dvErr, "SplitBrain"), String(dvErr));
    assert.match((dvErr as Error).message, /data\/p\.puffin with 2 bytes/);
  });

  test("a listing cut short (page limit) leaves the files past it to HEADs", async ({ source, target }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 8, 16);
    // Pages of 2 keys as the mirror counts them; the budget hook allows 2 pages.
    const small: ObjectStore = {
      name: target.name,
      capabilities: { ...target.capabilities, listPageSize: 2 },
      get: target.get.bind(target),
      head: target.head.bind(target),
      put: target.put.bind(target),
      delete: target.delete.bind(target),
      deleteMany: target.deleteMany.bind(target),
      list: target.list.bind(target),
    };
    // Half the files are on the target already.
    await mirrorSnapshot({ source, target: small, version: 1, listThreshold: Number.POSITIVE_INFINITY });
    await target.delete(manifestKey(1));
    for (const k of [
      "data/f-0-1.parquet",
      "data/f-0-3.parquet",
      "data/f-0-5.parquet",
      "data/f-0-7.parquet",
    ]) {
      await target.delete(k);
    }
    const mt = metered(small);
    const r = await mirrorSnapshot({ source, target: mt, version: 1, listThreshold: 1 });
    assert.deepEqual([r.uploadedFiles, r.skippedFiles], [4, 4]);
    // 8 files allow one page (at most one per 12 files): it shows f-0-0 and
    // f-0-2, so f-0-1 is known missing (no HEAD); f-0-3 … f-0-7 lie past it: HEADed.
    assert.deepEqual([mt.counts().list, mt.counts().head], [1, 5]);
    await assertSameTable(target, source);
    // The budget hook refuses the first page: no listing, a HEAD per file.
    mt.reset();
    const again = await mirrorSnapshot({
      source,
      target: mt,
      version: 1,
      listThreshold: 1,
      beforeListPage: () => false,
    });
    assert.deepEqual([again.uploadedFiles, again.skippedFiles], [0, 8]);
    assert.deepEqual([mt.counts().list, mt.counts().head], [0, 8]);
    await assertSameTable(target, source);
  });

  test("a source file that is missing is NotFound naming the file and the version", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    const v = await primary.commit([{ path: "data/gone.parquet", size: 4 }]);
    await source.delete("data/gone.parquet");
    const err = await mirrorSnapshot({ source, target, version: v }).catch((e: TidemarkError) => e);
    assert.ok(isTidemarkError(err, "NotFound"));
    assert.match((err as Error).message, /data\/gone\.parquet.*v1/);
    await assert.rejects(target.head(manifestKey(v)), "no manifest without its files");
  });

  test("a different manifest already on the target is SplitBrain; an identical one is success", async ({
    source,
    target,
    another,
  }) => {
    const a = await Primary.open(source, { uuid: "00000000-0000-4000-8000-00000000000a" });
    await a.commit([{ path: "data/x.parquet", size: 4 }]);
    const otherSource = another();
    const b = await Primary.open(otherSource, { uuid: "00000000-0000-4000-8000-00000000000b" });
    await b.commit([{ path: "data/x.parquet", size: 4 }]);
    await mirrorSnapshot({ source, target, version: 1 });
    await mirrorSnapshot({ source, target, version: 1 }); // identical: fine
    assert.equal(await codeOf(mirrorSnapshot({ source: otherSource, target, version: 1 })), "SplitBrain");
    // A file of another size at the same path: SplitBrain too, before any manifest.
    await b.commit([{ path: "data/y.parquet", size: 8 }]);
    await target.put("data/y.parquet", new Uint8Array(3));
    assert.equal(await codeOf(mirrorSnapshot({ source: otherSource, target, version: 2 })), "SplitBrain");
  });

  // --- the loop ---

  test("the loop mirrors every version in order, so time travel works on the mirror", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(5, 2);
    await primary.commit([], ["data/f-0-0.parquet"]);
    const m = new Mirror({ source, target });
    assert.equal(await m.tick(), 6);
    const reader = openMirror(target);
    assert.equal(await reader.head(), 6);
    assert.deepEqual(
      (await collect(reader.snapshots())).map((s) => s.version),
      [6, 5, 4, 3, 2, 1],
    );
    for (let v = 1; v <= 6; v++) assert.equal((await verifyMirror(target, v)).ok, true);
    assert.deepEqual(await reader.diff(5, 6), { added: [], removed: ["data/f-0-0.parquet"] });
    assert.equal((await reader.files(1)).length, 2);
    assert.equal(await text(target, LOW_WATER_KEY), "6", "low_water written once, at the end of the tick");
    const s = m.status();
    assert.equal(s.counters.snapshots, 6);
    assert.equal(s.counters.files, 10);
    assert.ok(s.counters.requests.write >= 17 && s.counters.requests.read > 0);
    assert.equal(s.caughtUp, true);
  });

  test("the counters give each store's requests by kind and its bytes, as metered counts them", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(3, 2);
    const src = metered(source);
    const dst = metered(target);
    const m = new Mirror({ source: src, target: dst });
    await m.tick();
    await primary.commitMany(1, 3, 64, "g");
    await m.tick();
    await m.tick(); // idle
    const c = m.status().counters;
    assert.deepEqual(c.source, src.counts());
    assert.deepEqual(c.target, dst.counts());
    // The totals of both stores keep their meaning.
    assert.equal(c.requests.read, src.counts().readClass + dst.counts().readClass);
    assert.equal(c.requests.write, src.counts().writeClass + dst.counts().writeClass);
    assert.equal(c.source?.writeClass, 0, "a mirror never writes to its source");
    assert.ok((c.target?.bytesOut ?? 0) >= c.bytes, "every byte copied was sent to the target");
  });

  test("progress saved before per-store counters counts them from the next tick, keeping its totals", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(2, 1);
    const progress = memoryProgress();
    await new Mirror({ source, target, progress }).tick();
    const saved = progress.saved;
    assert.ok(saved);
    delete saved.counters.source;
    delete saved.counters.target;
    const before = { ...saved.counters.requests };
    await primary.commitMany(1, 1, 64, "g");
    const src = metered(source);
    const dst = metered(target);
    const m = new Mirror({ source: src, target: dst, progress });
    await m.tick();
    const c = m.status().counters;
    assert.deepEqual(c.source, src.counts());
    assert.deepEqual(c.target, dst.counts());
    assert.equal(c.requests.read, before.read + src.counts().readClass + dst.counts().readClass);
    assert.equal(c.requests.write, before.write + src.counts().writeClass + dst.counts().writeClass);
  });

  test("awaitMirror resolves once mirrored, times out with Transient, rejects on shutdown", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    const m = new Mirror({ source, target, pollIntervalMs: 60_000 });
    m.start();
    try {
      await primary.commitMany(2, 1);
      // The loop sleeps for a minute: only the kick inside awaitMirror makes this quick.
      assert.equal(await m.awaitMirror(undefined, { timeoutMs: 10_000 }), 2);
      assert.equal(await m.awaitMirror(1), 2, "already mirrored: at once");
      assert.equal(await codeOf(m.awaitMirror(99, { timeoutMs: 30 })), "Transient");
      const pending = codeOf(m.awaitMirror(100)); // handled before the rejection comes
      await m.shutdown();
      assert.equal(await pending, "Transient");
      assert.equal(await codeOf(m.awaitMirror(1)), "Transient", "after shutdown");
    } finally {
      await m.shutdown();
    }
  });

  test("an idle primary has lag 0 and fires no alert over a simulated hour", async ({ source, target }) => {
    const clock = manualClock();
    const primary = await Primary.open(source, { now: clock.now });
    await primary.commitMany(3, 2);
    const alerts: LagAlert[] = [];
    const m = new Mirror({
      source,
      target,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
    });
    const mt = metered(source);
    await m.tick();
    clock.advance(3_600_000); // the last commit is an hour old
    const idle = new Mirror({
      source: mt,
      target,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
    });
    await idle.tick();
    mt.reset();
    for (let i = 0; i < 720; i++) {
      clock.advance(5_000);
      await idle.tick();
      assert.equal(idle.lagSeconds(), 0);
    }
    assert.equal(alerts.length, 0);
    assert.equal(mt.counts().head / 720, 2, "an idle tick costs two HEADs on the source");
    assert.equal(
      mt.counts().get / 720,
      1,
      "and one read of its low_water (a hint is checked against the GC boundary)",
    );
    assert.equal(idle.status().nextDelayMs, 5_000);
  });

  test("a lagging mirror alerts once per threshold window, then stops when caught up", async ({
    source,
    target,
  }) => {
    const clock = manualClock();
    const primary = await Primary.open(source, { now: clock.now });
    await primary.commit([{ path: "data/a.parquet", size: 5 }]);
    const alerts: LagAlert[] = [];
    const errors: TidemarkError[] = [];
    const down = faulty(target, { failRate: 1, kinds: ["put", "create"], seed: 2 });
    const m = new Mirror({
      source,
      target: down,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 120; i++) {
      await m.tick(); // 10 minutes of failing ticks, every 5 s
      clock.advance(5_000);
    }
    assert.ok(alerts.length >= 9 && alerts.length <= 10, `alerts: ${alerts.length}`);
    assert.ok(alerts.every((a) => a.lagSeconds >= 60 && a.sourceHead === 1 && a.mirrorSeq === 0));
    assert.equal(errors.length, 120);
    const s = m.status();
    assert.equal(s.counters.failures, 120);
    assert.match(s.lastError?.message ?? "", /^\[Transient\]/);
    assert.ok(s.nextDelayMs >= 1_000, "a failed tick backs off");
  });

  test("budget: a tick stops cleanly mid-snapshot; a fresh mirror resumes without re-uploading", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 12);
    const progress = memoryProgress();
    const first = new Mirror({ source, target, progress, parallelism: 2, budget: { requests: 24 } });
    await first.tick();
    const s = first.status();
    assert.equal(s.mirrorSeq, 0);
    assert.equal(s.nextDelayMs, 0, "work remains: tick again at once");
    // The target was empty: what it holds now is what the tick uploaded.
    const done = (await collect(target.list("data/"))).map((o) => o.key);
    assert.ok(done.length > 0 && done.length < 12, `uploaded ${done.length}`);
    assert.equal(s.inProgress?.uploaded, done.length);
    assert.deepEqual(progress.saved?.inProgress?.uploaded.sort(), [...done].sort());
    await assert.rejects(target.head(manifestKey(1)));
    // "Eviction": a new Mirror with the same progress store (listing the
    // target for the rest: files found there or saved as done are not re-sent).
    const rec = recording(target);
    const second = new Mirror({ source, target: rec, progress, listThreshold: 1 });
    await runToCompletion(second);
    for (const k of done) {
      assert.equal(rec.writes.get(k), undefined, `${k} re-uploaded`);
      assert.ok(!rec.heads.includes(k), `${k} re-checked`);
    }
    assert.equal([...rec.writes.keys()].filter((k) => k.startsWith("data/")).length, 12 - done.length);
    assert.equal(second.mirrorSeq, 1);
    await assertSameTable(target, source);
  });

  test("a source that expired intermediate versions: jump to the oldest, record the gap", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(2, 1);
    const m = new Mirror({ source, target });
    await m.tick();
    await primary.commitMany(8, 1, 64, "g");
    await primary.catalog.expire({ keepLast: 3 }); // keeps v8..v10
    assert.equal(await m.tick(), 10);
    assert.deepEqual(m.status().gaps, [{ from: 3, to: 7, reason: "expired" }]);
    const reader = openMirror(target);
    assert.equal(await reader.head(), 10);
    assert.deepEqual(
      (await collect(reader.snapshots())).map((s) => s.version),
      [10, 9, 8],
    );
    assert.equal((await verifyMirror(target)).ok, true);
    // A fresh target behind the same source starts at the oldest version it still has.
    const fresh = new Mirror({ source, target: (await makeStores()).target });
    assert.equal(await fresh.tick(), 10);
    assert.deepEqual(fresh.status().gaps, [{ from: 1, to: 7, reason: "expired" }]);
  });

  test("openMirror and verifyMirror work over a read-only store (no list, no writes)", async ({
    source,
    target,
    another,
  }) => {
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/a.parquet", size: 5, dv: { path: "data/a.puffin", size: 4 } }]);
    await primary.commit([{ path: "data/b.parquet", size: 6 }]);
    await new Mirror({ source, target }).tick();
    const ro = recording(target, { readOnly: true });
    const reader = openMirror(ro);
    assert.equal(await reader.head(), 2);
    assert.deepEqual(await reader.files(2), ["data/a.parquet", "data/a.puffin", "data/b.parquet"]);
    assert.deepEqual(await verifyMirror(ro), {
      version: 2,
      ok: true,
      missing: [],
      wrongSize: [],
      foreign: [],
    });
    assert.equal(await codeOf(reader.manifest(3)), "NotFound");
    // Damage the target: verifyMirror names what is wrong.
    await target.delete("data/a.puffin");
    await target.put("data/b.parquet", new Uint8Array(2));
    assert.deepEqual(await verifyMirror(ro, 2), {
      version: 2,
      ok: false,
      missing: ["data/a.puffin"],
      wrongSize: ["data/b.parquet"],
      foreign: [],
    });
    const empty = recording(another(), { readOnly: true });
    assert.deepEqual(await verifyMirror(empty), {
      version: 0,
      ok: true,
      missing: [],
      wrongSize: [],
      foreign: [],
    });
  });

  // --- faults ---

  test(
    "a crash at every request of the target, then a fresh mirror: readers only ever see complete snapshots",
    async () => {
      // A 3-snapshot scenario: a file dropped, a dv added.
      const points = await sweepTargetCrashes(
        ["steady", "batch", "steady+list", "batch+list"],
        async (source) => {
          const primary = await Primary.open(source);
          return [
            () =>
              primary.commit([
                { path: "data/a.parquet", size: 7 },
                { path: "data/b.parquet", size: 9 },
              ]),
            () =>
              primary.commit(
                [{ path: "data/c.parquet", size: 11, dv: { path: "data/c.puffin", size: 3 } }],
                ["data/a.parquet"],
              ),
            () => primary.commit([{ path: "data/d.parquet", size: 13 }]),
          ];
        },
        async (pair, label) => {
          await assertReadable(pair.target, pair.source);
          await assertSameTable(pair.target, pair.source);
          assert.equal(await text(pair.target, LOW_WATER_KEY), "3", label);
          assert.equal((await verifyMirror(pair.target)).ok, true);
        },
      );
      opts.onCrashPoints?.(points);
    },
    { exhaustive: true },
  );

  test("lost responses on every create converge, with no false SplitBrain", async ({ source, target }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(3, 4);
    await primary.commit([{ path: "data/dv.parquet", size: 4, dv: { path: "data/dv.puffin", size: 2 } }]);
    const lossy = faulty(target, { lostResponseRate: 1, kinds: ["create"], seed: 7 });
    const errors: TidemarkError[] = [];
    const m = new Mirror({ source, target: lossy, onError: (e) => errors.push(e) });
    await runToCompletion(m, 100);
    assert.equal(errors.filter((e) => isTidemarkError(e, "SplitBrain")).length, 0);
    assert.ok(lossy.injected() >= 17, "every create lost its response");
    assert.equal(m.mirrorSeq, 4);
    await assertSameTable(target, source);
    assert.equal(await text(target, LOW_WATER_KEY), "4");
  });

  test("two mirrors racing from the same source: one result, nothing overwritten", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(4, 5);
    const rec = recording(target);
    const errors: TidemarkError[] = [];
    const a = new Mirror({ source, target: rec, parallelism: 3, onError: (e) => errors.push(e) });
    // b checks with listings: a file a lists as missing and b then creates is settled create-only.
    const b = new Mirror({
      source,
      target: rec,
      parallelism: 2,
      listThreshold: 1,
      onError: (e) => errors.push(e),
    });
    await Promise.all([runToCompletion(a), runToCompletion(b)]);
    assert.deepEqual(errors, []);
    await assertSameTable(target, source);
    for (const [k, n] of rec.writes) {
      if (k !== LOW_WATER_KEY) assert.equal(n, 1, `${k} written ${n} times`);
    }
    const etags = new Map((await collect(target.list(""))).map((m) => [m.key, m.etag]));
    await Promise.all([new Mirror({ source, target }).tick(), new Mirror({ source, target }).tick()]);
    assert.deepEqual(new Map((await collect(target.list(""))).map((m) => [m.key, m.etag])), etags);
  });

  test("two mirrors of different sources on one target: SplitBrain, raised to awaitMirror", async ({
    source,
    target,
    another,
  }) => {
    const other = another();
    await (await Primary.open(source, { uuid: "00000000-0000-4000-8000-0000000000aa" })).commitMany(2, 2);
    await (await Primary.open(other, { uuid: "00000000-0000-4000-8000-0000000000bb" })).commitMany(2, 2);
    await new Mirror({ source, target }).tick();
    const before = await contents(target);
    const errors: TidemarkError[] = [];
    const m = new Mirror({ source: other, target, onError: (e) => errors.push(e) });
    const waiting = codeOf(m.awaitMirror(2));
    await m.tick();
    assert.equal(await waiting, "SplitBrain");
    assert.ok(errors.length === 1 && isTidemarkError(errors[0], "SplitBrain"));
    assert.match(m.status().lastError?.message ?? "", /^\[SplitBrain\]/);
    assert.deepEqual(await contents(target), before, "nothing of the other history was written");
    await m.shutdown();
  });

  test("a dv file gets the bytes of the source, and verifyMirror checks its minimum size", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/p.parquet", size: 20, dv: { path: "data/p.puffin", size: 9 } }]);
    await new Mirror({ source, target }).tick();
    assert.deepEqual(await (await target.get("data/p.puffin")).bytes(), fileBytes("data/p.puffin", 9));
    await target.delete("data/p.puffin");
    await target.put("data/p.puffin", new Uint8Array(4));
    assert.deepEqual((await verifyMirror(target)).wrongSize, ["data/p.puffin"]);
  });

  test("options are checked: the mirror never throws from tick, status is JSON", async ({
    source,
    target,
  }) => {
    const m = new Mirror({ source, target } satisfies MirrorOptions);
    assert.equal(await m.tick(), 0);
    const s = m.status();
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
    assert.equal(s.caughtUp, true);
    assert.equal(s.lagSeconds, 0);
  });
  test("a file bigger than the tick's byte budget is still copied (one step per tick)", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commit([
      { path: "data/big-0.parquet", size: 100 },
      { path: "data/big-1.parquet", size: 100 },
    ]);
    // The Durable Object's budget is 64 MiB a tick: a bigger file must still move.
    const m = new Mirror({ source, target, parallelism: 1, budget: { bytes: 10 } });
    await m.tick();
    assert.equal(m.status().inProgress?.uploaded, 1, "the first tick copies one file");
    await runToCompletion(m, 4);
    assert.equal(m.mirrorSeq, 1);
    await assertSameTable(target, source);
    // Likewise a request budget too small for one snapshot and one file.
    const other = (await makeStores()).target;
    const tight = new Mirror({ source, target: other, parallelism: 1, budget: { requests: 5 } });
    await runToCompletion(tight, 10);
    await assertSameTable(other, source);
  });

  test("the reader's chain reports a previous_snapshot_id that does not go back as an anomaly and goes on below it", async ({
    target,
  }) => {
    await target.put(manifestKey(1), encodeManifest(createManifest({ snapshotId: 1n })));
    await target.put(
      manifestKey(2),
      encodeManifest(createManifest({ snapshotId: 2n, previousSnapshotId: 2n })),
    );
    const seen: Array<[number, boolean]> = [];
    for await (const s of openMirror(target).snapshots(2)) {
      seen.push([s.version, s.anomaly !== undefined]);
      if (seen.length > 3) break; // without the check: an endless loop
    }
    assert.deepEqual(seen, [
      [2, true],
      [1, false],
    ]);
  });

  test("a table whose manifests carry no table_uuid keeps none, and mirrors without SplitBrain", async ({
    source,
    target,
  }) => {
    // Written by another tool: no table_uuid.
    await source.put("data/x.parquet", fileBytes("data/x.parquet", 4));
    const v1 = createManifest({
      snapshotId: 1n,
      dataFiles: [{ path: "data/x.parquet", fileSize: 4n, numRows: 1n, status: 1 }],
    });
    await source.put(manifestKey(1), encodeManifest(v1));
    const m = new Mirror({ source, target });
    assert.equal(await m.tick(), 1);
    const catalog = await Catalog.open(source, {
      newTableUuid: () => "00000000-0000-4000-8000-00000000000f",
    });
    await source.put("data/y.parquet", fileBytes("data/y.parquet", 5));
    await catalog.commit({ add: [{ path: "data/y.parquet", fileSize: 5, numRows: 1 }] });
    assert.equal((await catalog.manifest(2)).tableUuid, "", "v1's identity is kept, not replaced");
    assert.equal(await m.tick(), 2);
    assert.equal(m.status().lastError, null);
    await assertSameTable(target, source);
  });

  // --- history integrity and target identity ---

  test("a leftover manifest whose files are gone on the source is a gap, never a stall", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(3, 1);
    await primary.commit([{ path: "data/d.parquet", size: 5 }]);
    await primary.commit([{ path: "data/e.parquet", size: 6 }], ["data/d.parquet"]);
    await primary.commit([{ path: "data/f.parquet", size: 7 }]);
    const v4 = await (await source.get(manifestKey(4))).bytes();
    await primary.catalog.expire({ keepLast: 2 }); // keeps v5, v6; deletes d with v4
    // A leftover of an expire by another tool: v4's manifest stayed, its file d did not.
    await source.put(manifestKey(4), v4);
    assert.equal(await codeOf(source.head("data/d.parquet")), "NotFound");
    const m = new Mirror({ source, target });
    await m.tick();
    const s = m.status();
    assert.equal(s.mirrorSeq, 6);
    assert.ok(s.caughtUp, "caught up: nothing left that can be mirrored");
    assert.equal(s.lastError, null);
    assert.deepEqual(await assertReadable(target, source), [5, 6]);
  });

  test("a version whose files were garbage collected after a compaction is a recorded gap", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/L0/a.parquet", size: 5 }]);
    await primary.commit([{ path: "data/L0/b.parquet", size: 6 }]);
    // A compaction: a and b merge into c; 5 minutes later merutable deletes a and b.
    await primary.commit(
      [{ path: "data/L1/c.parquet", size: 11 }],
      ["data/L0/a.parquet", "data/L0/b.parquet"],
    );
    await source.delete("data/L0/a.parquet");
    await source.delete("data/L0/b.parquet");
    const m = new Mirror({ source, target });
    assert.equal(await m.tick(), 3);
    assert.deepEqual(m.status().gaps, [{ from: 1, to: 2, reason: "files-gone" }]);
    assert.ok(m.status().caughtUp);
    assert.deepEqual(await assertReadable(target, source), [3]);
    // A file HEAD still needs is an error (retried), never a gap.
    await primary.commit([{ path: "data/L0/d.parquet", size: 3 }]);
    await source.delete("data/L0/d.parquet");
    const errors: TidemarkError[] = [];
    const m2 = new Mirror({ source, target, onError: (e) => errors.push(e) });
    await m2.tick();
    assert.equal(m2.mirrorSeq, 3);
    assert.ok(errors.length === 1 && isTidemarkError(errors[0], "NotFound"));
    assert.equal(m2.status().caughtUp, false);
  });

  test("a mirror of a mirror with a gap follows past the gap, never caught up at it", async ({
    source,
    target,
    another,
  }) => {
    const second = another();
    const primary = await Primary.open(source);
    await primary.commitMany(2, 1);
    const m1 = new Mirror({ source, target });
    const m2 = new Mirror({ source: target, target: second });
    await m1.tick();
    await m2.tick();
    await primary.commitMany(8, 1, 64, "g");
    await primary.catalog.expire({ keepLast: 3 }); // v8..v10 kept: the first mirror gets a gap
    await m1.tick();
    assert.deepEqual(
      m1.status().gaps.map((g) => [g.from, g.to]),
      [[3, 7]],
    );
    const waited = m2.awaitMirror(10, { timeoutMs: 5_000 });
    await m2.tick();
    assert.equal(await waited, 10);
    const s = m2.status();
    assert.deepEqual([s.mirrorSeq, s.sourceHead, s.caughtUp], [10, 10, true]);
    assert.deepEqual(s.gaps, [{ from: 3, to: 7, reason: "expired" }]);
    assert.deepEqual(await assertReadable(second, source), [1, 2, 8, 9, 10]);
  });

  test("saved progress is bound to the target: a new target or a wiped one never inherits it", async ({
    source,
    target,
    another,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(2, 3);
    const progress = memoryProgress();
    await runToCompletion(new Mirror({ source, target, progress }));
    // Half of v3 reaches the old target, then the progress store moves to a new target.
    await primary.commitMany(1, 6, 64, "h");
    const half = new Mirror({ source, target, progress, parallelism: 1, budget: { requests: 8 } });
    await half.tick();
    assert.ok((progress.saved?.inProgress?.uploaded.length ?? 0) > 0, "v3 is in progress");
    const moved = another();
    await runToCompletion(new Mirror({ source, target: moved, progress }));
    assert.deepEqual(await assertReadable(moved, source), [1, 2, 3]);
    assert.equal((await verifyMirror(moved)).ok, true);
    assert.equal(progress.saved?.binding?.target, moved.id ?? moved.name);
    // The same target wiped: the progress names v3, which is not there any more.
    for (const m of await collect(moved.list(""))) await moved.delete(m.key);
    await runToCompletion(new Mirror({ source, target: moved, progress }));
    assert.deepEqual(await assertReadable(moved, source), [1, 2, 3]);
  });

  test("a file of another table with the same name and size is never taken for the source's", async ({
    source,
    target,
    another,
  }) => {
    // Table B's mirror stops mid-snapshot: its files are on the target, its manifest is not.
    const other = another();
    const b = await Primary.open(other, { uuid: "00000000-0000-4000-8000-00000000000b" });
    await b.commit([
      { path: "data/x.parquet", size: 8, seed: "table b" },
      { path: "data/y.parquet", size: 9 },
    ]);
    const mb = new Mirror({ source: other, target, parallelism: 1, budget: { requests: 6 } });
    await mb.tick();
    assert.equal(await codeOf(target.head(manifestKey(1))), "NotFound");
    await target.head("data/x.parquet");
    // Table A has a file of the same name and size, other bytes.
    const a = await Primary.open(source);
    await a.commit([{ path: "data/x.parquet", size: 8, seed: "table a" }]);
    const errors: TidemarkError[] = [];
    const ma = new Mirror({ source, target, onError: (e) => errors.push(e) });
    await ma.tick();
    assert.ok(errors.length === 1 && isTidemarkError(errors[0], "SplitBrain"), String(errors[0]));
    assert.match(errors[0]?.message ?? "", /data\/x\.parquet/);
    assert.equal(await codeOf(target.head(manifestKey(1))), "NotFound", "no manifest names B's bytes");
    // verifyMirror with the source finds such a file even where only sizes agree.
    const t2 = another();
    await new Mirror({ source, target: t2 }).tick();
    await t2.delete("data/x.parquet");
    await t2.put("data/x.parquet", fileBytes("table b", 8));
    const v = await verifyMirror(t2, undefined, { source });
    assert.deepEqual([v.ok, v.foreign, (await verifyMirror(t2)).ok], [false, ["data/x.parquet"], true]);
  });

  test("a path the source re-used with other bytes is detected, never served", async ({ source, target }) => {
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/r.parquet", size: 10, seed: "first" }]);
    await primary.commit([{ path: "data/s.parquet", size: 3 }], ["data/r.parquet"]);
    const errors: TidemarkError[] = [];
    const m = new Mirror({ source, target, onError: (e) => errors.push(e) });
    await m.tick();
    assert.equal(m.mirrorSeq, 2);
    await primary.commit([{ path: "data/r.parquet", size: 10, seed: "second" }]);
    await m.tick();
    assert.equal(m.mirrorSeq, 2);
    assert.ok(errors.length === 1 && isTidemarkError(errors[0], "SplitBrain"), String(errors[0]));
    assert.match(errors[0]?.message ?? "", /re-used/);
    assert.equal(await codeOf(target.head(manifestKey(3))), "NotFound");
    assert.deepEqual(await (await target.get("data/r.parquet")).bytes(), fileBytes("first", 10));
  });

  test("lag is on the mirror's clock: a fast writer clock never hides an outage, a slow one never alarms", async ({
    source,
    target,
  }) => {
    const clock = manualClock();
    const fast = await Primary.open(source, { now: () => clock.now() + 2 * 3_600_000 });
    await fast.commit([{ path: "data/a.parquet", size: 5 }]);
    const alerts: LagAlert[] = [];
    let down = false;
    const flaky: ObjectStore = {
      ...target,
      name: target.name,
      get: (k, o) => (down ? Promise.reject(new Error("down")) : target.get(k, o)),
      head: (k) => (down ? Promise.reject(new Error("down")) : target.head(k)),
      put: (k, b, o) => (down ? Promise.reject(new Error("down")) : target.put(k, b, o)),
      delete: (k) => target.delete(k),
      deleteMany: (ks) => target.deleteMany(ks),
      list: (p, o) => target.list(p, o),
    };
    const m = new Mirror({
      source,
      target: flaky,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
    });
    await m.tick();
    assert.equal(m.lagSeconds(), 0);
    // The target goes down for an hour; the writer (2 h fast) keeps committing.
    down = true;
    clock.advance(5_000);
    await fast.commit([{ path: "data/b.parquet", size: 5 }]);
    for (let i = 0; i < 720; i++) {
      clock.advance(5_000);
      await m.tick();
    }
    const lag = m.lagSeconds() ?? 0;
    assert.ok(lag >= 3_590 && lag <= 3_600, `lag ${lag}`);
    assert.ok(alerts.length >= 50, `alerts ${alerts.length}`);
    assert.equal(m.status().caughtUp, false);
    down = false;
    await m.tick();
    assert.deepEqual([m.mirrorSeq, m.lagSeconds()], [2, 0]);
    // A writer a day slow: a commit the mirror sees within one poll has a lag of one poll.
    const slow = await Primary.open(source, { now: () => clock.now() - 86_400_000 });
    alerts.length = 0;
    clock.advance(5_000);
    await slow.commit([{ path: "data/c.parquet", size: 5 }]);
    clock.advance(5_000);
    const behind = new Mirror({
      source,
      target: flaky,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
    });
    await behind.tick();
    assert.equal(behind.mirrorSeq, 3);
    assert.equal(alerts.length, 0);
  });

  test("a target that is down from the start reports growing lag and alerts, never null", async ({
    source,
    target,
  }) => {
    const clock = manualClock();
    const primary = await Primary.open(source, { now: clock.now });
    await primary.commit([{ path: "data/a.parquet", size: 5 }]);
    const alerts: LagAlert[] = [];
    const down = faulty(target, { crashAt: 1 });
    const m = new Mirror({
      source,
      target: down,
      now: clock.now,
      lagAlertSecs: 60,
      onLagAlert: (a) => alerts.push(a),
    });
    for (let i = 0; i < 24; i++) {
      await m.tick();
      clock.advance(5_000);
    }
    const s = m.status();
    assert.equal(s.sourceHead, 1);
    assert.ok((s.lagSeconds ?? 0) >= 115, `lag ${s.lagSeconds}`);
    assert.equal(s.caughtUp, false);
    assert.ok(alerts.length >= 1);
  });

  test("numeric options are validated: InvalidArgument naming the option", async ({ source, target }) => {
    const bad: Array<[string, Partial<MirrorOptions>]> = [
      ["parallelism", { parallelism: Number.NaN }],
      ["parallelism", { parallelism: Number.POSITIVE_INFINITY }],
      ["parallelism", { parallelism: 0 }],
      ["parallelism", { parallelism: 1.5 }],
      ["pollIntervalMs", { pollIntervalMs: Number.NaN }],
      ["pollIntervalMs", { pollIntervalMs: -1 }],
      ["listThreshold", { listThreshold: Number.NaN }],
      ["lagAlertSecs", { lagAlertSecs: Number.NaN }],
      ["budget.requests", { budget: { requests: Number.NaN } }],
      ["budget.bytes", { budget: { bytes: -5 } }],
      ["backoff.baseDelayMs", { backoff: { baseDelayMs: Number.POSITIVE_INFINITY } }],
      ["shutdownTimeoutMs", { shutdownTimeoutMs: Number.NaN }],
    ];
    for (const [name, o] of bad) {
      assert.throws(
        () => new Mirror({ source, target, ...o }),
        (e: unknown) => isTidemarkError(e, "InvalidArgument") && (e as Error).message.includes(name),
        name,
      );
    }
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/a.parquet", size: 5 }]);
    for (const parallelism of [Number.NaN, Number.POSITIVE_INFINITY, 0]) {
      assert.equal(
        await codeOf(mirrorSnapshot({ source, target, version: 1, parallelism })),
        "InvalidArgument",
      );
    }
    assert.equal(await codeOf(target.head("data/a.parquet")), "NotFound", "nothing was written");
    const m = new Mirror({ source, target });
    assert.equal(await codeOf(m.awaitMirror(Number.NaN)), "InvalidArgument");
    assert.equal(await codeOf(m.awaitMirror(1, { timeoutMs: Number.NaN })), "InvalidArgument");
  });

  test("a target wiped under a live mirror is noticed at the next tick and mirrored again, idle or mid-snapshot", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(2, 3);
    const m = new Mirror({ source, target });
    await m.tick();
    assert.equal(m.mirrorSeq, 2);
    const wipe = async () => {
      for (const o of await collect(target.list(""))) await target.delete(o.key);
    };
    await wipe(); // while idle
    await m.tick();
    assert.ok(m.status().caughtUp);
    assert.deepEqual(await assertReadable(target, source), [1, 2]);
    // Mid-snapshot: the first tick copies some files of v3, then the target is wiped.
    await primary.commitMany(1, 6, 64, "w");
    const other = (await makeStores()).target;
    const half = new Mirror({ source, target: other, parallelism: 1, budget: { requests: 12 } });
    await half.tick();
    assert.ok((half.status().inProgress?.uploaded ?? 0) > 0);
    for (const o of await collect(other.list(""))) await other.delete(o.key);
    await runToCompletion(half);
    assert.deepEqual(await assertReadable(other, source), [1, 2, 3]);
  });

  // --- a posix source: merutable's primary (version-hint.text, metadata/v{N}.metadata.pb) ---

  test("a posix primary is mirrored byte for byte: vN.manifest.bin is vN.metadata.pb, files before manifests", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commit([{ path: "data/L0/a.parquet", size: 7 }]);
    await primary.commit([
      { path: "data/L0/b.parquet", size: 9, dv: { path: "data/L0/b.dv-2.puffin", size: 3 } },
    ]);
    await primary.commit([{ path: "data/L1/c.parquet", size: 11 }], ["data/L0/a.parquet"]);
    const m = new Mirror({ source, target });
    await runToCompletion(m);
    assert.equal(m.mirrorSeq, 3);
    assert.deepEqual(m.status().gaps, []);
    assert.deepEqual(await assertMirrorsPosix(target, source), [1, 2, 3]);
    assert.equal(await text(target, LOW_WATER_KEY), "3");
    assert.equal(
      await codeOf(target.head(VERSION_HINT_KEY)),
      "NotFound",
      "the target is the object-store layout",
    );
    assert.deepEqual(
      (await collect(openMirror(target).snapshots())).map((x) => x.version),
      [3, 2, 1],
    );
    // Incremental: the next version copies only its new file.
    await primary.commit([{ path: "data/L0/d.parquet", size: 5 }]);
    const rec = recording(target);
    const next = new Mirror({ source, target: rec });
    await runToCompletion(next);
    assert.deepEqual(
      [...rec.writes.keys()].filter((k) => k.startsWith("data/")),
      ["data/L0/d.parquet"],
    );
    assert.deepEqual(await assertMirrorsPosix(target, source), [1, 2, 3, 4]);
  });

  test("an idle poll of a posix source costs one GET of version-hint.text", async ({ source, target }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(2, 2);
    const ms = metered(source);
    const m = new Mirror({ source: ms, target });
    await runToCompletion(m);
    ms.reset();
    for (let i = 0; i < 10; i++) await m.tick();
    const c = ms.counts();
    assert.deepEqual([c.get, c.head, c.list, c.put], [10, 0, 0, 0], "one GET per idle tick");
    assert.ok(m.status().caughtUp);
    // A new version is found by that one GET.
    await primary.commitMany(1, 1, "n");
    await m.tick();
    assert.equal(m.mirrorSeq, 3);
  });

  test("versions whose files merutable garbage-collected become files-gone gaps, not a stall", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitCompactedAndCollected();
    const m = new Mirror({ source, target });
    await runToCompletion(m);
    assert.equal(m.mirrorSeq, 4);
    assert.deepEqual(m.status().gaps, [{ from: 1, to: 2, reason: "files-gone" }]);
    assert.deepEqual(await assertMirrorsPosix(target, source, [3, 4]), [3, 4]);
    assert.equal((await verifyMirror(target, 3)).ok, true);
  });

  test("a posix source's legacy JSON versions are recorded gaps; the versions after them are mirrored", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(3, 1);
    // merutable before its protobuf manifests: v1 only as JSON.
    await source.delete(posixManifestKey(1));
    await source.put(legacyManifestKey(1), '{"snapshot_id":1}');
    const m = new Mirror({ source, target });
    await runToCompletion(m);
    assert.equal(m.mirrorSeq, 3);
    assert.deepEqual(m.status().gaps, [{ from: 1, to: 1, reason: "legacy" }]);
    assert.deepEqual(await assertMirrorsPosix(target, source, [2, 3]), [2, 3]);
  });

  test("a posix HEAD whose manifest is missing fails the tick (retried), never a gap", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(2, 1);
    // A copy of the primary made out of order: the hint arrived before its manifest.
    await source.put(VERSION_HINT_KEY, "3");
    const errors: TidemarkError[] = [];
    const m = new Mirror({ source, target, onError: (e) => errors.push(e) });
    await m.tick();
    // v1 is mirrored; v2 waits for its successor to confirm it (never an "unconfirmed" gap).
    assert.equal(m.mirrorSeq, 1);
    assert.deepEqual(m.status().gaps, []);
    assert.match(
      errors[0]?.message ?? "",
      /^\[NotFound\] the source's HEAD v3 has no manifest \(metadata\/v3\.metadata\.pb\)/,
    );
    assert.equal(m.status().caughtUp, false);
    // The manifest arrives: the next tick mirrors it.
    await primary.commit([{ path: "data/L0/late.parquet", size: 3 }]);
    await runToCompletion(m);
    assert.equal(m.mirrorSeq, 3);
  });

  test("a mirror refuses a target that holds a posix table (from and to swapped), writing nothing", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commitMany(1, 1);
    const merutable = new PosixPrimary(target);
    await merutable.commitMany(1, 1);
    const before = await contents(target);
    const errors: TidemarkError[] = [];
    const m = new Mirror({ source, target, onError: (e) => errors.push(e) });
    await m.tick();
    assert.equal(errors[0]?.code, "NotSupported");
    assert.match(errors[0]?.message ?? "", /holds a posix table \(version-hint\.text/);
    assert.deepEqual(await contents(target), before, "nothing written");
    assert.equal(await codeOf(m.awaitMirror(1)), "NotSupported");
  });

  test(
    "a crash at every request of the target mirroring a posix primary, then a fresh mirror: readers only ever see complete snapshots",
    async () => {
      const points = await sweepTargetCrashes(
        ["steady", "batch"],
        async (source) => {
          const primary = new PosixPrimary(source);
          return [
            () =>
              primary.commit([
                { path: "data/L0/a.parquet", size: 7 },
                { path: "data/L0/b.parquet", size: 9 },
              ]),
            () =>
              primary.commit(
                [{ path: "data/L1/c.parquet", size: 11, dv: { path: "data/L1/c.dv-2.puffin", size: 3 } }],
                ["data/L0/a.parquet"],
              ),
            () => primary.commit([{ path: "data/L0/d.parquet", size: 13 }]),
          ];
        },
        async (pair, label) => {
          assert.deepEqual(await assertMirrorsPosix(pair.target, pair.source), [1, 2, 3], label);
          assert.equal(await text(pair.target, LOW_WATER_KEY), "3", label);
        },
      );
      opts.onCrashPoints?.(points);
    },
    { exhaustive: true },
  );
}

/**
 * The target mirrors the posix `source` at `versions` (default: every version
 * up to its hint): each `v{N}.manifest.bin` holds exactly the source's
 * `v{N}.metadata.pb` bytes, and every file it references holds the source's
 * bytes. Returns the versions the target holds.
 */
async function assertMirrorsPosix(
  target: ObjectStore,
  source: ObjectStore,
  versions?: number[],
): Promise<number[]> {
  const head = Number(await text(source, VERSION_HINT_KEY));
  const want = versions ?? Array.from({ length: head }, (_, i) => i + 1);
  for (const v of want) {
    const pb = await (await source.get(posixManifestKey(v))).bytes();
    assert.deepEqual(await (await target.get(manifestKey(v))).bytes(), pb, `v${v}: manifest bytes differ`);
  }
  return assertReadable(target, source);
}
