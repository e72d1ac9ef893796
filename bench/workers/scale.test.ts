/**
 * The Worker at scale, measured inside workerd (`npx node bench/workers.ts`,
 * which runs this file in the `workers-bench` project and samples workerd's
 * memory from outside). Every table is a real `MirrorObject` with its own
 * alarms, on miniflare's local R2, with the default per-alarm budget; pushed
 * tables are woken by messages of the documented R2 event shape sent to the
 * worker's local queue (R2 itself does not emit them locally, so the delay
 * between a commit and R2's notification is not in these figures).
 *
 * 1. lag from commit to mirrored, pushed vs polled (POLL_INTERVAL_MS 5 s);
 * 2. 100 tables (`bench/workers.ts --tables N`) side by side: a burst of commits to every table at once, the
 *    time until all are caught up, requests per table and per commit;
 * 3. an idle table: requests per poll, and so per hour, pushed and polled.
 *
 * Prints one JSON line per result (`{"bench":"workers-scale",...}`) for the
 * runner; asserts only that every table caught up.
 */
import { evictDurableObject, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { Catalog, R2Store } from "../../src/index.ts";
import { randomId } from "../../test/support/harness.ts";
import { ADMIN, BASE, sleep, stubOf } from "../../test/workers/support.ts";
import type { MirrorObjectStatus } from "../../worker/object-state.ts";
import { DEFAULTS } from "../../worker/vars.ts";

/** Tables per burst: BENCH_TABLES (from `bench/workers.ts --tables`, validated there), or 100. */
const TABLES = Number(env.BENCH_TABLES || 100);

const report = (kind: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ bench: "workers-scale", kind, atMs: Date.now(), ...data }));

interface BenchTable {
  table: string;
  prefix: string;
  push: boolean;
  source: R2Store;
  catalog: Catalog;
  stub: ReturnType<typeof stubOf>;
  head: number;
  /** Status reads this bench made of the table (each is a Durable Object request, not the table's cost). */
  reads: number;
}

/** Every table this bench made (to evict them at the end). */
const all: BenchTable[] = [];

async function makeTable(label: string, push: boolean): Promise<BenchTable> {
  const table = `${label}-${randomId()}`;
  const prefix = `bench/${table}/`;
  const r = await SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify({ source: `r2://PUSHED/${prefix}`, target: `r2://MIRROR/${prefix}`, push }),
  });
  assert.equal(r.status, 200, await r.text());
  const source = new R2Store(env.PUSHED, { prefix });
  const t: BenchTable = {
    table,
    prefix,
    push,
    source,
    catalog: await Catalog.open(source),
    stub: stubOf(table),
    head: 0,
    reads: 0,
  };
  all.push(t);
  return t;
}

/** Commits one snapshot of `files` new 4 KiB files; returns its version. */
async function commit(t: BenchTable, files = 1): Promise<number> {
  const add = [];
  for (let i = 0; i < files; i++) {
    const path = `data/${randomId()}.parquet`;
    await t.source.put(path, new Uint8Array(4096).fill(i), { mode: "create" });
    add.push({ path, fileSize: 4096, numRows: 10 });
  }
  t.head = await t.catalog.commit({ add });
  return t.head;
}

/** What R2 would send for the manifest of `version` (the documented shape). */
const manifestEvent = (t: BenchTable, version: number) => ({
  account: "bench",
  action: "PutObject",
  bucket: "tidemark-pushed",
  object: { key: `${t.prefix}metadata/v${version}.manifest.bin`, size: 1024, eTag: "bench" },
  eventTime: new Date().toISOString(),
});

/** Sends events in batches of 100 (sendBatch's limit). */
async function notify(events: unknown[]): Promise<void> {
  for (let i = 0; i < events.length; i += 100) {
    await env.TEST_EVENTS.sendBatch(events.slice(i, i + 100).map((body) => ({ body })));
  }
}

const status = (t: BenchTable) => {
  t.reads++;
  return t.stub.status(t.table);
};

/** Waits until every table's mirror holds its head; returns when the last one got there. */
async function allCaughtUp(tables: BenchTable[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let pending = tables;
  while (pending.length > 0) {
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`${pending.length} tables not caught up after ${timeoutMs} ms`);
    const seqs = await Promise.all(pending.map(async (t) => (await status(t)).mirrorSeq));
    pending = pending.filter((t, i) => (seqs[i] ?? 0) < t.head);
    if (pending.length > 0) await sleep(100);
  }
  return Date.now();
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
};

/**
 * A table's use so far: store requests per side and class, the object's own
 * (less the status reads of this bench), the queue messages. Reads `t`'s status.
 */
async function use(t: BenchTable) {
  const st: MirrorObjectStatus = await status(t);
  const u = st.cost.usage;
  return {
    sourceRead: u.source.readClass,
    sourceWrite: u.source.writeClass,
    targetRead: u.target.readClass,
    targetWrite: u.target.writeClass,
    doRequests: u.durableObject.requests - t.reads,
    doRowsWritten: u.durableObject.rowsWritten,
    doActiveMs: u.durableObject.activeMs,
    queueMessages: u.queueMessages,
  };
}
type Use = Awaited<ReturnType<typeof use>>;
const minus = (a: Use, b: Use): Use =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - b[k as keyof Use]])) as Use;
const mean = (xs: Use[]): Use =>
  Object.fromEntries(
    Object.keys(xs[0] ?? {}).map((k) => [k, xs.reduce((s, x) => s + x[k as keyof Use], 0) / xs.length]),
  ) as Use;

