/**
 * A mirror's retention on in-process stores (its logic is store-independent;
 * S3's versions and Object Lock are proven on moto and RGW in
 * object-lock.test.ts): the window, the boundary every reader reads, a crash
 * at every request of a pass, a reader racing it, the restore drill, mirrors
 * of mirrors with shorter and longer windows, the sweep, locks, the budget.
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { RETENTION_KEY } from "../../src/catalog/layout.ts";
import { demoCommit } from "../../src/demo/writer.ts";
import { referencedFiles } from "../../src/manifest/live.ts";
import { CHECKSUMS_PREFIX, checksumsKey } from "../../src/mirror/checksums.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { ORIGIN_SOURCE_KEY } from "../../src/mirror/origin.ts";
import { openMirror, verifyMirror } from "../../src/mirror/reader.ts";
import type { MirrorOptions } from "../../src/mirror/settings.ts";
import { restore } from "../../src/restore/restore.ts";
import { inspectApp } from "../../src/server/inspect-app.ts";
import { faulty } from "../../src/store/faulty.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { metered } from "../../src/store/metered.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { EVENTS_SCHEMA } from "../contract/restore.contract.ts";
import { codeOf, collect } from "../support/harness.ts";
import { contents, fileBytes, manualClock, Primary } from "../support/mirror-fixture.ts";

const DAY = 86_400_000;
const text = async (s: ObjectStore, k: string) => (await s.get(k)).text();
const keysOf = async (s: ObjectStore) => (await collect(s.list(""))).map((m) => m.key).sort();

/** A primary committing a steadily compacted table: every commit adds a file, every third drops the oldest. */
class Table {
  readonly primary: Primary;
  readonly live: string[] = [];
  #n = 0;
  constructor(primary: Primary) {
    this.primary = primary;
  }
  static async open(source: ObjectStore, schema = false): Promise<Table> {
    return new Table(await Primary.open(source, schema ? { schema: EVENTS_SCHEMA } : {}));
  }
  async commit(): Promise<number> {
    const path = `data/f${++this.#n}.parquet`;
    const remove = this.#n % 3 === 0 ? this.live.splice(0, 1) : [];
    this.live.push(path);
    return this.primary.commit([{ path, size: 10 + this.#n }], remove);
  }
}

/** The files the versions from `from` on name on `store` (what retention must keep), and their bytes. */
async function namedBy(store: ObjectStore, versions: number[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const reader = openMirror(store);
  for (const v of versions) {
    for (const f of referencedFiles(await reader.manifest(v))) out.set(f.path, f.size ?? 0);
  }
  return out;
}

/** Every manifest on `store`, at any version, has every file it names (what no reader may ever miss). */
async function assertNoTornManifest(store: ObjectStore, label: string): Promise<void> {
  const keys = new Set(await keysOf(store));
  for (const k of keys) {
    const m = /^metadata\/v(\d+)\.manifest\.bin$/.exec(k);
    if (!m) continue;
    const manifest = (await import("../../src/manifest/codec.ts")).decodeManifest(
      await (await store.get(k)).bytes(),
    );
    for (const f of referencedFiles(manifest)) {
      assert.ok(keys.has(f.path), `${label}: v${m[1]} names ${f.path}, which is gone`);
    }
  }
}

function mirrorOf(source: ObjectStore, target: ObjectStore, extra: Partial<MirrorOptions> = {}): Mirror {
  return new Mirror({ source, target, lagAlertSecs: 0, ...extra });
}

describe("mirror retention", () => {
  it("keeps the newest N versions and HEAD; older manifests and the files only they named are deleted; the boundary is published; status says what is kept and freed", async () => {
    const source = new MemoryStore({ name: "source" });
    const target = new MemoryStore({ name: "target" });
    const t = await Table.open(source);
    const m = mirrorOf(source, target, { retention: { keepVersions: 3, graceMs: 0 } });
    for (let i = 0; i < 9; i++) {
      await t.commit();
      await m.tick();
    }
    const s = m.status();
    assert.equal(s.lastError, null);
    assert.equal(s.mirrorSeq, 9);
    assert.equal(await text(target, RETENTION_KEY), "7");
    const kept = await namedBy(target, [7, 8, 9]);
    assert.deepEqual(
      await keysOf(target),
      [
        ...kept.keys(),
        "metadata/low_water.txt",
        "metadata/oldest_retained.txt",
        "metadata/v7.manifest.bin",
        "metadata/v8.manifest.bin",
        "metadata/v9.manifest.bin",
        "_tidemark/checksums/v7.sha256",
        "_tidemark/checksums/v8.sha256",
        "_tidemark/checksums/v9.sha256",
      ].sort(),
      "nothing but what the kept versions name, and their checksum records",
    );
    const r = s.retention;
    assert.equal(r?.oldestRetained, 7);
    assert.equal(r?.versionsKept, 3);
    assert.equal(r?.waiting, 0);
    assert.equal(r?.totals.versionsExpired, 6);
    let manifestBytes = 0;
    for (const v of [7, 8, 9])
      manifestBytes += (await (await target.get(`metadata/v${v}.manifest.bin`)).bytes()).length;
    assert.equal(r?.bytesRetained, [...kept.values()].reduce((a, b) => a + b, 0) + manifestBytes);
    // Freed: the 2 files v7..v9 no longer name (f1, f2), and 6 manifests.
    assert.equal(r?.totals.filesDeleted, 2);
    assert.ok((r?.totals.bytesFreed ?? 0) > 3 * 10);
    // Every kept version verifies; an expired one is refused, naming the oldest kept.
    for (const v of [7, 8, 9]) assert.equal((await verifyMirror(target, v)).ok, true);
    // Deep verification checks the retained versions against their records (every byte recorded and
    // there; this fixture's files are not Parquet, which it names too); an expired one is refused.
    const deep = await verifyMirror(target, { deep: true, all: true });
    assert.deepEqual(deep.versions, [7, 8, 9]);
    assert.deepEqual(deep.unrecorded, []);
    assert.deepEqual(
      deep.problems.filter((p) => p.kind !== "parquet" && p.kind !== "schema"),
      [],
      "no file missing, none with other bytes than its record's",
    );
    await assert.rejects(
      verifyMirror(target, { deep: true, version: 6 }),
      /has expired: the oldest version retained is v7/,
    );
    const reader = openMirror(target);
    await assert.rejects(
      reader.manifest(6),
      /snapshot v6 of target has expired: the oldest version retained is v7/,
    );
    await assert.rejects(verifyMirror(target, 2), /has expired: the oldest version retained is v7/);
    assert.deepEqual(
      (await collect(reader.snapshots())).map((x) => x.version),
      [9, 8, 7],
    );
  });

  it("an Iceberg view holds its snapshots' versions: retention never expires a version the view's latest metadata lists, so its time travel finds every file", async () => {
    const source = new MemoryStore({ name: "source" });
    const target = new MemoryStore({ name: "target" });
    const m = mirrorOf(source, target, {
      retention: { keepVersions: 2, graceMs: 0 },
      iceberg: { location: "s3://bucket/t", maxSnapshots: 4 },
    });
    let head = 0;
    for (let i = 0; i < 10; i++) {
      head = await demoCommit(source, { files: 1, rows: 20, compactAt: 4 });
      await m.tick();
      const s = m.status();
      assert.equal(s.lastError, null);
      const oldest = Math.max(1, head - 3);
      // The view lists its last 4 snapshots; keepVersions 2 alone would keep only the last 2.
      assert.equal(s.retention?.oldestRetained, oldest, `after v${head}`);
      const listed = JSON.parse(await text(target, `iceberg/metadata/v${head}.metadata.json`)) as {
        snapshots: Array<{ "snapshot-id": number }>;
      };
      assert.deepEqual(
        listed.snapshots.map((x) => x["snapshot-id"]),
        Array.from({ length: head - oldest + 1 }, (_, k) => oldest + k),
      );
      await assertNoTornManifest(target, `after v${head}`);
      const keys = new Set(await keysOf(target));
      for (const [path] of await namedBy(
        target,
        listed.snapshots.map((x) => x["snapshot-id"]),
      )) {
        assert.ok(keys.has(path), `a snapshot the view lists names ${path}, which retention deleted`);
      }
    }
    assert.equal(head, 10);
    assert.equal(await text(target, RETENTION_KEY), "7");
    await m.shutdown();
  });

  it("keepDays keeps every version that was HEAD in the window (by when the target stored it), keepVersions too: either rule keeps", async () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new MemoryStore();
    const target = new MemoryStore({ now: clock.now });
    const both = new MemoryStore({ now: clock.now });
    const t = await Table.open(source);
    const m = mirrorOf(source, target, { now: clock.now, retention: { keepDays: 1, graceMs: 0 } });
    const m2 = mirrorOf(source, both, { now: clock.now, retention: { keepDays: 1, keepVersions: 5 } });
    // v1..v4 a day apart, then v5 and v6 an hour apart.
    for (const gap of [0, DAY, DAY, DAY, 3_600_000, 3_600_000]) {
      clock.advance(gap);
      await t.commit();
      await m.tick();
      await m2.tick();
    }
    // Now: v4 arrived 2 h ago, v3 a day and 2 h ago: v3 was HEAD until v4 came, within the day.
    assert.equal(m.status().retention?.oldestRetained, 3);
    clock.advance(DAY - 2 * 3_600_000 + 1); // v4 arrived a day ago now; v3 left the window
    await m.tick();
    assert.equal(m.status().retention?.oldestRetained, 4, "time alone moves it, with no new version");
    // keepVersions 5 with keepDays 1: the count keeps more (v2..v6).
    await m2.tick();
    assert.equal(m2.status().retention?.oldestRetained, 2);
  });

  it("a crash at every request of a retention pass, then a fresh mirror: no manifest ever misses a file, the window always reads, and the next pass ends where an uninterrupted one does", async () => {
    const source = new MemoryStore({ name: "source" });
    const t = await Table.open(source);
    for (let i = 0; i < 8; i++) await t.commit();
    const seed = new MemoryStore({ name: "seed" });
    await mirrorOf(source, seed).tick();
    const copy = async () => {
      const s = new MemoryStore({ name: "target" });
      for (const [k, v] of await contents(seed)) {
        const meta = await seed.head(k);
        await s.put(k, v, meta.metadata ? { metadata: meta.metadata } : {});
      }
      return s;
    };
    const retention = { keepVersions: 3, graceMs: 0 };
    const clean = await copy();
    await mirrorOf(source, clean, { retention }).tick();
    const want = await keysOf(clean);
    let points = 0;
    for (let at = 1; ; at++) {
      const target = await copy();
      const crashing = faulty(target, { crashAt: at });
      await mirrorOf(source, crashing, { retention }).tick();
      const label = `crash at request ${at}`;
      await assertNoTornManifest(target, label);
      for (const v of [6, 7, 8]) assert.equal((await verifyMirror(target, v)).ok, true, label);
      await mirrorOf(source, target, { retention }).tick();
      assert.deepEqual(await keysOf(target), want, `${label}, then a fresh pass`);
      if (crashing.injected() === 0) break;
      points++;
    }
    assert.ok(points > 10, `${points} crash points`);
  });

  it("a reader racing the expiry: a version it was reading is either whole or refused as expired, never half there", async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    const t = await Table.open(source);
    const m = mirrorOf(source, target, { retention: { keepVersions: 2, graceMs: 0 } });
    for (let i = 0; i < 3; i++) {
      await t.commit();
      await m.tick();
    }
    // The reader has read v2's manifest and pauses before its files.
    let release: () => void = () => {};
    let paused: () => void = () => {};
    const reached = new Promise<void>((r) => {
      paused = r;
    });
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow: ObjectStore = {
      ...target,
      name: target.name,
      get: (k, o) => target.get(k, o),
      head: async (k) => {
        if (k.startsWith("data/")) {
          paused();
          await gate;
        }
        return target.head(k);
      },
      put: (k, b, o) => target.put(k, b, o),
      delete: (k) => target.delete(k),
      deleteMany: (ks, o) => target.deleteMany(ks, o),
      list: (p, o) => target.list(p, o),
    };
    const reading = verifyMirror(slow, 2).then(
      (r) => r,
      (e: unknown) => e,
    );
    await reached;
    // Two more versions: v2 leaves the window and its manifest and files are deleted.
    await t.commit();
    await t.commit();
    await m.tick();
    assert.equal(m.status().retention?.oldestRetained, 4);
    release();
    const r = await reading;
    assert.ok(r instanceof Error, `a half-read v2 was reported as ${JSON.stringify(r)}`);
    assert.match(r.message, /\[NotFound\] snapshot v2 .* has expired: the oldest version retained is v4/);
  });

  it("restore drill: every retained version restores after retention ran; an expired one is refused naming the oldest kept", async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    const t = await Table.open(source, true);
    const m = mirrorOf(source, target, { retention: { keepVersions: 3, graceMs: 0 } });
    for (let i = 0; i < 7; i++) {
      await t.commit();
      await m.tick();
    }
    for (const v of [5, 6, 7]) {
      const into = new MemoryStore();
      const r = await restore({ from: target, to: into, version: v });
      assert.equal(r.version, v);
      // Its chain stops at the boundary: only retained versions are restored.
      assert.deepEqual(
        r.versions,
        [5, 6, 7].filter((x) => x <= v),
      );
      assert.equal(await text(into, "version-hint.text"), String(v));
    }
    const into = new MemoryStore();
    await assert.rejects(
      restore({ from: target, to: into, version: 4 }),
      /\[NotFound\] snapshot v4 .* has expired: the oldest version retained is v5/,
    );
    assert.deepEqual(await keysOf(into), [], "nothing written");
  });

  it("a mirror of a mirror: a shorter window keeps less; a longer one keeps what it copied in time and records the rest as expired gaps", async () => {
    const source = new MemoryStore();
    const t1 = new MemoryStore({ name: "t1" });
    const longer = new MemoryStore({ name: "longer" });
    const shorter = new MemoryStore({ name: "shorter" });
    const t = await Table.open(source);
    const m1 = mirrorOf(source, t1, { retention: { keepVersions: 2, graceMs: 0 } });
    const mLong = mirrorOf(t1, longer, { retention: { keepVersions: 6, graceMs: 0 } });
    const mShort = mirrorOf(t1, shorter, { retention: { keepVersions: 1, graceMs: 0 } });
    for (let i = 0; i < 4; i++) {
      await t.commit();
      await m1.tick();
      await mLong.tick();
    }
    // The longer mirror stops following for 4 versions: t1 expires 5..6 before it copies them.
    for (let i = 0; i < 4; i++) {
      await t.commit();
      await m1.tick();
    }
    await mLong.tick();
    await mShort.tick();
    assert.deepEqual(mLong.status().gaps, [{ from: 5, to: 6, reason: "expired" }]);
    assert.equal(mLong.status().retention?.oldestRetained, 1);
    assert.deepEqual(
      (await collect(openMirror(longer).snapshots())).map((s) => s.version),
      [8, 7],
      "the chain walk stops at the gap",
    );
    for (const v of [1, 2, 3, 4, 7, 8]) assert.equal((await verifyMirror(longer, v)).ok, true, `v${v}`);
    assert.equal(mShort.status().retention?.oldestRetained, 8);
    assert.equal(mShort.status().lastError, null);
    await assertNoTornManifest(longer, "longer");
    await assertNoTornManifest(shorter, "shorter");
  });

  it("the sweep deletes a mirror's uploads no manifest names once older than the grace period, never an object no mirror wrote", async () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new MemoryStore();
    const target = new MemoryStore({ now: clock.now });
    const t = await Table.open(source);
    await t.commit();
    const retention = { keepVersions: 5, graceMs: 3_600_000 };
    const m = mirrorOf(source, target, { now: clock.now, retention });
    await m.tick();
    // A copy cut short (an upload of a version never published) and an object of someone else.
    await target.put("data/orphan.parquet", fileBytes("o", 20), {
      metadata: { [ORIGIN_SOURCE_KEY]: "somewhere" },
    });
    await target.put("data/theirs.parquet", fileBytes("x", 5));
    clock.advance(60_000);
    const fresh = () => mirrorOf(source, target, { now: clock.now, retention });
    await fresh().tick(); // a new instance sweeps on its first pass: still within the grace
    assert.ok((await keysOf(target)).includes("data/orphan.parquet"));
    clock.advance(3_600_000);
    const later = fresh();
    await later.tick();
    const keys = await keysOf(target);
    assert.ok(!keys.includes("data/orphan.parquet"), "the orphan upload is gone");
    assert.ok(keys.includes("data/theirs.parquet"), "an object no mirror wrote stays");
    assert.equal(later.status().retention?.totals.filesDeleted, 1);
    assert.equal((await verifyMirror(target)).ok, true);
  });

  it("checksum records go with their versions: an expired version's after its manifest, an orphan one below the boundary by the sweep, one above it (a version in progress) stays", async () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new MemoryStore();
    const target = new MemoryStore({ now: clock.now });
    const t = await Table.open(source);
    const retention = { keepVersions: 2, graceMs: 3_600_000 };
    const m = mirrorOf(source, target, { now: clock.now, retention });
    for (let i = 0; i < 4; i++) {
      await t.commit();
      await m.tick();
    }
    const records = async () => (await collect(target.list(CHECKSUMS_PREFIX))).map((o) => o.key).sort();
    assert.deepEqual(await records(), [checksumsKey(3), checksumsKey(4)]);
    // A crash between a manifest's delete and its record's leaves the record; a record above HEAD is a version being copied.
    await target.put(checksumsKey(1), "");
    await target.put(checksumsKey(9), "");
    clock.advance(2 * 3_600_000);
    await mirrorOf(source, target, { now: clock.now, retention }).tick();
    assert.deepEqual(await records(), [checksumsKey(3), checksumsKey(4), checksumsKey(9)]);
  });

