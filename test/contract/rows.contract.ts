/**
 * The logical rows of merutable tables written by tools not written here
 * (pyarrow, Java's RoaringBitmap, protoc: test/support/rows-fixture.ts)
 * equal DuckDB's rows under merutable's projection for outside readers, at
 * every version, in both layouts, read whole and a few rows a page (each
 * page after the last key of the one before); the row-level history
 * between versions equals the difference of DuckDB's rows, read whole and
 * in pages. Some files have pages of a few rows and page indexes (merutable
 * writes them), so reading part of a row group is proven too. Run by each
 * runtime (Node, Deno).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TableSchema } from "../../src/catalog/schema.ts";
import { openTable } from "../../src/catalog/table.ts";
import { compareBytes } from "../../src/rows/ikey.ts";
import { type RowChange, TableRows } from "../../src/rows/table-rows.ts";
import type { Value } from "../../src/rows/values.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { collect, type Harness } from "../support/harness.ts";
import { type FixtureValue, RowsFixture, type Tagged, tagRow } from "../support/rows-fixture.ts";

/** The tables of the proofs: each a schema, the text columns, and a history. */
export interface RowsScenario {
  name: string;
  fixture: (dv: boolean) => RowsFixture;
}

const col = (name: string, col_type: TableSchema["columns"][number]["col_type"], nullable = true) => ({
  name,
  col_type,
  nullable,
});

/** Composite key (text with U+0000, Int64 beyond 2^53 and negative), nulls, every kind of history. */
export const ORDERS: TableSchema = {
  table_name: "orders",
  columns: [
    col("region", "ByteArray", false),
    col("id", "Int64", false),
    col("customer", "ByteArray"),
    col("amount", "Double"),
    col("qty", "Int32", false),
    col("paid", "Boolean"),
    col("blob", "ByteArray"),
  ],
  primary_key: [0, 1],
};

const BIG = 2n ** 53n + 1n;
const order = (region: string, id: bigint, n: number): FixtureValue[] => [
  region,
  id,
  n % 5 === 0 ? null : `customer ${n}`,
  n % 4 === 0 ? null : n * 1.25,
  n,
  n % 3 === 0 ? null : n % 2 === 0,
  n % 6 === 0 ? null : Uint8Array.of(n & 0xff, 0, 0xff),
];

function ordersHistory(dv: boolean): RowsFixture {
  const fx = new RowsFixture(ORDERS, { stringColumns: ["region", "customer"] });
  const regions = ["eu", "eu\u0000west", "us", "", "ü"];
  const ids = [-BIG, -1n, 0n, 1n, 42n, BIG, 2n ** 62n];
  let n = 0;
  // v1: a flush with a key written three times within one file.
  const first = [];
  for (const r of regions) for (const id of ids) first.push({ put: order(r, id, ++n) });
  first.push({ put: order("eu", 1n, ++n) }, { put: order("eu", 1n, ++n) });
  fx.flush(first, { rowGroupSize: 4, pageRows: 2 });
  // v2: updates and deletes (tombstones carrying the old values) across files; a re-put of the same values.
  fx.flush(
    [
      { put: order("us", 42n, ++n) },
      { del: order("eu", 0n, 3) },
      { del: order("ü", BIG, 0) },
      { put: order("", -1n, 30) },
      { put: order("zz", 7n, ++n) },
    ],
    { rowGroupSize: 2, ...(dv ? { dvOver: ["data/L0/f1.parquet"] } : {}) },
  );
  const same = fx.current.get(JSON.stringify(tagRow(ORDERS, ["", -1n]).slice(0, 2))) ?? order("", -1n, 30);
  // v3: the same key re-put with the same values (no change), a deleted key put again, a delete of a key never there.
  fx.flush([{ put: same }, { put: order("eu", 0n, ++n) }, { del: order("nowhere", 5n, 0) }], {
    rowGroupSize: 1,
  });
  // v4: a compaction of the level-0 files into level 1 that keeps tombstones.
  fx.compact({ level: 1, rowGroupSize: 5, pageRows: 2 });
  // v5: more flushes above level 1.
  fx.flush([
    { put: order("eu", 1n, ++n) },
    { del: order("us", 2n ** 62n, 1) },
    { put: order("aa", 3n, ++n) },
  ]);
  // v6: deletes and re-puts in one file.
  fx.flush([{ del: order("aa", 3n, 0) }, { put: order("aa", 3n, ++n) }, { del: order("eu", 42n, 0) }], {
    ...(dv ? { dvOver: ["data/L0/f5.parquet"] } : {}),
  });
  // v7: a compaction of everything into the bottom level, tombstones dropped.
  fx.compact({ level: 2, dropTombstones: true, rowGroupSize: 3, pageRows: 1 });
  return fx;
}

