/**
 * A Deno script: make a table in one local directory, mirror it to another,
 * print the mirror's status. Run it from the repository:
 *
 *   deno run -A examples/deno-mirror.ts
 *
 * In your own project, install the package (`npm install tidemark`, with
 * `"nodeModulesDir": "manual"` in deno.json) and import from `"tidemark"` and
 * `"tidemark/node"` instead of the relative paths below.
 */
import { Catalog, Mirror, openMirror, verifyMirror } from "../src/index.ts";
import { FileStore } from "../src/node/index.ts";

declare const Deno: {
  makeTempDir(opts?: { prefix?: string }): Promise<string>;
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  args: string[];
};

const keep = Deno.args.includes("--keep");
const base = await Deno.makeTempDir({ prefix: "tidemark-example-" });
const source = new FileStore(`${base}/primary`);
const target = new FileStore(`${base}/mirror`);

// The primary: three commits. Data files go first, the manifest that names them last.
const table = await Catalog.open(source);
for (let i = 1; i <= 3; i++) {
  const path = `data/part-${i}.parquet`;
  const bytes = new TextEncoder().encode(`rows of part ${i}\n`.repeat(100 * i));
  await source.put(path, bytes, { mode: "create" });
  await table.commit({ add: [{ path, fileSize: bytes.length, numRows: 100 * i }] });
}

// The mirror: one pass catches up (use start() and shutdown() for a long-running loop).
const mirror = new Mirror({ source, target, parallelism: 4 });
await mirror.tick();
await mirror.shutdown();
const status = mirror.status();

const reader = openMirror(target);
const head = await reader.head();
const check = await verifyMirror(target);
console.log(`primary ${source.dir}: HEAD v${await table.head()}`);
console.log(`mirror  ${target.dir}: HEAD v${head}, files ${(await reader.files(head)).join(", ")}`);
console.log(
  `mirrored ${status.counters.snapshots} snapshots, ${status.counters.files} files, ${status.counters.bytes} bytes; caught up: ${status.caughtUp}; lag ${status.lagSeconds} s; verify: ${check.ok ? "ok" : "FAILED"}`,
);
// The last line is machine-readable (test/e2e/example.test.ts parses it).
console.log(JSON.stringify({ mirrorSeq: status.mirrorSeq, caughtUp: status.caughtUp, verified: check.ok }));

if (!keep) await Deno.remove(base, { recursive: true });
