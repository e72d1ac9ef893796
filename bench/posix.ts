/**
 * merutable's primary (the posix layout) as a mirror source, counted in
 * requests with `metered` (memory stores: the request counts are what S3 and
 * R2 bill; the times are not storage times):
 *
 * 1. the first mirror of a primary with 200 versions, an L0 flush each and a
 *    compaction every 10th whose replaced files merutable's GC deleted (so
 *    180 versions are `files-gone` gaps): requests on source and target;
 * 2. 100 idle ticks afterwards: requests per idle poll;
 * 3. a restore of the mirror's HEAD into an empty store.
 *
 *   npx node bench/posix.ts [--versions N]
 */
import { parseArgs } from "node:util";
import {
  MemoryStore,
  Mirror,
  metered,
  parseNumberOption,
  type RequestCounts,
  restore,
} from "../src/index.ts";
import { PosixPrimary } from "../test/support/posix-fixture.ts";
import { headline } from "./result.ts";

const { values } = parseArgs({ options: { versions: { type: "string" } } });
const versions = parseNumberOption("--versions", values.versions, 200, { min: 10 });

const requests = (c: RequestCounts) => c.readClass + c.writeClass;
const show = (c: RequestCounts) =>
  `GET ${c.get}, HEAD ${c.head}, PUT ${c.put}, LIST ${c.list}, DELETE ${c.delete + c.deleteMany}`;

const source = new MemoryStore();
const primary = new PosixPrimary(source);
let l0: string[] = [];
for (let v = 1; v <= versions; v++) {
  if (v % 10 === 0) {
    await primary.commit([{ path: `data/L1/c${v}.parquet`, size: 50 }], l0);
    await primary.gc(l0);
    l0 = [];
  } else {
    const path = `data/L0/f${v}.parquet`;
    await primary.commit([{ path, size: 20 }]);
    l0.push(path);
  }
}

const src = metered(source);
const dst = metered(new MemoryStore());
const mirror = new Mirror({ source: src, target: dst });
let t0 = performance.now();
await mirror.tick();
const s = mirror.status();
const gapped = s.gaps.reduce((n, g) => n + g.to - g.from + 1, 0);
console.log(
  `1. first mirror of ${versions} versions: mirrorSeq ${s.mirrorSeq}, ${s.counters.snapshots} mirrored, ${gapped} files-gone gap versions, ${(performance.now() - t0).toFixed(0)} ms`,
);
console.log(`   source: ${show(src.counts())}`);
const firstSource = requests(src.counts());
console.log(`   target: ${show(dst.counts())}`);

src.reset();
dst.reset();
const idle = 100;
for (let i = 0; i < idle; i++) await mirror.tick();
console.log(`2. ${idle} idle ticks: source ${show(src.counts())}; target ${show(dst.counts())}`);
headline({
  versions,
  "first mirror: source requests": firstSource,
  "requests per idle tick": (requests(src.counts()) + requests(dst.counts())) / idle,
});

dst.reset();
const to = metered(new MemoryStore());
t0 = performance.now();
const r = await restore({ from: dst, to });
console.log(
  `3. restore of v${r.version} (${r.versions.length} manifest(s), ${r.files} files): mirror ${show(dst.counts())}; target ${show(to.counts())}; ${(performance.now() - t0).toFixed(0)} ms`,
);
