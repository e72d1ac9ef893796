/**
 * The lag history of a table's mirror (worker/lag-history.ts): a ring of
 * the worst lag per 30 s over the last hour, kept by the MirrorObject across
 * evictions and returned by its status (the inspector's lag chart).
 */

import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { Catalog, R2Store } from "../../src/index.ts";
import { LAG_BUCKET_MS, LAG_SAMPLES, LAG_WINDOW_MS, recordLag } from "../../worker/lag-history.ts";
import { randomId } from "../support/harness.ts";

const T0 = 1_800_000_000_000; // a bucket boundary (a multiple of 30 s)

describe("lag history", () => {
  it("keeps the worst lag of each 30 s bucket, a measured lag over an unknown one", () => {
    let h = recordLag([], T0 + 1_000, 2);
    h = recordLag(h, T0 + 5_000, 7);
    h = recordLag(h, T0 + 9_000, 3);
    h = recordLag(h, T0 + 12_000, null);
    assert.deepEqual(h, [{ atMs: T0, lagSeconds: 7 }]);
    h = recordLag(h, T0 + LAG_BUCKET_MS, null);
    assert.deepEqual(h.at(-1), { atMs: T0 + LAG_BUCKET_MS, lagSeconds: null });
    h = recordLag(h, T0 + LAG_BUCKET_MS + 1, 0);
    assert.deepEqual(h, [
      { atMs: T0, lagSeconds: 7 },
      { atMs: T0 + LAG_BUCKET_MS, lagSeconds: 0 },
    ]);
  });

  it("holds one hour at most, 120 samples, and a clock stepping back joins the last bucket", () => {
    let h: ReturnType<typeof recordLag> = [];
    for (let i = 0; i < 500; i++) h = recordLag(h, T0 + i * LAG_BUCKET_MS, i);
    assert.equal(LAG_SAMPLES, 120);
    assert.equal(h.length, LAG_SAMPLES);
    assert.equal(h[0]?.lagSeconds, 380);
    assert.ok(h.every((s, i) => i === 0 || s.atMs - (h[i - 1]?.atMs ?? 0) === LAG_BUCKET_MS));
    // A long pause: everything older than the window goes.
    h = recordLag(h, T0 + 499 * LAG_BUCKET_MS + LAG_WINDOW_MS, 1);
    assert.deepEqual(h, [{ atMs: T0 + 499 * LAG_BUCKET_MS + LAG_WINDOW_MS, lagSeconds: 1 }]);
    // The clock steps back two minutes: no sample before the last one.
    const back = recordLag(h, T0 + 499 * LAG_BUCKET_MS + LAG_WINDOW_MS - 120_000, 9);
    assert.deepEqual(back, [{ atMs: T0 + 499 * LAG_BUCKET_MS + LAG_WINDOW_MS, lagSeconds: 9 }]);
  });

  it("the mirror object's status carries the lag its ticks measured, across an eviction", async () => {
    const table = `lag-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `tables/${table}/` });
    const paths = Array.from({ length: 300 }, (_, i) => `data/f-${i}.parquet`);
    await Promise.all(paths.map((p) => source.put(p, new Uint8Array(8))));
    // Committed a minute ago: the mirror sees a lag of about a minute until it is done.
    const past = await Catalog.open(source, { now: () => Date.now() - 60_000 });
    await past.commit({ add: paths.map((path) => ({ path, fileSize: 8, numRows: 1 })) });
    const stub = env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(table));
    await stub.kick(table);
    assert.ok(await runDurableObjectAlarm(stub));
    const first = await stub.status(table);
    assert.ok(first.mirrorSeq < 1, "the budget (300 requests) stopped the first tick short");
    const measured = first.lagHistory.at(-1);
    assert.ok(measured && measured.atMs % LAG_BUCKET_MS === 0 && measured.atMs <= Date.now());
    assert.ok((measured.lagSeconds ?? 0) >= 59, `lag of the unfinished commit: ${measured.lagSeconds}`);

    for (let i = 0; i < 50 && (await stub.status(table)).mirrorSeq < 1; i++)
      await runDurableObjectAlarm(stub);
    assert.equal((await stub.status(table)).mirrorSeq, 1);
    await evictDurableObject(stub);
    const after = await stub.status(table);
    assert.ok(after.lagHistory.length >= 1, "kept in storage across the eviction");
    assert.ok((after.lagHistory[0]?.lagSeconds ?? 0) >= 59, "the bucket keeps the worst lag of its ticks");
  });
});
