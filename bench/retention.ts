/**
 * A mirror's retention on a table with steady compaction, counted with
 * `metered` on memory stores (the request counts are what S3 and R2 bill;
 * bytes are the objects' sizes):
 *
 * The table holds about S bytes (100 files of 16 KiB at the start). Each
 * version flushes 1% of S as a new L0 file; every 10th version compacts
 * instead: its 9 L0 files and the oldest 10% of S in L1 become one L1 file of
 * 10% of S (the data the flushes overwrote is dropped), so the table stays
 * about S and each 10 versions write 19% of S. Two mirrors follow it, one
 * tick per version: one keeps everything, one keeps `--keep` versions.
 *
 * 1. every 100 versions: the bytes on each mirror, and (with retention) the
 *    bytes of the files the retained versions name, and the ratio (goal: at
 *    most 1.5, flat as versions grow);
 * 2. requests of retention: per pass, per expired version, per deleted file.
 *
 *   npx node bench/retention.ts [--versions 1000] [--keep 50]
 */
import { parseArgs } from "node:util";
import { referencedFiles } from "../src/manifest/live.ts";
import { Mirror } from "../src/mirror/mirror.ts";
import { openMirror } from "../src/mirror/reader.ts";
import { parseNumberOption } from "../src/options.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { metered, type RequestCounts } from "../src/store/metered.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Primary } from "../test/support/mirror-fixture.ts";
import { headline, round } from "./result.ts";

const { values } = parseArgs({ options: { versions: { type: "string" }, keep: { type: "string" } } });
const versions = parseNumberOption("--versions", values.versions, 1000, { min: 100 });
const keep = parseNumberOption("--keep", values.keep, 50, { min: 1 });

const KiB = 1024;
const FILE = 16 * KiB;
const S = 100 * FILE;
const requests = (c: RequestCounts) => c.readClass + c.writeClass;
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

/** Every object's bytes on `store` (a listing). */
async function storedBytes(store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const o of store.list("")) n += o.size;
  return n;
}

/** The bytes of the files the versions from the boundary to HEAD name, once each. */
async function retainedFileBytes(store: ObjectStore): Promise<{ bytes: number; versions: number }> {
  const reader = openMirror(store);
  const head = await reader.head();
  const from = Math.max(1, await reader.retentionBoundary());
  const seen = new Map<string, number>();
  let n = 0;
  for (let v = from; v <= head; v++) {
    n++;
    for (const f of referencedFiles(await reader.manifest(v))) seen.set(f.path, f.size ?? f.minSize);
  }
  return { bytes: [...seen.values()].reduce((a, b) => a + b, 0), versions: n };
}

const source = new MemoryStore({ name: "primary" });
const primary = await Primary.open(source);
// The table at the start: 100 L1 files.
const l1: Array<{ path: string; size: number }> = Array.from({ length: 100 }, (_, i) => ({
  path: `data/L1/s${i}.parquet`,
  size: FILE,
}));
await primary.commit(l1);
let l0: Array<{ path: string; size: number }> = [];

// Measured on the raw stores; the mirrors' requests through metered().
const allRaw = new MemoryStore({ name: "everything" });
const keptRaw = new MemoryStore({ name: "retained" });
const all = metered(allRaw);
const kept = metered(keptRaw);
const plain = new Mirror({ source, target: all, lagAlertSecs: 0 });
const windowed = new Mirror({ source, target: kept, lagAlertSecs: 0, retention: { keepVersions: keep } });
await plain.tick();
await windowed.tick();

console.log(
  `retention: a table of ${mib(S)} MiB, 1% flushed per version, 10% compacted every 10th; ${versions} versions; --keep ${keep}`,
);
console.log("versions | everything (MiB) | retained (MiB) | files the kept versions name (MiB) | ratio");
const ratios: number[] = [];
const t0 = performance.now();
for (let v = 2; v <= versions; v++) {
  if (v % 10 === 0) {
    // Compaction: the L0 files and the oldest 10% of S in L1 become one L1 file of 10% of S.
    let taken = 0;
    const inputs: string[] = l0.map((f) => f.path);
    while (taken < S / 10 && l1.length > 0) {
      const f = l1.shift() as { path: string; size: number };
      taken += f.size;
      inputs.push(f.path);
    }
    const out = { path: `data/L1/c${v}.parquet`, size: S / 10 };
    await primary.commit([out], inputs);
    l1.push(out);
    l0 = [];
  } else {
    const f = { path: `data/L0/f${v}.parquet`, size: S / 100 };
    await primary.commit([f]);
    l0.push(f);
  }
  await plain.tick();
  await windowed.tick();
  if (v % 100 === 0) {
    const everything = await storedBytes(allRaw);
    const retained = await storedBytes(keptRaw);
    const named = await retainedFileBytes(keptRaw);
    const ratio = retained / named.bytes;
    ratios.push(ratio);
    console.log(
      `${String(v).padStart(8)} | ${mib(everything).padStart(16)} | ${mib(retained).padStart(14)} | ${mib(named.bytes).padStart(34)} | ${ratio.toFixed(3)} (${named.versions} versions kept)`,
    );
  }
}
const ms = performance.now() - t0;
const s = windowed.status();
const r = s.retention;
if (!r || s.lastError) throw new Error(`retention failed: ${JSON.stringify(s.lastError)}`);
const t = r.totals;
console.log(
  `2. retention: ${t.passes} passes, ${t.versionsExpired} versions expired, ${t.filesDeleted} files deleted, ${mib(t.bytesFreed)} MiB freed, ${t.requests} requests`,
);
console.log(
  `   requests per pass ${(t.requests / t.passes).toFixed(2)}, per expired version ${(t.requests / t.versionsExpired).toFixed(2)}, per deleted file ${(t.requests / t.filesDeleted).toFixed(2)}`,
);
console.log(
  `   the retaining mirror's target, all its requests (copies and retention): ${requests(kept.counts())}; the other's: ${requests(all.counts())}; ${(ms / 1000).toFixed(1)} s for both`,
);
// An idle pass costs nothing: nothing is due until a version arrives.
kept.reset();
for (let i = 0; i < 10; i++) await windowed.tick();
const idle = requests(kept.counts()) / 10;
console.log(`3. an idle tick's target requests with retention: ${idle} (no pass is due)`);

headline({
  versions,
  keep,
  "ratio at the end (goal <= 1.5)": round(ratios.at(-1) ?? 0, 3),
  "max ratio": round(Math.max(...ratios), 3),
  "everything / retained (bytes)": round((await storedBytes(allRaw)) / (await storedBytes(keptRaw)), 1),
  "requests per pass": round(t.requests / t.passes, 2),
  "requests per expired version": round(t.requests / t.versionsExpired, 2),
  "requests per deleted file": round(t.requests / t.filesDeleted, 2),
});