  it("with lock, a policy that would delete a locked file waits for the lock instead of failing, then deletes it", async () => {
    const clock = manualClock(1_800_000_000_000);
    const source = new MemoryStore();
    const target = new MemoryStore({ objectLock: true, now: clock.now });
    const t = await Table.open(source);
    const errors: string[] = [];
    const m = mirrorOf(source, target, {
      now: clock.now,
      lock: { mode: "compliance", days: 2 },
      retention: { keepVersions: 2, graceMs: 0 },
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 5; i++) {
      await t.commit();
      await m.tick();
      clock.advance(3_600_000);
    }
    const s = m.status().retention;
    assert.deepEqual(errors, []);
    assert.equal(s?.oldestRetained, 4);
    assert.equal(s?.waiting, 3, "v1..v3 wait for their locks");
    assert.ok((await keysOf(target)).includes("metadata/v1.manifest.bin"));
    assert.equal((await target.head("data/f1.parquet")).lock?.mode, "compliance");
    await assert.rejects(openMirror(target).manifest(1), /has expired: the oldest version retained is v4/);
    clock.advance(2 * DAY);
    await m.tick();
    assert.deepEqual(errors, []);
    assert.equal(m.status().retention?.waiting, 0);
    assert.deepEqual(
      (await keysOf(target)).filter((k) => k.startsWith("metadata/v")),
      ["metadata/v4.manifest.bin", "metadata/v5.manifest.bin"],
    );
    await assertNoTornManifest(target, "after the locks");
  });

  it("retention runs within the tick's request budget: a small budget spreads a pass over ticks", async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    const t = await Table.open(source);
    for (let i = 0; i < 12; i++) await t.commit();
    const counted = metered(target);
    const reads = metered(source);
    const m = mirrorOf(reads, counted, {
      retention: { keepVersions: 2, graceMs: 0 },
      // A snapshot of one file is 13 requests (its checksum record one PUT of them): the budget fits one.
      budget: { requests: 13 },
    });
    const total = () => {
      const [s, t] = [reads.counts(), counted.counts()];
      return s.readClass + s.writeClass + t.readClass + t.writeClass;
    };
    const perTick: number[] = [];
    let caughtUpAt = 0;
    for (let ticks = 0; ticks < 200; ticks++) {
      const before = total();
      await m.tick();
      perTick.push(total() - before);
      const s = m.status();
      if (s.mirrorSeq === 12 && caughtUpAt === 0) caughtUpAt = perTick.length;
      if (s.caughtUp && s.retention?.oldestRetained === 11 && s.nextDelayMs > 0) break;
    }
    assert.equal(m.status().retention?.oldestRetained, 11);
    // The first tick's discovery and init of the target are the mirror's own, outside any budget.
    assert.ok(Math.max(...perTick.slice(1)) <= 13, `requests per tick: ${perTick.join(" ")}`);
    assert.ok(perTick.length - caughtUpAt >= 2, `the pass took ${perTick.length - caughtUpAt} more ticks`);
    assert.equal(m.status().lastError, null);
    await assertNoTornManifest(target, "budgeted");
    assert.equal((await collect(target.list("metadata/v"))).length, 2);
  });

