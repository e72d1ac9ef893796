/**
 * Catalog benchmark, in one run:
 *
 * 1. HEAD discovery cost at gaps 1, 100 and 10,000 between low_water and HEAD:
 *    `discoverHead` (exponential probing + binary search) versus a linear probe,
 *    counted in requests with `metered` (the cost that matters on S3/R2/HTTP);
 * 2. encode + decode time and size of a 100,000-entry manifest versus
 *    JSON.stringify / JSON.parse of the same data (its proto3 JSON form).
 *
 *   npx node bench/catalog.ts [--entries N]
 *
 * `--entries` sizes the manifest of part 2 (default 100,000; `npm run bench
 * -- --quick` passes 10,000).
 */
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { LOW_WATER_KEY, manifestKey } from "../src/catalog/layout.ts";
import {
  createManifest,
  decodeManifest,
  discoverHead,
  encodeManifest,
  isTidemarkError,
  type Manifest,
  MemoryStore,
  metered,
  type ObjectStore,
  parseNumberOption,
} from "../src/index.ts";
import { ManifestSchema } from "../src/manifest/gen/manifest_pb.ts";
import { seededRandom } from "../src/store/faulty.ts";
import { headline, round } from "./result.ts";

const { values } = parseArgs({ options: { entries: { type: "string" } } });
const N = parseNumberOption("--entries", values.entries, 100_000, { min: 1 });

/** The naive discovery: probe low_water, low_water+1, ... until one is missing. */
async function linearHead(store: ObjectStore): Promise<number> {
  const lw = Number(await (await store.get(LOW_WATER_KEY)).text());
  let v = lw;
  for (;;) {
    try {
      await store.head(manifestKey(v));
      v++;
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) return v - 1;
      throw e;
    }
  }
}

console.log("## HEAD discovery (requests; low_water = 1000, HEAD = 1000 + gap)\n");
console.log(
  "| gap | discoverHead HEADs | + low_water GET | linear probe HEADs | bound 2·log2(gap)+4 | cached HEAD, unchanged |",
);
console.log("|---:|---:|---:|---:|---:|---:|");
const base = 1000;
const inner = new MemoryStore();
const store = metered(inner);
await inner.put(LOW_WATER_KEY, String(base));
let written = base - 1;
for (const gap of [1, 100, 10_000]) {
  for (let v = written + 1; v <= base + gap; v++) await inner.put(manifestKey(v), "m");
  written = base + gap;
  store.reset();
  const d = await discoverHead(store);
  const fast = store.counts();
  if (d.version !== base + gap) throw new Error(`discoverHead found ${d.version}`);
  store.reset();
  const lin = await linearHead(store);
  const slow = store.counts();
  if (lin !== base + gap) throw new Error(`linear found ${lin}`);
  store.reset();
  await discoverHead(store, { from: base + gap });
  const cached = store.counts();
  const bound = Math.floor(2 * Math.log2(gap) + 4);
  console.log(
    `| ${gap} | ${fast.head} | ${fast.get} | ${slow.head} | ${bound} | ${cached.head} HEADs, ${cached.get} GET |`,
  );
  if (gap === 10_000) headline({ "discoverHead HEADs at gap 10,000": fast.head });
}

