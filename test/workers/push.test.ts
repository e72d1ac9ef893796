/**
 * Pushed wake-ups inside workerd: R2 event notifications (messages of the
 * documented shape, https://developers.cloudflare.com/r2/buckets/event-notifications/)
 * sent to the worker's local queue wake the tables they are about; the
 * consumer's acknowledgements; duplicates and out-of-order messages (the
 * manifest chain orders the versions); the fallback poll of a pushed table
 * and what an idle hour of it costs; the cron, which starts loops and never
 * ticks a running one. The bucket `PUSHED` is in `PUSH_BUCKETS` (vitest.config.ts).
 */
import {
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
  SELF,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it, vi } from "vitest";
import { Catalog, R2Store, TidemarkError, verifyMirror } from "../../src/index.ts";
import { freshMirrorProgress } from "../../src/mirror/progress.ts";
import { cronVisit } from "../../worker/cron.ts";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import type { MirrorObjectStatus } from "../../worker/object-state.ts";
import { handlePushBatch, tablesAt, wakeOf } from "../../worker/push.ts";
import { pushBuckets } from "../../worker/push-buckets.ts";
import { CRON_ROUND_MINUTES, cronMinute } from "../../worker/registry.ts";
import { sourceLocation } from "../../worker/stores.ts";
import { tableRegistry } from "../../worker/tables.ts";
import { DEFAULTS, mirrorVars } from "../../worker/vars.ts";
import { randomId } from "../support/harness.ts";
import { ADMIN, BASE, driveAlarms, READ, sleep, stubOf } from "./support.ts";

const BUCKET = "tidemark-pushed";

const put = (table: string, body: unknown) =>
  SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

/** A table mirroring `r2://PUSHED/pushed/{table}/` to MIRROR, configured through the admin API. */
async function pushedTable(extra: Record<string, unknown> = {}) {
  const table = `push-${randomId()}`;
  // Not under tables/: with SOURCE_TABLES=1 every table name also has the
  // layout's configuration (tables/{table}/ in SOURCE and MIRROR) once its own is removed.
  const prefix = `pushed/${table}/`;
  const r = await put(table, { source: `r2://PUSHED/${prefix}`, target: `r2://MIRROR/${prefix}`, ...extra });
  assert.equal(r.status, 200, await r.text());
  const source = new R2Store(env.PUSHED, { prefix });
  const target = new R2Store(env.MIRROR, { prefix });
  const catalog = await Catalog.open(source);
  return { table, prefix, source, target, catalog, stub: stubOf(table) };
}

type Table = Awaited<ReturnType<typeof pushedTable>>;

/** Commits one snapshot of one new file; returns its version. */
async function commit(t: Table): Promise<number> {
  const path = `data/${randomId()}.parquet`;
  await t.source.put(path, new Uint8Array(64).fill(1), { mode: "create" });
  return t.catalog.commit({ add: [{ path, fileSize: 64, numRows: 1 }] });
}

/** The body of an R2 event notification, as documented. */
function r2Event(key: string, opts: { action?: string; bucket?: string } = {}) {
  return {
    account: "3f4b7e3dcab231cbfdaa90a6a28bd548",
    action: opts.action ?? "PutObject",
    bucket: opts.bucket ?? BUCKET,
    object: { key, size: 1024, eTag: "c846ff7a18f28c2e262116d6e8719ef0" },
    eventTime: new Date().toISOString(),
  };
}