/** Float and Double keys: negative, positive, tiny, huge, infinite; every row group of one row. */
export const FLOATS: TableSchema = {
  table_name: "floats",
  columns: [col("f", "Float", false), col("d", "Double", false), col("label", "ByteArray")],
  primary_key: [0, 1],
};

function floatsHistory(): RowsFixture {
  const fx = new RowsFixture(FLOATS, { stringColumns: ["label"] });
  const fs = [
    Number.NEGATIVE_INFINITY,
    -3.5,
    -1e-30,
    0,
    Math.fround(1e-30),
    1.5,
    Math.fround(3.4e38),
    Number.POSITIVE_INFINITY,
  ];
  const ds = [-Number.MAX_VALUE, -2.5, -5e-324, 0, 5e-324, 0.1, Number.MAX_VALUE];
  const ops = [];
  for (const f of fs)
    for (const d of ds) ops.push({ put: [Math.fround(f), d, `${f}/${d}`] as FixtureValue[] });
  fx.flush(ops, { rowGroupSize: 7, pageRows: 3 });
  fx.flush([{ del: [Math.fround(-3.5), 0.1, null] }, { put: [Math.fround(1.5), -2.5, "changed"] }]);
  fx.compact({ level: 1 });
  return fx;
}

/** Boolean, Int32 and FixedLenByteArray keys; binary and fixed-length values. */
export const KINDS: TableSchema = {
  table_name: "kinds",
  columns: [
    col("flag", "Boolean", false),
    col("n", "Int32", false),
    col("code", { FixedLenByteArray: 3 }, false),
    col("raw", "ByteArray"),
    col("tag", { FixedLenByteArray: 2 }),
  ],
  primary_key: [0, 1, 2],
};

function kindsHistory(): RowsFixture {
  const fx = new RowsFixture(KINDS);
  const ops = [];
  for (const flag of [true, false]) {
    for (const n of [-(2 ** 31), -7, 0, 9, 2 ** 31 - 1]) {
      ops.push({
        put: [
          flag,
          n,
          Uint8Array.of(0, n & 0xff, 0xff),
          Uint8Array.of(0, 1, 2),
          n % 2 ? null : Uint8Array.of(7, 8),
        ],
      });
    }
  }
  fx.flush(ops, { rowGroupSize: 3, pageRows: 2 });
  fx.flush([
    { del: [false, 0, Uint8Array.of(0, 0, 0xff), null, null] },
    { put: [true, 9, Uint8Array.of(0, 9, 0xff), null, null] },
  ]);
  return fx;
}

export const SCENARIOS: RowsScenario[] = [
  { name: "orders (composite text and Int64 key)", fixture: ordersHistory },
  { name: "floats (Float and Double key)", fixture: floatsHistory },
  { name: "kinds (Boolean, Int32, FixedLenByteArray key)", fixture: kindsHistory },
];

/** A row as the oracle prints it. */
function tagged(schema: TableSchema, values: readonly Value[]): Tagged[] {
  return tagRow(schema, values as FixtureValue[]);
}

/** The changes the oracle's rows at A and B imply, as sorted JSON lines. */
function expectedChanges(schema: TableSchema, a: Tagged[][], b: Tagged[][]): string[] {
  const keyOf = (r: Tagged[]) => JSON.stringify(schema.primary_key.map((i) => r[i]));
  const before = new Map(a.map((r) => [keyOf(r), r]));
  const after = new Map(b.map((r) => [keyOf(r), r]));
  const out: string[] = [];
  for (const [k, r] of after) {
    const old = before.get(k);
    if (!old) out.push(JSON.stringify(["insert", k, null, r]));
    else if (JSON.stringify(old) !== JSON.stringify(r)) out.push(JSON.stringify(["update", k, old, r]));
  }
  for (const [k, r] of before) if (!after.has(k)) out.push(JSON.stringify(["delete", k, r, null]));
  return out.sort();
}