describe("the Worker at scale", () => {
  it("lag from commit to mirrored: pushed vs polled", async () => {
    const perMode = 20;
    const rounds = 5;
    report("phase", { name: "lag-start", tables: 0 });
    const tables = [
      ...(await Promise.all(Array.from({ length: perMode }, () => makeTable("lag-push", true)))),
      ...(await Promise.all(Array.from({ length: perMode }, () => makeTable("lag-poll", false)))),
    ];
    for (const t of tables) await commit(t);
    await allCaughtUp(tables, 120_000);
    const lags: Record<"push" | "poll", number[]> = { push: [], poll: [] };
    for (let r = 0; r < rounds; r++) {
      // Each table commits once at a random moment within 5 s; a watcher notes when its mirror has it.
      await Promise.all(
        tables.map(async (t) => {
          await sleep(Math.random() * 5_000);
          const v = await commit(t);
          const committedAt = Date.now();
          if (t.push) await notify([manifestEvent(t, v)]);
          while ((await status(t)).mirrorSeq < v) await sleep(20);
          lags[t.push ? "push" : "poll"].push(Date.now() - committedAt);
        }),
      );
    }
    report("phase", { name: "lag-done", tables: 2 * perMode });
    for (const mode of ["push", "poll"] as const) {
      const xs = lags[mode];
      report("lag", {
        mode,
        samples: xs.length,
        p50: percentile(xs, 50),
        p90: percentile(xs, 90),
        p99: percentile(xs, 99),
        max: Math.max(...xs),
        pollIntervalMs: mode === "push" ? DEFAULTS.pushPollIntervalMs : DEFAULTS.pollIntervalMs,
      });
    }
  });

  for (const push of [true, false]) {
    const mode = push ? "push" : "poll";
    it(`${TABLES} tables side by side (${mode}): a burst of commits to every table, until all are caught up`, async () => {
      const n = TABLES;
      const commits = 3;
      const filesPerCommit = 2;
      const t0 = Date.now();
      report("phase", { name: `${mode}-start`, tables: 0 });
      const tables = await Promise.all(
        Array.from({ length: n }, (_, i) => makeTable(`scale-${mode}-${i}`, push)),
      );
      for (const t of tables) await commit(t);
      await allCaughtUp(tables, 300_000);
      report("setup", { mode, tables: n, ms: Date.now() - t0 });
      report("phase", { name: `${mode}-setup-done`, tables: n });
      const before = await Promise.all(tables.map((t) => use(t)));
      // The burst: every table commits `commits` snapshots at once; a pushed
      // one's notifications go out as they would from R2, one per manifest.
      const burstStart = Date.now();
      const events: unknown[] = [];
      await Promise.all(
        tables.map(async (t) => {
          for (let c = 0; c < commits; c++) {
            const v = await commit(t, filesPerCommit);
            if (push) events.push(manifestEvent(t, v));
          }
        }),
      );
      if (push) await notify(events);
      const burstEnd = Date.now();
      const caughtUpAt = await allCaughtUp(tables, 600_000);
      // Let alarms the burst scheduled settle before reading the counts.
      await sleep(1_000);
      const after = await Promise.all(tables.map((t) => use(t)));
      report("phase", { name: `${mode}-burst-done`, tables: n });
      const perTable = mean(after.map((a, i) => minus(a, before[i] as Use)));
      report("burst", {
        mode,
        tables: n,
        commitsPerTable: commits,
        filesPerCommit,
        burstMs: burstEnd - burstStart,
        catchUpMs: caughtUpAt - burstEnd,
        fromBurstStartMs: caughtUpAt - burstStart,
        perTable,
        perCommit: Object.fromEntries(Object.entries(perTable).map(([k, v]) => [k, v / commits])),
      });
    }, 1_200_000);
  }

  it("an idle table, and one commit: requests, Durable Object requests and storage rows, pushed and polled", async () => {
    for (const push of [true, false]) {
      const mode = push ? "push" : "poll";
      const tables = await Promise.all(Array.from({ length: 5 }, (_, i) => makeTable(`idle-${i}`, push)));
      for (const t of tables) await commit(t);
      await allCaughtUp(tables, 120_000);
      const perPoll: Use[] = [];
      const perCommit: Use[] = [];
      for (const t of tables) {
        await runDurableObjectAlarm(t.stub); // settled
        const b = await use(t);
        for (let i = 0; i < 10; i++) assert.equal(await runDurableObjectAlarm(t.stub), true);
        const a = await use(t);
        // A polled table's own alarm may also have fired in between: count the ticks that ran.
        const d = minus(a, b);
        perPoll.push(Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v / d.doRequests])) as Use);
        // One commit of one file, woken as its mode wakes it.
        const c0 = await use(t);
        const v = await commit(t);
        if (push) await notify([manifestEvent(t, v)]);
        else assert.equal(await runDurableObjectAlarm(t.stub), true);
        while ((await status(t)).mirrorSeq < v) await sleep(20);
        perCommit.push(minus(await use(t), c0));
      }
      const st = await status(tables[0] as BenchTable);
      report("idle", {
        mode,
        pollIntervalMs: push ? DEFAULTS.pushPollIntervalMs : DEFAULTS.pollIntervalMs,
        nextPollInMs: (st.nextAlarmMs ?? 0) - Date.now(),
        perPoll: mean(perPoll),
        perCommit: mean(perCommit),
      });
    }
    report("phase", { name: "idle-done", tables: 10 });
    // What the objects hold: evict them all (their state is in storage), then look again.
    for (const t of all) await evictDurableObject(t.stub).catch(() => {}); // one not running: nothing to evict
    await sleep(2_000);
    report("phase", { name: "all-evicted", tables: -all.length });
    await sleep(1_000); // a sample after the mark
  });
});