  it("options are checked: a bad number or mode is InvalidArgument naming it; lock needs a store that keeps retentions", () => {
    const s = new MemoryStore();
    const make = (o: Partial<MirrorOptions>) => () => new Mirror({ source: s, target: s, ...o });
    assert.throws(make({ retention: {} }), /retention needs keepVersions, keepDays, or both/);
    assert.throws(make({ retention: { keepVersions: 0 } }), /retention\.keepVersions/);
    assert.throws(make({ retention: { keepDays: -1 } }), /retention\.keepDays/);
    assert.throws(make({ retention: { keepVersions: 1, graceMs: Number.NaN } }), /retention\.graceMs/);
    // @ts-expect-error a mode that does not exist
    assert.throws(make({ lock: { mode: "forever", days: 1 } }), /lock\.mode/);
    assert.throws(make({ lock: { mode: "compliance", days: 0 } }), /lock\.days/);
    const locking = new MemoryStore({ objectLock: true });
    assert.throws(
      () =>
        new Mirror({
          source: s,
          target: locking,
          lock: { mode: "compliance", days: 1 },
          retention: { keepDays: 2 },
        }),
      /lock\.days \(1\) must be at least retention\.keepDays \(2\)/,
    );
    assert.throws(make({ lock: { mode: "governance", days: 1 } }), /\[NotSupported\] lock: the target/);
  });

  it("the HTTP routes know the boundary: /status reports it, an expired /snapshots/:v is 404 naming the oldest kept", async () => {
    const source = new MemoryStore();
    const target = new MemoryStore();
    const t = await Table.open(source);
    const m = mirrorOf(source, target, { retention: { keepVersions: 2, graceMs: 0 } });
    for (let i = 0; i < 4; i++) {
      await t.commit();
      await m.tick();
    }
    const app = inspectApp({ store: target });
    const status = (await (await app.request("/status")).json()) as { oldestRetained: number; head: number };
    assert.deepEqual([status.head, status.oldestRetained], [4, 3]);
    const gone = await app.request("/snapshots/1");
    assert.equal(gone.status, 404);
    assert.match(((await gone.json()) as { message: string }).message, /the oldest version retained is v3/);
    assert.equal((await app.request("/snapshots/3")).status, 200);
    const list = (await (await app.request("/snapshots")).json()) as { snapshots: { version: number }[] };
    assert.deepEqual(
      list.snapshots.map((x) => x.version),
      [4, 3],
    );
    assert.equal(await codeOf(openMirror(target).files(2)), "NotFound");
  });
});
