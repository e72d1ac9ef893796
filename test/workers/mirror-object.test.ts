/**
 * The MirrorObject Durable Object inside workerd: alarms drive a mirror under
 * a small per-alarm budget, across an eviction, without uploading any file
 * twice; awaitMirror over RPC.
 */

import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it, vi } from "vitest";
import { readLowWater } from "../../src/catalog/layout.ts";
import { Catalog, type DataFileInput, Mirror, metered, R2Store, verifyMirror } from "../../src/index.ts";
import type { Env } from "../../worker/env.ts";
import { MirrorObject } from "../../worker/mirror-object.ts";
import { mirrorVars } from "../../worker/vars.ts";
import { assertRejectsOption, randomId } from "../support/harness.ts";
import type { MirrorObject as TestMirrorObject } from "./entry.ts";
import { driveAlarms, rpcError } from "./support.ts";

const prefixOf = (table: string) => `tables/${table}/`;
// The tests' MirrorObject (entry.ts) also answers testPutCounts.
const stubOf = (table: string) =>
  env.MIRROR_OBJECT.get(
    env.MIRROR_OBJECT.idFromName(table),
  ) as unknown as DurableObjectStub<TestMirrorObject>;

async function writeFiles(source: R2Store, paths: string[], size: number): Promise<DataFileInput[]> {
  for (let i = 0; i < paths.length; i += 50) {
    await Promise.all(paths.slice(i, i + 50).map((p) => source.put(p, new Uint8Array(size).fill(7))));
  }
  return paths.map((path, i) => ({ path, fileSize: size, numRows: 10, level: i % 3 }));
}

