/**
 * The full read of bench/rows.ts, in a process of its own that loads only
 * what a read of rows needs (as `tidemark rows` would): the rows of
 * version V of the table in DIR, counted; its time, its RSS once the
 * manifest is read (after a collection) and its peak RSS, and what it read,
 * as JSON on stdout.
 *
 *   node --expose-gc bench/rows-read.ts DIR V
 */
import { openTable } from "../src/catalog/table.ts";
import { FileStore } from "../src/node/fs-store.ts";
import { TableRows } from "../src/rows/table-rows.ts";

const [dir, v] = process.argv.slice(2);
const t = new TableRows(await openTable(new FileStore(dir as string)));
const version = Number(v);
await t.version(version);
globalThis.gc?.();
const idle = process.memoryUsage().rss;
const t0 = performance.now();
let n = 0;
for await (const _ of (await t.rows({ version })).rows) n++;
const ms = performance.now() - t0;
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ rows: n, ms, idle, peak, ...t.stats() }));