/** Runs the worker's queue handler on a batch; the acknowledgements it made. */
async function consume(bodies: unknown[], e: Env = env) {
  const batch = createMessageBatch(
    "tidemark-events",
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, e as never);
  return getQueueResult(batch, ctx);
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Drives alarms until the table's mirror holds `version`. */
async function mirrored(t: Table, version: number): Promise<MirrorObjectStatus> {
  await driveAlarms(t.stub, async () => (await t.stub.status(t.table)).mirrorSeq >= version);
  const st = await t.stub.status(t.table);
  assert.equal(st.mirrorSeq, version, JSON.stringify(st.lastError));
  return st;
}

describe("the keys a notification wakes a table for", () => {
  it("a manifest of the object-store layout and merutable's version hint, under any prefix", () => {
    assert.deepEqual(wakeOf("metadata/v7.manifest.bin"), { prefix: "", version: 7 });
    assert.deepEqual(wakeOf("tables/t/metadata/v12.manifest.bin"), { prefix: "tables/t/", version: 12 });
    assert.deepEqual(wakeOf("a/metadata/b/metadata/v3.manifest.bin"), {
      prefix: "a/metadata/b/",
      version: 3,
    });
    assert.deepEqual(wakeOf("version-hint.text"), { prefix: "" });
    assert.deepEqual(wakeOf("tables/p/version-hint.text"), { prefix: "tables/p/" });
    for (const key of [
      "tables/t/data/f-1.parquet",
      "tables/t/metadata/low_water.txt",
      "tables/t/metadata/v3.metadata.pb", // a posix manifest: its hint follows
      "tables/t/metadata/v0.manifest.bin",
      "tables/t/metadata/v01.manifest.bin",
      "tables/t/xmetadata/v1.manifest.bin",
      "tables/t/old-version-hint.text",
    ]) {
      assert.equal(wakeOf(key), undefined, key);
    }
  });
});

describe("pushed wake-ups", () => {
  it("an event sent to the local queue wakes the table long before its poll, and it mirrors the version", async () => {
    const t = await pushedTable();
    await commit(t);
    let st = await mirrored(t, 1);
    assert.equal(st.push.enabled, true);
    // Pushed: the next poll is PUSH_POLL_INTERVAL_MS away, not POLL_INTERVAL_MS.
    const next = (st.nextAlarmMs ?? 0) - Date.now();
    assert.ok(next > DEFAULTS.pushPollIntervalMs - 10_000, `next poll in ${next} ms`);
    const v = await commit(t);
    const t0 = Date.now();
    await env.TEST_EVENTS.send(r2Event(`${t.prefix}metadata/v${v}.manifest.bin`));
    await until("the pushed version", async () => (await t.stub.status(t.table)).mirrorSeq >= v);
    st = await t.stub.status(t.table);
    assert.ok(Date.now() - t0 < 10_000, `mirrored ${Date.now() - t0} ms after the event`);
    assert.equal(st.push.messages, 1);
    assert.equal(st.push.wakes, 1);
    assert.equal((await verifyMirror(t.target, v)).ok, true);
  });

  it("out-of-order events wake the table once, and the chain mirrors every version in order", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    const v2 = await commit(t);
    const v3 = await commit(t);
    const r = await consume([
      r2Event(`${t.prefix}metadata/v${v3}.manifest.bin`),
      r2Event(`${t.prefix}metadata/v${v2}.manifest.bin`),
    ]);
    assert.deepEqual(r.explicitAcks.sort(), ["m0", "m1"]);
    assert.deepEqual(r.retryMessages, []);
    const st = await mirrored(t, v3);
    assert.equal(st.push.wakes, 1, "one wake for the batch");
    assert.equal(st.push.messages, 2);
    for (const v of [v2, v3]) assert.equal((await verifyMirror(t.target, v)).ok, true, `v${v}`);
  });

  it("a duplicate or late event about a mirrored version is acknowledged and wakes nothing", async () => {
    const t = await pushedTable();
    await commit(t);
    const v = await commit(t);
    await mirrored(t, v);
    const before = await t.stub.status(t.table);
    const r = await consume([
      r2Event(`${t.prefix}metadata/v${v}.manifest.bin`),
      r2Event(`${t.prefix}metadata/v1.manifest.bin`),
    ]);
    assert.deepEqual(r.explicitAcks.sort(), ["m0", "m1"]);
    const st = await t.stub.status(t.table);
    assert.equal(st.push.stale, 1);
    assert.equal(st.push.wakes, before.push.wakes);
    assert.equal(st.nextAlarmMs, before.nextAlarmMs, "the poll alarm is left where it was");
    assert.deepEqual(st.counters.requests, before.counters.requests, "no store request");
  });

  it("messages about anything but a new manifest or hint of a mirrored source are acknowledged and dropped", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    const before = await t.stub.status(t.table);
    const bodies = [
      r2Event(`${t.prefix}data/f.parquet`),
      r2Event(`${t.prefix}metadata/low_water.txt`),
      r2Event(`${t.prefix}metadata/v9.manifest.bin`, { action: "DeleteObject" }),
      r2Event(`${t.prefix}metadata/v9.manifest.bin`, { bucket: "another-bucket" }),
      r2Event(`tables/nobody-${randomId()}/metadata/v1.manifest.bin`),
      "not an event",
      { action: "PutObject", bucket: BUCKET },
    ];
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    let r: Awaited<ReturnType<typeof consume>>;
    let warned: string[];
    try {
      r = await consume(bodies);
    } finally {
      warned = warn.mock.calls.map((c) => c.join(" "));
      warn.mockRestore();
    }
    // A bucket that sends manifests without being listed is a configuration to fix: logged.
    assert.ok(
      warned.some((l) => /bucket\(s\) another-bucket were dropped: not in PUSH_BUCKETS/.test(l)),
      warned.join("\n"),
    );
    assert.equal(r.explicitAcks.length, bodies.length);
    assert.deepEqual(r.retryMessages, []);
    const st = await t.stub.status(t.table);
    assert.equal(st.push.messages, before.push.messages);
    assert.equal(st.nextAlarmMs, before.nextAlarmMs);
  });

  it("a message whose table failed to take it goes back to the queue; the others are acknowledged", async () => {
    const location = `r2:PUSHED/tables/flaky/`;
    // The consumer's error mapping, against stand-ins for the two Durable Objects it calls.
    const namespace = (obj: unknown) => ({ idFromName: (n: string) => n, get: () => obj });
    const fake = {
      ...env,
      TABLE_REGISTRY: namespace({ lookup: async () => ({ [location]: ["flaky", "gone", "bad"] }) }),
      MIRROR_OBJECT: {
        idFromName: (n: string) => n,
        get: (name: string) => ({
          push: async () => {
            if (name === "gone") throw new TidemarkError("NotFound", "no table gone is configured");
            if (name === "bad") throw new TidemarkError("InvalidArgument", "PARALLELISM must be ...");
            throw new TidemarkError("Transient", "overloaded");
          },
        }),
      },
    } as unknown as Env;
    const batch = createMessageBatch("tidemark-events", [
      { id: "a", timestamp: new Date(), attempts: 1, body: r2Event("tables/flaky/metadata/v3.manifest.bin") },
      { id: "b", timestamp: new Date(), attempts: 1, body: r2Event("tables/flaky/data/x.parquet") },
    ]);
    const ctx = createExecutionContext();
    const res = await handlePushBatch(batch, fake);
    const q = await getQueueResult(batch, ctx);
    assert.deepEqual(
      q.retryMessages.map((m) => m.msgId),
      ["a"],
    );
    assert.deepEqual(q.explicitAcks, ["b"]);
    assert.equal(res.retried, 1);
    assert.equal(res.dropped, 1);
  });

  it("static tables, the SOURCE_TABLES layout and admin tables are found by their source's location", async () => {
    const t = await pushedTable();
    const e = {
      ...env,
      PUSH_BUCKETS: `SOURCE=tidemark-source, PUSHED=${BUCKET}, r2-over-s3`,
      TABLE_CONFIG: JSON.stringify({
        "static-a": { source: "r2://PUSHED/st/a", target: "r2://MIRROR/st/a" },
        "static-off": { source: "r2://PUSHED/st/a", target: "r2://MIRROR/st/off", push: false },
        "static-s3": {
          source: {
            url: "s3://r2-over-s3/x?endpoint=https://acc.r2.cloudflarestorage.com",
            credentials: "NONE",
          },
          target: "r2://MIRROR/st/s3",
        },
      }),
    } as unknown as Env;
    const found = await tablesAt(e, [
      "r2:PUSHED/st/a/",
      "r2:SOURCE/tables/from-layout/",
      "r2:SOURCE/tables/not/a/table/",
      "s3:r2-over-s3/x/",
      `r2:PUSHED/${t.prefix}`,
    ]);
    assert.deepEqual(found.get("r2:PUSHED/st/a/"), ["static-a"]);
    assert.deepEqual(found.get("r2:SOURCE/tables/from-layout/"), ["from-layout"]);
    assert.equal(found.get("r2:SOURCE/tables/not/a/table/"), undefined);
    assert.deepEqual(found.get("s3:r2-over-s3/x/"), ["static-s3"]);
    assert.deepEqual(found.get(`r2:PUSHED/${t.prefix}`), [t.table]);
  });

  it("PUSH_BUCKETS, PUSH_POLL_INTERVAL_MS and a table's push setting are checked", async () => {
    const bad = (v: string) => () => pushBuckets({ ...env, PUSH_BUCKETS: v } as Env);
    assert.throws(bad("Not_A_Bucket"), /PUSH_BUCKETS: "Not_A_Bucket" is not a bucket name/);
    assert.throws(bad("NOT_BOUND=tidemark-x"), /PUSH_BUCKETS: no R2 bucket is bound as "NOT_BOUND"/);
    assert.throws(
      () => mirrorVars({ ...env, PUSH_POLL_INTERVAL_MS: "50" } as Env),
      /PUSH_POLL_INTERVAL_MS must be an integer >= 100/,
    );
    assert.equal(pushBuckets({ ...env, PUSH_BUCKETS: " , " } as Env).bindings.size, 0);
    // push: true where the bucket sends nothing.
    const table = `push-${randomId()}`;
    const r = await put(table, {
      source: `r2://SOURCE/x/${table}`,
      target: `r2://MIRROR/x/${table}`,
      push: true,
    });
    assert.equal(r.status, 400);
    assert.match(
      await r.text(),
      /push: the source's bucket is not in PUSH_BUCKETS \(list it as SOURCE=BUCKET_NAME/,
    );
    assert.equal(
      (await put(table, { source: "r2://PUSHED/y", target: "r2://MIRROR/y", push: "yes" })).status,
      400,
    );
    // push: false polls as usual although the bucket notifies.
    const off = await pushedTable({ push: false });
    const desc = (await (await SELF.fetch(`${BASE}/api/tables/${off.table}`, { headers: READ })).json()) as {
      settings: { push: boolean; pollIntervalMs: number };
    };
    assert.deepEqual([desc.settings.push, desc.settings.pollIntervalMs], [false, DEFAULTS.pollIntervalMs]);
    assert.equal(sourceLocation({ kind: "http", url: "https://x/", label: "https://x/" }), undefined);
  });

  it("a scheduled poll that finds a version no push announced counts as missed", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    const v = await commit(t); // no event: a notification rule that misses this table
    assert.equal(await runDurableObjectAlarm(t.stub), true);
    const st = await t.stub.status(t.table);
    assert.equal(st.mirrorSeq, v);
    assert.equal(st.push.missed, 1);
  });
});