describe("MirrorObject", () => {
  it("alarms mirror a 2,000-file snapshot under a small budget across an eviction, each file uploaded once", async () => {
    const table = `big-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: prefixOf(table) });
    const target = new R2Store(env.MIRROR, { prefix: prefixOf(table) });
    const paths = Array.from({ length: 2000 }, (_, i) => `data/f-${String(i).padStart(4, "0")}.parquet`);
    const catalog = await Catalog.open(source);
    assert.equal(await catalog.commit({ add: await writeFiles(source, paths, 64) }), 1);

    const stub = stubOf(table);
    await stub.kick(table);
    let evictedAt: number | undefined;
    const alarms = await driveAlarms(
      stub,
      async () => (await stub.status(table)).mirrorSeq >= 1,
      async (n) => {
        const st = await stub.status(table);
        // Evict mid-snapshot: some files uploaded, not all.
        if (evictedAt === undefined && st.inProgress && st.inProgress.uploaded >= 500) {
          evictedAt = st.inProgress.uploaded;
          await evictDurableObject(stub);
          assert.ok(n > 1);
        }
      },
    );
    const st = await stub.status(table);
    assert.equal(st.mirrorSeq, 1);
    assert.ok(evictedAt !== undefined && evictedAt < 2000, `evicted mid-snapshot (at ${evictedAt})`);
    // BUDGET_REQUESTS=300 in the test env: about 100 files per alarm.
    assert.ok(alarms >= 10, `took ${alarms} alarms`);
    assert.equal(st.budget?.requests, 300);

    const puts = await stub.testPutCounts();
    // Keys are relative to the table root (the object meters its table's store).
    const dataPuts = Object.entries(puts).filter(([k]) => k.startsWith("data/"));
    assert.equal(dataPuts.length, 2000);
    assert.deepEqual(
      dataPuts.filter(([, n]) => n !== 1),
      [],
      "no file uploaded twice",
    );
    assert.equal(puts["metadata/v1.manifest.bin"], 1);
    assert.deepEqual(await verifyMirror(target, 1), {
      version: 1,
      ok: true,
      missing: [],
      wrongSize: [],
      foreign: [],
    });
    assert.equal(st.counters.files, 2000);

    // The next snapshot costs only its new files; awaitMirror over RPC waits for it.
    const more = await writeFiles(source, ["data/g-1.parquet", "data/g-2.parquet"], 64);
    assert.equal(await catalog.commit({ add: more, remove: paths.slice(0, 5) }), 2);
    await stub.kick(table);
    const waiting = stub.awaitMirror(2, 30_000, table);
    await driveAlarms(stub, async () => (await stub.status(table)).mirrorSeq >= 2);
    assert.ok((await waiting) >= 2);
    const after = await stub.testPutCounts();
    const newPuts = Object.keys(after).filter((k) => k.startsWith("data/") && !(k in puts));
    assert.deepEqual(newPuts.sort(), ["data/g-1.parquet", "data/g-2.parquet"]);
    assert.ok(Object.entries(after).every(([k, n]) => !k.startsWith("data/") || n === 1));
    assert.equal((await verifyMirror(target, 2)).ok, true);
  }, 120_000);

  it("awaitMirror over RPC resolves at once when mirrored and times out as Transient", async () => {
    const table = `wait-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: prefixOf(table) });
    const catalog = await Catalog.open(source);
    await catalog.commit({ add: await writeFiles(source, ["data/a.parquet"], 10) });
    const stub = stubOf(table);
    await stub.kick(table);
    const seq = stub.awaitMirror(1, 20_000, table);
    await driveAlarms(stub, async () => (await stub.status(table)).mirrorSeq >= 1);
    assert.equal(await seq, 1);
    assert.equal(await stub.awaitMirror(1, 10, table), 1);
    assert.equal(await rpcError(() => stub.awaitMirror(5, 50, table)), "Transient");
    // A timeout that is not a finite, non-negative number of ms is a caller's mistake, not a wait.
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(await rpcError(() => stub.awaitMirror(5, bad, table)), "InvalidArgument", String(bad));
    }
  });

  it("a kick that arrives while a tick is in flight is not lost to the tick's poll-interval alarm", async () => {
    const table = `kick-${randomId()}`;
    const stub = stubOf(table);
    await stub.status(table); // binds the object; its table is empty, so a tick ends caught up
    await runInDurableObject(stub, async (instance) => {
      const tick = instance.alarm(); // the tick starts synchronously and awaits R2
      await instance.kick(table); // e.g. the commit route after a new snapshot
      await tick;
      const next = (await instance.status(table)).nextAlarmMs ?? Number.POSITIVE_INFINITY;
      // Without the kick the next alarm would be POLL_INTERVAL_MS (5 s) away.
      assert.ok(next <= Date.now() + 1_000, `next alarm in ${next - Date.now()} ms`);
    });
  });

  it("rejects a table name that does not match the object's own", async () => {
    const stub = stubOf("named-a");
    assert.equal(await rpcError(() => stub.status("named-a")).catch(() => "ok"), "ok");
    assert.equal(await rpcError(() => stub.status("named-b")), "InvalidArgument");
    assert.equal(await rpcError(() => stub.status("Bad Name!")), "InvalidArgument");
  });

  it("a failing tick is recorded and the next alarm backs off", async () => {
    const table = `fail-${randomId()}`;
    // A manifest that does not decode: every tick fails with Corrupt.
    await env.SOURCE.put(`${prefixOf(table)}metadata/v1.manifest.bin`, "not a manifest");
    const stub = stubOf(table);
    await stub.kick(table);
    await driveAlarms(stub, async () => (await stub.status(table)).consecutiveFailures >= 1);
    const st = await stub.status(table);
    assert.equal(st.mirrorSeq, 0);
    assert.ok(st.counters.failures >= 1);
    assert.match(st.lastError?.message ?? "", /^\[Corrupt\]/);
    // Backoff: the next alarm is at least a second away, not immediate.
    assert.ok(
      (st.nextAlarmMs ?? 0) - Date.now() >= 500,
      `next alarm in ${(st.nextAlarmMs ?? 0) - Date.now()} ms`,
    );
  });

  it("two overlapping instances of one table's loop leave a consistent mirror", async () => {
    // Two Durable Object instances can briefly run at once; each drives a
    // Mirror with its own progress. Simulated here with two Mirror loops
    // (what MirrorObject runs) on the same buckets, ticking concurrently.
    const table = `overlap-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: prefixOf(table) });
    const target = new R2Store(env.MIRROR, { prefix: prefixOf(table) });
    const catalog = await Catalog.open(source);
    for (let v = 1; v <= 3; v++) {
      const paths = Array.from({ length: 40 }, (_, i) => `data/v${v}-${i}.parquet`);
      await catalog.commit({ add: await writeFiles(source, paths, 32) });
    }
    const targets = [metered(target), metered(target)];
    const loops = targets.map((t) => new Mirror({ source, target: t, budget: { requests: 60 } }));
    for (let i = 0; i < 100 && loops.some((m) => !m.status().caughtUp); i++) {
      await Promise.all(loops.map((m) => m.tick()));
    }
    for (const m of loops) {
      const st = m.status();
      assert.equal(st.mirrorSeq, 3);
      assert.equal(st.lastError, null, st.lastError?.message);
    }
    for (let v = 1; v <= 3; v++) assert.equal((await verifyMirror(target, v)).ok, true);
    assert.equal((await readLowWater(target)).version, 3);
  });
});

describe("numeric vars", () => {
  const BAD = ["NaN", "Infinity", "-1", "1.5", "8x", "1e3", "0x10", "9007199254740993"];
  const VARS: Array<[keyof Env, string[]]> = [
    ["POLL_INTERVAL_MS", [...BAD, "99", "2147483648"]],
    ["PUSH_POLL_INTERVAL_MS", [...BAD, "99", "2147483648"]],
    ["LAG_ALERT_SECS", BAD],
    ["BUDGET_REQUESTS", [...BAD, "0"]],
    ["BUDGET_BYTES", [...BAD, "0"]],
    ["PARALLELISM", [...BAD, "0"]],
  ];

  it("a bad value is InvalidArgument naming the var; unset or blank is the default", async () => {
    for (const [name, values] of VARS) {
      await assertRejectsOption(name, values, (v) => mirrorVars({ ...env, [name]: v }));
    }
    const dflt = { ...env } as Env;
    for (const [name] of VARS) delete dflt[name];
    assert.deepEqual(mirrorVars(dflt), {
      pollIntervalMs: 5_000,
      pushPollIntervalMs: 300_000,
      lagAlertSecs: 300,
      budget: { requests: 40, bytes: 64 * 1024 * 1024 },
      parallelism: 6,
    });
    assert.deepEqual(mirrorVars({ ...dflt, PARALLELISM: " ", LAG_ALERT_SECS: "0" }).lagAlertSecs, 0);
  });

  it("the Durable Object's tick fails with InvalidArgument in status lastError, logged; kick and awaitMirror refuse", async () => {
    const table = `vars-${randomId()}`;
    const stub = stubOf(table);
    await stub.status(table);
    await runInDurableObject(stub, async (_instance, state) => {
      // The same storage, but the vars of a deployment with a typo in PARALLELISM.
      const bad = new MirrorObject(state, { ...env, PARALLELISM: "six" } as Env);
      // Before any tick, status already says why nothing will be mirrored.
      const first = await bad.status(table);
      assert.match(first.lastError?.message ?? "", /PARALLELISM/);
      assert.equal(first.budget, null);
      const spy = vi.spyOn(console, "error").mockImplementation(() => {});
      let logged: string[];
      try {
        await bad.alarm();
      } finally {
        logged = spy.mock.calls.map((c) => c.join(" "));
        spy.mockRestore();
      }
      const st = await bad.status(table);
      assert.match(
        st.lastError?.message ?? "",
        /^\[InvalidArgument\] PARALLELISM must be an integer >= 1 and <= 1024, got "six"/,
      );
      assert.ok(
        logged.some((l) => l.includes("PARALLELISM")),
        `logged: ${logged.join("; ")}`,
      );
      assert.equal(st.budget, null);
      assert.equal(st.consecutiveFailures, 1);
      // Retried with backoff, not at once and not never (a fixed deployment restarts the object).
      const next = (st.nextAlarmMs ?? 0) - Date.now();
      assert.ok(next >= 500 && next <= 2_000, `next alarm in ${next} ms`);
      for (const call of [() => bad.kick(table), () => bad.awaitMirror(1, 1_000, table)]) {
        const e = await call().then(
          () => undefined,
          (x: unknown) => x as Error,
        );
        assert.match(e?.message ?? "accepted", /^\[InvalidArgument\] PARALLELISM /);
      }
    });
  });
});
