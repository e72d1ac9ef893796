/**
 * R2 → R2 inside workerd with the worker's default per-alarm budget
 * (`DEFAULTS` of worker/vars.ts: 40 requests, 64 MiB, 6 at once), one
 * `Mirror.tick()` per alarm as the MirrorObject runs it: a 1,000-file backlog
 * of small files (the request budget binds) and 8 files of 16 MiB (the byte
 * budget binds). Asserts that every backlog catches up; the figures (ticks,
 * files and bytes per tick, milliseconds) are printed as one JSON line each
 * for `npx node bench/mirror.ts --workers` (BENCHMARKS.md, "Mirror"). Local
 * R2 is miniflare's (SQLite and files on this machine), so the times are this
 * machine's, not Cloudflare's; the per-alarm counts are the budget's.
 */
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { Catalog, Mirror, R2Store, verifyMirror } from "../../src/index.ts";
import { DEFAULTS } from "../../worker/vars.ts";
import { randomId } from "../support/harness.ts";

async function backlog(label: string, count: number, size: number): Promise<void> {
  const prefix = `tables/bench-${randomId()}/`;
  const source = new R2Store(env.SOURCE, { prefix });
  const target = new R2Store(env.MIRROR, { prefix });
  const body = new Uint8Array(size).fill(7);
  const paths = Array.from({ length: count }, (_, i) => `data/f-${String(i).padStart(4, "0")}.parquet`);
  for (let i = 0; i < paths.length; i += 50) {
    await Promise.all(paths.slice(i, i + 50).map((p) => source.put(p, body)));
  }
  const catalog = await Catalog.open(source);
  await catalog.commit({ add: paths.map((path) => ({ path, fileSize: size, numRows: 1 })) });

  const mirror = new Mirror({
    source,
    target,
    parallelism: DEFAULTS.parallelism,
    budget: { requests: DEFAULTS.budgetRequests, bytes: DEFAULTS.budgetBytes },
  });
  const ticks: number[] = [];
  const t0 = Date.now();
  for (let i = 0; i < 10_000 && mirror.mirrorSeq < 1; i++) {
    const a = Date.now();
    await mirror.tick();
    ticks.push(Date.now() - a);
    assert.equal(mirror.status().lastError ?? null, null, JSON.stringify(mirror.status().lastError));
  }
  const ms = Date.now() - t0;
  assert.equal(mirror.mirrorSeq, 1);
  assert.equal((await verifyMirror(target, 1)).ok, true);
  const sorted = [...ticks].sort((x, y) => x - y);
  console.log(
    JSON.stringify({
      bench: "workers-backlog",
      label,
      files: count,
      bytes: count * size,
      budget: {
        requests: DEFAULTS.budgetRequests,
        bytes: DEFAULTS.budgetBytes,
        parallelism: DEFAULTS.parallelism,
      },
      ticks: ticks.length,
      filesPerTick: count / ticks.length,
      bytesPerTick: (count * size) / ticks.length,
      ms,
      medianTickMs: sorted[Math.floor(sorted.length / 2)],
      maxTickMs: sorted[sorted.length - 1],
    }),
  );
}

describe("R2 → R2 under the worker's default per-alarm budget", () => {
  it("a backlog of 1,000 files of 4 KiB catches up, one budgeted tick per alarm", async () => {
    await backlog("1,000 × 4 KiB", 1000, 4096);
  }, 600_000);

  it("a backlog of 8 files of 16 MiB catches up, one budgeted tick per alarm", async () => {
    await backlog("8 × 16 MiB", 8, 16 * 1024 * 1024);
  }, 600_000);
});