function changeLines(schema: TableSchema, changes: RowChange[]): string[] {
  return changes
    .map((c) => {
      const row = (c.after ?? c.before) as Value[];
      const key = JSON.stringify(schema.primary_key.map((i) => tagged(schema, row)[i]));
      return JSON.stringify([
        c.op,
        key,
        c.before && tagged(schema, c.before),
        c.after && tagged(schema, c.after),
      ]);
    })
    .sort();
}

/**
 * Checks tidemark against DuckDB on `store` (the fixture written there):
 * the rows of every version, the history between neighbouring versions and
 * from the first to the last. Returns the number of versions checked.
 */
/** Rows (or changes) a page of the paged reads. */
const PAGE = 3;

export async function checkAgainstOracle(
  fx: RowsFixture,
  store: ObjectStore,
  oracle: Map<number, Tagged[][]>,
): Promise<number> {
  const t = new TableRows(await openTable(store));
  const schema = fx.schema;
  for (const [v, want] of oracle) {
    const r = await t.rows({ version: v });
    const rows = await collect(r.rows);
    assert.deepEqual(
      rows.map((x) => tagged(schema, x.values)),
      want,
      `version ${v}: tidemark's rows are DuckDB's`,
    );
    for (let i = 1; i < rows.length; i++) {
      assert.ok(
        compareBytes(
          (rows[i - 1] as { userKey: Uint8Array }).userKey,
          (rows[i] as { userKey: Uint8Array }).userKey,
        ) < 0,
      );
    }
    const paged: typeof rows = [];
    for (let after: Uint8Array | undefined; ; ) {
      const page = await collect(
        (await t.rows({ version: v, limit: PAGE, ...(after ? { after } : {}) })).rows,
      );
      paged.push(...page);
      if (page.length < PAGE) break;
      after = page[PAGE - 1]?.userKey;
    }
    assert.deepEqual(
      paged.map((x) => tagged(schema, x.values)),
      want,
      `version ${v}: tidemark's rows read ${PAGE} a page are DuckDB's`,
    );
  }
  const versions = [...oracle.keys()].sort((a, b) => a - b);
  const pairs: Array<[number, number]> = versions.slice(1).map((v, i) => [versions[i] as number, v]);
  if (versions.length > 2) pairs.push([versions[0] as number, versions[versions.length - 1] as number]);
  for (const [a, b] of pairs) {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const d = await t.diff(x, y);
      const changes = await collect(d.changes);
      assert.deepEqual(
        changeLines(schema, changes),
        expectedChanges(schema, oracle.get(x) as Tagged[][], oracle.get(y) as Tagged[][]),
        `diff ${x} -> ${y} is the difference of DuckDB's rows`,
      );
      for (let i = 1; i < changes.length; i++) {
        assert.ok(
          compareBytes((changes[i - 1] as RowChange).userKey, (changes[i] as RowChange).userKey) < 0,
          "in key order",
        );
      }
      const paged: RowChange[] = [];
      for (let after: Uint8Array | undefined; ; ) {
        const page = await collect(
          (await t.diff(x, y, { limit: PAGE, ...(after ? { after } : {}) })).changes,
        );
        paged.push(...page);
        if (page.length < PAGE) break;
        after = page[PAGE - 1]?.userKey;
      }
      assert.deepEqual(
        changeLines(schema, paged),
        changeLines(schema, changes),
        `diff ${x} -> ${y} in pages`,
      );
    }
  }
  return versions.length;
}

export interface RowsContractOptions {
  python: string | undefined;
  /** Java and RoaringBitmap are here (deletion-vector fixtures). */
  dv: boolean;
  /** The store over the directory a fixture was written to. */
  storeOf: (dir: string) => ObjectStore;
}

export function rowsContract(h: Harness, opts: RowsContractOptions): void {
  const { python } = opts;
  if (!python) return;
  for (const s of SCENARIOS) {
    for (const layout of ["posix", "object-store"] as const) {
      h.test(
        `${s.name}, ${layout} layout: rows at every version and the history between versions are DuckDB's`,
        async () => {
          const fx = s.fixture(opts.dv);
          const dir = mkdtempSync(join(tmpdir(), "tidemark-rows-"));
          fx.write(python, dir, layout);
          const n = await checkAgainstOracle(fx, opts.storeOf(dir), fx.oracle(python, dir));
          assert.equal(n, fx.versions.length);
        },
        { timeoutMs: 60_000 },
      );
    }
  }
}