describe("an idle pushed table", () => {
  it("polls every PUSH_POLL_INTERVAL_MS at 4 read-class requests and 2 storage rows, at most 60 read-class and no write-class an hour", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    await runDurableObjectAlarm(t.stub); // settled: one idle tick
    const before = await t.stub.status(t.table);
    const ticks = 5;
    for (let i = 0; i < ticks; i++) {
      const st = await t.stub.status(t.table);
      const wait = (st.nextAlarmMs ?? 0) - Date.now();
      assert.ok(wait > DEFAULTS.pushPollIntervalMs - 10_000, `poll ${i} due in ${wait} ms`);
      assert.equal(await runDurableObjectAlarm(t.stub), true);
    }
    const after = await t.stub.status(t.table);
    const per = (side: "source" | "target", k: "readClass" | "writeClass") =>
      (after.cost.usage[side][k] - before.cost.usage[side][k]) / ticks;
    assert.equal(per("source", "readClass"), 3, "2 HEADs + 1 GET on the source");
    assert.equal(per("target", "readClass"), 1, "1 HEAD on the target");
    assert.equal(per("source", "writeClass") + per("target", "writeClass"), 0);
    const rows =
      (after.cost.usage.durableObject.rowsWritten - before.cost.usage.durableObject.rowsWritten) / ticks;
    assert.equal(rows, 2, "the tick's state and its alarm");
    const perHour =
      (3_600_000 / DEFAULTS.pushPollIntervalMs) * (per("source", "readClass") + per("target", "readClass"));
    assert.ok(perHour <= 60, `${perHour} read-class requests an hour`);
  });

  it("the cron starts a loop nobody started, visits each table once an hour, and never ticks a running loop", async () => {
    // A table of the SOURCE_TABLES layout written by an outside writer: no kick, no event.
    const table = `cron-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `tables/${table}/` });
    const path = "data/a.parquet";
    await source.put(path, new Uint8Array(8));
    await (await Catalog.open(source)).commit({ add: [{ path, fileSize: 8, numRows: 1 }] });
    const minute = cronMinute(table);
    const at = (m: number) => Date.UTC(2026, 11, 1, 10, m);
    const other = (minute + 1) % CRON_ROUND_MINUTES;
    assert.ok((await cronVisit(env, at(other))).includes(table), "visited at the first run that lists it");
    const stub = stubOf(table);
    await driveAlarms(stub, async () => (await stub.status(table)).mirrorSeq >= 1);
    // Its next poll well away (it polls every 5 s), so nothing but the cron can touch it below.
    await runInDurableObject(stub, (_i, state) => state.storage.setAlarm(Date.now() + 3_600_000));
    const before = await stub.status(table);
    assert.equal(before.mirrorSeq, 1);
    assert.ok(!(await cronVisit(env, at(other))).includes(table), "not again until its minute");
    assert.ok((await cronVisit(env, at(minute))).includes(table), "at its minute");
    const after = await stub.status(table);
    assert.equal(after.nextAlarmMs, before.nextAlarmMs, "the running loop's alarm is untouched");
    assert.deepEqual(after.counters.requests, before.counters.requests);
    assert.equal(after.cost.usage.durableObject.requests, before.cost.usage.durableObject.requests + 2);
  });

  it("an admin table configured before locations were kept registers its location at the cron's visit", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    const location = `r2:PUSHED/${t.prefix}`;
    // As before this version: the registry knows the name only, the object nothing.
    await tableRegistry(env).add(t.table);
    await runInDurableObject(t.stub, async (_i, state) => {
      await state.storage.delete("registered");
    });
    await evictDurableObject(t.stub);
    assert.deepEqual(await tableRegistry(env).lookup([location]), {});
    await cronVisit(env, Date.UTC(2026, 11, 1, 10, cronMinute(t.table)));
    assert.deepEqual(await tableRegistry(env).lookup([location]), { [location]: [t.table] });
    // And removing the table forgets it.
    await SELF.fetch(`${BASE}/api/tables/${t.table}`, { method: "DELETE", headers: ADMIN });
    assert.deepEqual(await tableRegistry(env).lookup([location]), {});
  });
});

describe("the object's storage", () => {
  it("an object that kept its state one key each resumes from it and moves it into one row", async () => {
    const t = await pushedTable();
    await commit(t);
    await mirrored(t, 1);
    const saved = freshMirrorProgress();
    await runInDurableObject(t.stub, async (_i, state) => {
      const now = (await state.storage.get<{ progress: typeof saved }>("state"))?.progress;
      assert.ok(now);
      await state.storage.delete("state");
      await state.storage.put({
        progress: now,
        consecutiveFailures: 3,
        lagHistory: [{ atMs: Date.now(), lagSeconds: 7 }],
      });
    });
    await evictDurableObject(t.stub);
    const st = await t.stub.status(t.table);
    assert.equal(st.mirrorSeq, 1);
    assert.equal(st.consecutiveFailures, 3);
    assert.equal(st.lagHistory[0]?.lagSeconds, 7);
    assert.equal(await runDurableObjectAlarm(t.stub), true);
    await runInDurableObject(t.stub, async (_i, state) => {
      // test:puts is the tests' own (entry.ts records the mirror's puts).
      const keys = [...(await state.storage.list()).keys()].filter((k) => k !== "test:puts").sort();
      assert.deepEqual(keys, ["config", "registered", "state", "table"]);
    });
    assert.equal((await t.stub.status(t.table)).consecutiveFailures, 0);
  });
});
