/**
 * The drill inside workerd (worker/drill.ts): a deep verification of a
 * table's mirror on R2, run by the table's Durable Object in slices across
 * alarms, each alarm's tick and slice within the table's request budget,
 * its cursor surviving an eviction;
 * an intact mirror reports ok; a flipped byte in a file on R2 is reported
 * as damage naming the file, in the status, in `/metrics` and in the alert
 * (the Worker's log). The drill interval is checked like every setting.
 */
import { evictDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it, vi } from "vitest";
import { R2Store } from "../../src/index.ts";
import { openTable } from "../../worker/config.ts";
import type { MirrorObjectStatus } from "../../worker/object-state.ts";
import { parseTableConfig } from "../../worker/table-config.ts";
import { randomId } from "../support/harness.ts";
import { TAMPER_FILES, writeTamperTable } from "../support/tamper-fixture.ts";
import type { MirrorObject as TestMirrorObject } from "./entry.ts";
import { ADMIN, BASE, driveAlarms, READ, stubOf } from "./support.ts";

const WEEK = 7 * 86_400_000;
const BUDGET = 20;

const put = (table: string, body: unknown) =>
  SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
const metrics = async () => (await SELF.fetch(`${BASE}/metrics`, { headers: READ })).text();

describe("the drill", () => {
  it("drillIntervalMs is checked: off, or 1 minute to 2^31 - 1 ms, the error naming the table's entry", () => {
    const base = { source: "r2://SOURCE/drill-settings/t", target: "r2://MIRROR/drill-settings/t" };
    const where = "TABLE_CONFIG.orders.";
    const open = (drillIntervalMs: unknown) =>
      openTable(env, "orders", parseTableConfig({ ...base, drillIntervalMs }, where), "static", where);
    for (const bad of [0, 59_999, 2 ** 31, 1.5, "weekly", null]) {
      assert.throws(
        () => open(bad),
        (e: Error) =>
          /^\[InvalidArgument\] TABLE_CONFIG\.orders\.drillIntervalMs must be an integer >= 60000 and <= 2147483647/.test(
            e.message,
          ),
        String(bad),
      );
    }
    assert.equal(open("off").config.drillIntervalMs, "off");
    assert.equal(open(3_600_000).config.drillIntervalMs, 3_600_000);
  });

  it("a drill over several alarms verifies every file of HEAD and reports ok; a flipped byte on R2 is damage naming the file in the status, /metrics and the alert", async () => {
    const table = `drill-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `drill-src/${table}/` });
    const target = new R2Store(env.MIRROR, { prefix: `drill-dst/${table}/` });
    await writeTamperTable(source, { seed: 1, uuid: "00000000-0000-4000-8000-0000000000d3" });
    const r = await put(table, {
      source: `r2://SOURCE/drill-src/${table}`,
      target: `r2://MIRROR/drill-dst/${table}`,
      budget: { requests: BUDGET },
    });
    assert.equal(r.status, 200, await r.clone().text());
    const stub = stubOf(table) as unknown as DurableObjectStub<TestMirrorObject>;
    const status = () => stub.status(table) as Promise<MirrorObjectStatus>;
    await driveAlarms(stub, async () => {
      const s = await status();
      return s.caughtUp && s.mirrorSeq === 3;
    });
    const before = await status();
    // Weekly by default: scheduled a week after the first tick, nothing run yet.
    assert.equal(before.drill?.intervalMs, WEEK);
    assert.equal(before.drill?.last, null);
    const scheduled = (before.drill?.nextAtMs ?? 0) - Date.now();
    assert.ok(scheduled > WEEK - 600_000 && scheduled <= WEEK, `next drill in ${scheduled} ms`);

    /** Asks for a drill and runs alarms until it ends: each alarm's tick and slice together within the budget. */
    const drill = async (evictMidway = false) => {
      const asked = await SELF.fetch(`${BASE}/api/tables/${table}/drill`, { method: "POST", headers: ADMIN });
      assert.equal(asked.status, 200, await asked.clone().text());
      assert.equal(((await asked.json()) as MirrorObjectStatus).drill?.requested, true);
      const finished = (await status()).drill?.totals.drills ?? 0;
      let drillRequests = (await status()).drill?.totals.requests ?? 0;
      const perAlarm: number[] = [];
      let evicted: number | undefined;
      const ran = await driveAlarms(
        stub,
        async () => ((await status()).drill?.totals.drills ?? 0) > finished,
        async () => {
          const s = await status();
          const tick = (await stub.testAlarmRequests()).at(-1) ?? 0;
          perAlarm.push(tick + (s.drill?.totals.requests ?? 0) - drillRequests);
          drillRequests = s.drill?.totals.requests ?? 0;
          // Evicted after its first slice: the cursor is in the object's state row.
          if (evictMidway && s.drill?.running?.slices === 1) {
            evictMidway = false;
            evicted = s.drill.running.next;
            await evictDurableObject(stub);
          }
        },
      );
      assert.ok(ran > 0, "the drill ran in alarms");
      assert.ok(Math.max(...perAlarm) <= BUDGET, `requests per alarm: ${perAlarm.join(" ")}`);
      const s = await status();
      assert.equal(s.drill?.running, null);
      return { last: s.drill?.last, s, evicted };
    };

    const ok = await drill(true);
    assert.ok(ok.evicted !== undefined && ok.evicted > 0 && ok.evicted < 6, `evicted at file ${ok.evicted}`);
    assert.equal(ok.last?.result, "ok", JSON.stringify(ok.last));
    assert.equal(ok.last?.version, 3);
    assert.equal(ok.last?.files, 6, `every file v3 names, read and hashed: ${JSON.stringify(ok.last)}`);
    assert.ok((ok.last?.slices ?? 0) >= 3, `${ok.last?.slices} slices: bigger than one alarm's share`);
    assert.equal(ok.last?.damagedFiles, 0);
    const next = (ok.s.drill?.nextAtMs ?? 0) - (ok.last?.finishedAtMs ?? 0);
    assert.equal(next, WEEK, "the next one a week after");
    let m = await metrics();
    for (const line of [
      `tidemark_drill_last_result{table="${table}"} 1`,
      `tidemark_drill_damaged_files{table="${table}"} 0`,
      `tidemark_drill_files_checked{table="${table}"} 6`,
      `tidemark_drill_running{table="${table}"} 0`,
      `tidemark_drill_last_timestamp_seconds{table="${table}"} ${(ok.last?.finishedAtMs ?? 0) / 1000}`,
    ]) {
      assert.ok(m.includes(line), `${line} in /metrics`);
    }

    // A flipped byte in the middle of a data file on R2: the same size, other bytes.
    const bytes = await (await target.get(TAMPER_FILES.b)).bytes();
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    await target.put(TAMPER_FILES.b, bytes);
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    let damaged: Awaited<ReturnType<typeof drill>>;
    let logged: string[];
    try {
      damaged = await drill();
    } finally {
      logged = error.mock.calls.map((c) => c.join(" "));
      error.mockRestore();
    }
    const last = damaged.last;
    assert.equal(last?.result, "damaged");
    assert.equal(last?.damagedFiles, 1);
    assert.deepEqual(
      last?.damaged.map((p) => [p.key, p.kind]),
      [[TAMPER_FILES.b, "checksum"]],
    );
    assert.match(last?.damaged[0]?.detail ?? "", /the mirror recorded [0-9a-f]{64} when it copied it/);
    m = await metrics();
    assert.ok(m.includes(`tidemark_drill_last_result{table="${table}"} -1`), m);
    assert.ok(m.includes(`tidemark_drill_damaged_files{table="${table}"} 1`), m);
    const alert = logged.find((l) => l.includes(`table ${table} drill of v3 found damage`));
    assert.ok(alert?.includes(TAMPER_FILES.b), `alert: ${logged.join("; ")}`);
  });
});
