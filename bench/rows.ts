/**
 * A merutable table's logical rows (src/rows/) at scale, against DuckDB:
 *
 * 1. a full read of a 1,000,000-row table of 20 files (4 at level 1, 16
 *    level-0 flushes updating 20% of the keys and deleting 5%; written by
 *    pyarrow as merutable's writer writes its files: row groups and pages by
 *    level, page indexes, encodings, the level-0 row blob, the footer's
 *    bloom filter; test/support/merutable_parquet.py, bench-table): tidemark's
 *    rows/s and peak RSS above idle (a child process each), and DuckDB's
 *    time for merutable's projection for outside readers over the same files
 *    (rows fetched as Arrow, in key order), side by side, alternating rounds,
 *    each round's ratio and the load average with it;
 * 2. the row-level history between neighbouring versions for a flush
 *    touching 1% of the keys: random keys (the table's last flush), and a
 *    contiguous 1% (one more version after it): requests, bytes read, and
 *    their share of the table's bytes;
 * 3. one page of 100 rows from the middle of the table over HTTP (a local
 *    bucket server, HttpStore): requests (for footers and page indexes, for
 *    the pages of the row groups it overlaps), bytes; then the next page;
 * 4. the same page as the browser inspector reads it (its code,
 *    worker/public/rows-reader.ts: Range requests with fetch), the requests
 *    counted by the bucket server; then the next page.
 *
 *   npx node bench/rows.ts [--rows N] [--rounds N]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { TableSchema } from "../src/catalog/schema.ts";
import { openTable } from "../src/catalog/table.ts";
import { FileStore } from "../src/node/fs-store.ts";
import { parseNumberOption } from "../src/options.ts";
import type { ReadStats } from "../src/rows/table-files.ts";
import { TableRows } from "../src/rows/table-rows.ts";
import { HttpStore } from "../src/store/http.ts";
import { serveBucket } from "../test/support/bucket-server.ts";
import { interopPython } from "../test/support/interop.ts";
import {
  commitManifest,
  factsOf,
  type HelperFile,
  type ManifestEntryText,
  runHelper,
} from "../test/support/rows-fixture.ts";
import { httpTableRows, type PageCost, PageReader } from "../worker/public/rows-reader.ts";
import { headline, round } from "./result.ts";

const SCHEMA: TableSchema = {
  table_name: "bench",
  columns: [
    { name: "id", col_type: "Int64", nullable: false },
    { name: "customer", col_type: "ByteArray", nullable: true },
    { name: "amount", col_type: "Double", nullable: true },
    { name: "qty", col_type: "Int32", nullable: false },
    { name: "paid", col_type: "Boolean", nullable: true },
  ],
  primary_key: [0],
};

const { values } = parseArgs({
  options: { rows: { type: "string" }, rounds: { type: "string" } },
});

const rows = parseNumberOption("--rows", values.rows, 1_000_000, { min: 1000 });
const mib = (n: number) => (n / 2 ** 20).toFixed(2);
const rounds = parseNumberOption("--rounds", values.rounds, 3, { min: 1, max: 20 });
const python = interopPython();
if (!python) {
  console.error("bench/rows.ts needs pyarrow and duckdb (see test/support/interop.ts)");
  process.exit(process.env.CI === "true" ? 1 : 0);
}

const dir = mkdtempSync(join(tmpdir(), "tidemark-bench-rows-"));
try {
  const t0 = performance.now();
  const versions = runHelper(python, "bench-table", {
    root: dir,
    rows,
    l1_files: 4,
    l0_files: 16,
    updated: Math.round(rows * 0.2),
    deleted: Math.round(rows * 0.05),
    last_flush: Math.round(rows * 0.01),
    clustered_flush: Math.round(rows * 0.01),
  }) as Array<{ add: HelperFile[] }>;
  const live: ManifestEntryText[] = [];
  versions.forEach((v, i) => {
    for (const f of v.add) {
      live.push({ path: f.path, level: f.path.includes("/L1/") ? 1 : 0, ...factsOf(f) });
    }
    commitManifest(dir, i + 1, "posix", SCHEMA, live);
  });
  // The table of the full read and the page: the 20 files (the clustered flush comes after).
  const head = versions.length - 1;
  const twenty = live.slice(0, -1);
  const tableBytes = twenty.reduce((n, f) => n + f.size, 0);
  const physical = twenty.reduce((n, f) => n + f.rows, 0);
  console.log(
    `table: ${twenty.length} files (${twenty.filter((f) => f.level === 1).length} at level 1), ${physical} physical rows, ` +
      `${(tableBytes / 2 ** 20).toFixed(1)} MiB, v${head}; written by pyarrow in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // 1. Full read: tidemark (a child per round) and DuckDB, alternating.
  const tidemark: Array<{
    rows: number;
    ms: number;
    idle: number;
    peak: number;
    requests: number;
    bytesRead: number;
  }> = [];
  const duck: Array<{ rows: number; ms: number }> = [];
  const files = twenty.map((f) => join(dir, f.path));
  const duckScript = `
import duckdb, json, sys, time
files = json.loads(sys.argv[1])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
r = con.execute("SELECT id, customer, amount, qty, paid FROM read_parquet(?) QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _merutable_seq DESC) = 1 AND _merutable_op = 1 ORDER BY _merutable_ikey", [files])
t = r.to_arrow_table() if hasattr(r, "to_arrow_table") else r.fetch_arrow_table()
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"rows": t.num_rows, "ms": ms, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))
`;
  let threads = 0;
  for (let r = 0; r < rounds; r++) {
    const c = spawnSync(
      process.execPath,
      ["--expose-gc", join(import.meta.dirname, "rows-read.ts"), dir, String(head)],
      { encoding: "utf8" },
    );
    if (c.status !== 0) throw new Error(`tidemark child failed: ${c.stderr}`);
    tidemark.push(JSON.parse(c.stdout));
    const d = spawnSync(python, ["-c", duckScript, JSON.stringify(files)], {
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    if (d.status !== 0) throw new Error(`duckdb failed: ${d.stderr}`);
    const got = JSON.parse(d.stdout) as { rows: number; ms: number; threads: number };
    threads = got.threads;
    duck.push(got);
    const t = tidemark[r] as (typeof tidemark)[number];
    console.log(
      `  round ${r + 1} (load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(
          " ",
        )}): tidemark ${t.rows} rows in ${t.ms.toFixed(0)} ms, peak RSS ${((t.peak - t.idle) / 2 ** 20).toFixed(1)} MiB above idle; ` +
        `duckdb ${got.rows} rows in ${got.ms.toFixed(0)} ms; ratio ${(t.ms / got.ms).toFixed(2)}x`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const tMs = median(tidemark.map((x) => x.ms));
  const dMs = median(duck.map((x) => x.ms));
  const ratios = tidemark.map((x, i) => x.ms / (duck[i]?.ms ?? Number.NaN));
  const rss = tidemark.map((x) => (x.peak - x.idle) / 2 ** 20);
  const above = median(rss);
  if (tidemark.some((x) => x.rows !== duck[0]?.rows))
    throw new Error("tidemark and duckdb disagree on the row count");
  const logical = tidemark[0]?.rows ?? 0;
  console.log(
    `\n1. full read of ${logical} rows (${physical} physical), median of ${rounds} alternating rounds:`,
  );
  console.log(
    `   tidemark: ${tMs.toFixed(0)} ms, ${Math.round(logical / (tMs / 1000))} rows/s, peak RSS ${above.toFixed(1)} MiB above idle`,
  );
  console.log(`   duckdb (${threads} threads, rows fetched as Arrow): ${dMs.toFixed(0)} ms`);
  console.log(
    `   ratio tidemark / duckdb, per round: ${Math.min(...ratios).toFixed(2)}x to ${Math.max(...ratios).toFixed(2)}x, median ${median(ratios).toFixed(2)}x (goal: at most 4x); ` +
      `peak RSS above idle ${Math.min(...rss).toFixed(1)} to ${Math.max(...rss).toFixed(1)} MiB (goal: at most 64 MiB)`,
  );

  // 2. History between neighbouring versions: a flush of 1% of the keys, random, then contiguous.
  const history = async (a: number, b: number, what: string) => {
    const table = new TableRows(await openTable(new FileStore(dir)));
    await table.version(a);
    await table.version(b);
    const t1 = performance.now();
    let changes = 0;
    for await (const _ of (await table.diff(a, b)).changes) changes++;
    const ms = performance.now() - t1;
    const s = table.stats();
    // Version v holds the 4 level-1 files and v - 1 flushes.
    const bytes = live.slice(0, b + 3).reduce((n, f) => n + f.size, 0);
    console.log(
      `   ${what} (v${a} -> v${b}): ${changes} changed keys in ${ms.toFixed(0)} ms; ${s.requests} requests ` +
        `(${s.footerRequests} for ${s.footers} footers and page indexes), ` +
        `${(s.bytesRead / 2 ** 20).toFixed(2)} MiB read = ${((s.bytesRead / bytes) * 100).toFixed(1)}% of the table's ` +
        `${(bytes / 2 ** 20).toFixed(1)} MiB; ${s.rowGroups} row groups read from`,
    );
    return { ...s, share: s.bytesRead / bytes };
  };
  console.log("\n2. row-level history between neighbouring versions (goal: under 10% of the table's bytes):");
  const random = await history(head - 1, head, "a flush of 1% random keys");
  const clustered = await history(head, head + 1, "a flush of a contiguous 1% of the keys");

  // 3. A page of 100 rows from the middle, over HTTP.
  const server = await serveBucket(new FileStore(dir));
  let page: ReadStats & { next: number; nextBytes: number };
  let inspector: Record<"first" | "next", PageCost & { served: number }>;
  try {
    const t = new TableRows(await openTable(new HttpStore(server.url)));
    await t.version(head);
    const got = [];
    for await (const r of (await t.rows({ version: head, from: [BigInt(Math.floor(rows / 2))], limit: 100 }))
      .rows)
      got.push(r);
    const first = t.stats();
    let n = 0;
    for await (const _ of (await t.rows({ version: head, after: got[99]?.userKey as Uint8Array, limit: 100 }))
      .rows)
      n++;
    const after = t.stats();
    page = { ...first, next: after.requests - first.requests, nextBytes: after.bytesRead - first.bytesRead };
    console.log(
      `\n3. one page of 100 rows from key ${Math.floor(rows / 2)} over HTTP: ${first.requests} requests ` +
        `(${first.footerRequests} for ${first.footers} footers and page indexes, ${first.requests - first.footerRequests} ` +
        `for the pages of the ${first.rowGroups} row groups it overlaps), ${mib(first.bytesRead)} MiB; ` +
        `the next page (${n} rows): ${page.next} requests, ${mib(page.nextBytes)} MiB`,
    );

    // 4. The same page as the inspector reads it in a browser, counted at the server.
    const served = () =>
      [...server.requests].filter(([k]) => k.startsWith("data/")).reduce((n, [, c]) => n + c, 0);
    const reader = new PageReader(
      httpTableRows(await openTable(new HttpStore(server.url)), async (key) => new URL(key, server.url).href),
    );
    let before = served();
    const one = await reader.rowsPage({ version: head, from: [BigInt(Math.floor(rows / 2))] });
    const oneServed = served() - before;
    before = served();
    const two = await reader.rowsPage({ version: head, after: one.rows.at(-1)?.userKey as Uint8Array });
    const twoServed = served() - before;
    inspector = { first: { ...one.cost, served: oneServed }, next: { ...two.cost, served: twoServed } };
    const said = (c: PageCost, served: number) =>
      `${served} requests at the server (${c.footerRequests} for ${c.footers} footers, ` +
      `${c.requests - c.footerRequests} for pages of ${c.rowGroups} row groups), ${mib(c.bytesRead)} MiB`;
    console.log(
      `\n4. the inspector's page of ${one.rows.length} rows from key ${Math.floor(rows / 2)} (its code, counted by the server): ` +
        `${said(one.cost, oneServed)}; the next page (${two.rows.length} rows): ${said(two.cost, twoServed)} ` +
        `(goal: at most 1 request per overlapping row group, 0 for footers already read)`,
    );
  } finally {
    await server.close();
  }

  headline({
    "logical rows": logical,
    "tidemark ms": round(tMs, 0),
    "duckdb ms": round(dMs, 0),
    "tidemark rows/s": Math.round(logical / (tMs / 1000)),
    "time ratio, median of rounds (goal <= 4)": round(median(ratios)),
    "time ratio, worst round": round(Math.max(...ratios)),
    "peak RSS above idle MiB, median (goal <= 64)": round(above, 1),
    "peak RSS above idle MiB, worst round": round(Math.max(...rss), 1),
    "diff 1% random keys: requests": random.requests,
    "diff 1% random keys: bytes share %": round(random.share * 100, 1),
    "diff 1% contiguous keys: requests": clustered.requests,
    "diff 1% contiguous keys: bytes share % (goal < 10)": round(clustered.share * 100, 1),
    "diff 1% contiguous keys: MiB": round(clustered.bytesRead / 2 ** 20, 2),
    "page of 100: requests": page.requests,
    "page of 100: requests for footers and page indexes": page.footerRequests,
    "page of 100: row groups read from": page.rowGroups,
    "page of 100: MiB": round(page.bytesRead / 2 ** 20, 2),
    "next page: requests": page.next,
    "next page: MiB": round(page.nextBytes / 2 ** 20, 2),
    "inspector page: requests at the server": inspector.first.served,
    "inspector page: requests for rows": inspector.first.requests - inspector.first.footerRequests,
    "inspector page: row groups read from": inspector.first.rowGroups,
    "inspector page: MiB": round(inspector.first.bytesRead / 2 ** 20, 2),
    "inspector next page: requests at the server": inspector.next.served,
    "inspector next page: MiB": round(inspector.next.bytesRead / 2 ** 20, 2),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
