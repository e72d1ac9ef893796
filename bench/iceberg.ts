/**
 * The Iceberg view of a mirror (src/iceberg/), on a table of N versions made
 * by the demo writer (each version a level-0 flush of 100 rows over 1,000
 * keys, so most rows update earlier ones; every 8 level-0 files compacted
 * into level 1), in memory (request counts are deterministic; times are this
 * machine's):
 *
 * 1. building the view from scratch for all N versions: time, requests and
 *    bytes written per version (write-class requests, delete files), and
 *    what the data files weigh (none of it is written);
 * 2. per incremental version: 20 more versions, each given its snapshot by
 *    the same view instance (as a mirror's tick does): time and requests;
 * 3. merutable's `export_iceberg` on the same table, as it works (every live
 *    data file rewritten without the internal columns, then one metadata
 *    file, manifest list and manifest): what it would write for HEAD,
 *    computed from the files' footers (the user columns' compressed bytes).
 *
 *   npx node bench/iceberg.ts [--versions N]
 */
import { parseArgs } from "node:util";
import { openTable } from "../src/catalog/table.ts";
import { demoCommit } from "../src/demo/writer.ts";
import { IcebergView } from "../src/iceberg/view.ts";
import { parseNumberOption } from "../src/options.ts";
import { TableRows } from "../src/rows/table-rows.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { metered } from "../src/store/metered.ts";
import { headline, round } from "./result.ts";

const { values } = parseArgs({ options: { versions: { type: "string" } } });
const N = parseNumberOption("--versions", values.versions, 1000, { min: 10, max: 100_000 });
const MORE = 20;

const store = new MemoryStore();
const t0 = performance.now();
for (let v = 1; v <= N; v++) await demoCommit(store, { files: 1, rows: 100, compactAt: 8 });
console.log(`a table of ${N} versions written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const m = metered(store);
/** PUTs and bytes written so far (the view's other write-class requests are its LISTs, counted apart). */
const writes = () => {
  const c = m.counts();
  return { requests: c.put, bytes: c.bytesOut };
};

// 1. From scratch.
const view = new IcebergView(m, { location: "s3://bucket/mirror" });
const perVersion: Array<{ requests: number; bytes: number; deletes: number }> = [];
let last = writes();
const t1 = performance.now();
const built = await view.update({
  onVersion: () => {
    const now = writes();
    perVersion.push({ requests: now.requests - last.requests, bytes: now.bytes - last.bytes, deletes: 0 });
    last = now;
  },
});
const buildSecs = (performance.now() - t1) / 1000;
const deleteFiles = (await collectKeys(store)).filter((k) => k.startsWith("iceberg/deletes/"));
const c1 = m.counts();
const dataBytes = (await collectKeys(store))
  .filter((k) => k.startsWith("data/"))
  .reduce(async (n, k) => (await n) + (await store.head(k)).size, Promise.resolve(0));
const maxWrites = Math.max(...perVersion.map((p) => p.requests));
const meanWrites = perVersion.reduce((n, p) => n + p.requests, 0) / perVersion.length;
const meanBytes = perVersion.reduce((n, p) => n + p.bytes, 0) / perVersion.length;
const lastBytes = perVersion.at(-1)?.bytes ?? 0;
console.log(
  `from scratch: ${built.written.length} versions in ${buildSecs.toFixed(1)} s (${((buildSecs * 1000) / N).toFixed(1)} ms a version); ` +
    `${c1.readClass} read-class requests (${(c1.bytesIn / 2 ** 20).toFixed(1)} MiB read), ${c1.put} PUTs and ${c1.list} LISTs (${(c1.bytesOut / 2 ** 20).toFixed(1)} MiB written; the data files weigh ${((await dataBytes) / 2 ** 20).toFixed(1)} MiB, none of it written)`,
);
console.log(
  `  per version: PUTs max ${maxWrites}, mean ${meanWrites.toFixed(2)} (a delete file in ${deleteFiles.length} of ${N} versions; version-hint.text once, at the end); bytes written mean ${(meanBytes / 1024).toFixed(1)} KiB, the last version ${(lastBytes / 1024).toFixed(1)} KiB (its metadata file lists the last 100 snapshots)`,
);

// 2. Incremental: more versions, one update each on the same instance.
const times: number[] = [];
const incWrites: number[] = [];
const incReads: number[] = [];
for (let i = 0; i < MORE; i++) {
  await demoCommit(store, { files: 1, rows: 100, compactAt: 8 });
  const before = m.counts();
  const t = performance.now();
  const r = await view.update();
  times.push(performance.now() - t);
  const after = m.counts();
  if (r.written.length !== 1) throw new Error(`an update wrote ${r.written.length} versions`);
  incWrites.push(after.put - before.put);
  if (after.list !== before.list) throw new Error("an incremental update listed");
  incReads.push(after.readClass - before.readClass);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
  `incremental: ${MORE} versions, one update each: median ${median(times).toFixed(1)} ms a version; ` +
    `PUTs a version (version-hint.text included: one per update) max ${Math.max(...incWrites)}, median ${median(incWrites)}; read-class median ${median(incReads)}`,
);

// 3. merutable's export of HEAD on the same table: every live file rewritten without the internal columns.
const table = await openTable(store);
const rows = new TableRows(table);
const head = await rows.version();
let userBytes = 0;
for (const f of head.files) {
  const footer = await rows.dataFile(f).footer();
  for (const g of footer.metadata.row_groups) {
    for (const c of g.columns) {
      const name = c.meta_data?.path_in_schema[0] ?? "";
      if (!name.startsWith("_merutable_")) userBytes += Number(c.meta_data?.total_compressed_size ?? 0);
    }
  }
}
const exportRequests = head.files.length + 3;
console.log(
  `merutable's export of HEAD (v${head.version}, ${head.files.length} live files): ${exportRequests} writes, ≈${(userBytes / 1024).toFixed(1)} KiB of rewritten data (the live files' user columns), one snapshot only; ` +
    `the view: ${median(incWrites)} writes and ${(lastBytes / 1024).toFixed(1)} KiB for a version, no data byte, every version`,
);

headline({
  versions: N,
  "build s": round(buildSecs, 1),
  "build ms/version": round((buildSecs * 1000) / N, 1),
  "incremental ms/version (median)": round(median(times), 1),
  "PUTs/version max": maxWrites,
  "PUTs/version mean": round(meanWrites, 2),
  "incremental PUTs/version (median, hint included)": median(incWrites),
  "KiB written/version (mean)": round(meanBytes / 1024, 1),
  "merutable export writes (HEAD)": exportRequests,
  "merutable export KiB (HEAD)": round(userBytes / 1024, 1),
});

async function collectKeys(s: MemoryStore): Promise<string[]> {
  const out: string[] = [];
  for await (const x of s.list("")) out.push(x.key);
  return out;
}