// A 100,000-entry manifest (by default) shaped like a real LSM table's.
const rand = seededRandom(42);
const key = () => Uint8Array.from({ length: 16 }, () => Math.floor(rand() * 256));
let row = 0n;
const dataFiles = Array.from({ length: N }, (_, i) => {
  const rows = BigInt(1000 + Math.floor(rand() * 100_000));
  const f = {
    path: `data/L${i % 4}/${(i * 2654435761) % 2 ** 32}-${i.toString().padStart(6, "0")}.parquet`,
    fileSize: BigInt(1_000_000 + Math.floor(rand() * 60_000_000)),
    numRows: rows,
    level: i % 4,
    seqMin: BigInt(i * 1000),
    seqMax: BigInt(i * 1000 + 999),
    keyMin: key(),
    keyMax: key(),
    status: i % 10 === 0 ? 1 : 0,
    format: 0,
    firstRowId: row,
    ...(i % 10 === 3
      ? { dvPath: `data/dv/${i}.puffin`, dvOffset: 4n, dvLength: BigInt(64 + (i % 500)) }
      : {}),
  };
  row += rows;
  return f;
});
const big: Manifest = createManifest({
  snapshotId: 12345n,
  sequenceNumber: BigInt(N * 1000),
  previousSnapshotId: 12344n,
  tableUuid: "3f0e8a9c-1d2b-4c5d-8e6f-7a8b9c0d1e2f",
  lastUpdatedMs: 1795305600000n,
  properties: { owner: "bench" },
  nextRowId: row,
  firstRowId: 0n,
  dataFiles,
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}
function time(runs: number, fn: () => void): number {
  fn(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const RUNS = 7;
let bin: Uint8Array = new Uint8Array(0);
const encMs = time(RUNS, () => {
  bin = encodeManifest(big);
});
let decoded: Manifest | undefined;
const decMs = time(RUNS, () => {
  decoded = decodeManifest(bin);
});
if (decoded?.dataFiles.length !== N) throw new Error("decode lost entries");

// The same data as JSON: its canonical proto3 JSON form (int64 as strings, bytes as base64),
// converted once outside the timing, so only JSON.stringify / JSON.parse are timed.
const jsonObject = toJson(ManifestSchema, big);
let json = "";
const strMs = time(RUNS, () => {
  json = JSON.stringify(jsonObject);
});
let parsed: unknown;
const parseMs = time(RUNS, () => {
  parsed = JSON.parse(json);
});
if ((parsed as { dataFiles: unknown[] }).dataFiles.length !== N) throw new Error("JSON lost entries");
const jsonBytes = new TextEncoder().encode(json).length;
// The like-for-like cost: from a Manifest to JSON text and back to a Manifest.
const strFullMs = time(RUNS, () => {
  json = JSON.stringify(toJson(ManifestSchema, big));
});
const parseFullMs = time(RUNS, () => {
  parsed = fromJson(ManifestSchema, JSON.parse(json));
});

const mb = (n: number) => (n / 1e6).toFixed(2);
console.log(`\n## ${N.toLocaleString("en")}-entry manifest (median of ${RUNS} runs after a warm-up)\n`);
console.log("| format | bytes | gzip bytes | encode ms | decode ms | encode+decode ms |");
console.log("|---|---:|---:|---:|---:|---:|");
console.log(
  `| MRUB protobuf (encodeManifest/decodeManifest, path checks included) | ${mb(bin.length)} MB | ${mb(gzipSync(bin).length)} MB | ${encMs.toFixed(0)} | ${decMs.toFixed(0)} | ${(encMs + decMs).toFixed(0)} |`,
);
console.log(
  `| JSON (JSON.stringify/JSON.parse of the proto3 JSON object) | ${mb(jsonBytes)} MB | ${mb(gzipSync(json).length)} MB | ${strMs.toFixed(0)} | ${parseMs.toFixed(0)} | ${(strMs + parseMs).toFixed(0)} |`,
);
console.log(
  `| JSON with conversion (toJson + stringify / parse + fromJson: Manifest to Manifest) | ${mb(jsonBytes)} MB | ${mb(gzipSync(json).length)} MB | ${strFullMs.toFixed(0)} | ${parseFullMs.toFixed(0)} | ${(strFullMs + parseFullMs).toFixed(0)} |`,
);
console.log(`\nnode ${process.version}, ${process.platform} ${process.arch}`);
headline({
  "manifest entries": N,
  "MRUB encode+decode (ms)": round(encMs + decMs, 0),
  "JSON stringify+parse (ms)": round(strMs + parseMs, 0),
  "MRUB size (MB)": round(bin.length / 1e6),
});
