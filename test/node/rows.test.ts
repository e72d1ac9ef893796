/**
 * A merutable table's logical rows (src/rows/): the rows contract on
 * directories (tables written by pyarrow, Java's RoaringBitmap and protoc,
 * checked against DuckDB), the key codec, deletion vectors against Java's
 * RoaringBitmap, what is refused as corrupt, key ranges and pages, the
 * requests a history and a page cost, and a fast-check property: random
 * histories equal DuckDB's rows at every version.
 * More property runs: TIDEMARK_ROWS_RUNS=200 npx vitest run test/node/rows.test.ts (npm run soak:rows).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, it } from "vitest";
import { openTable } from "../../src/catalog/table.ts";
import { errorCodeOf } from "../../src/errors.ts";
import { FileStore } from "../../src/node/fs-store.ts";
import { decodeDeletionVector } from "../../src/rows/deletion-vector.ts";
import { compareBytes, decodeUserKey, encodeUserKey, type KeyValue } from "../../src/rows/ikey.ts";
import { jsonValue } from "../../src/rows/json.ts";
import { parseKey } from "../../src/rows/key-input.ts";
import { diffRows, readRows, TableRows } from "../../src/rows/table-rows.ts";
import { HttpStore } from "../../src/store/http.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { metered } from "../../src/store/metered.ts";
import { checkAgainstOracle, FLOATS, ORDERS, rowsContract, SCENARIOS } from "../contract/rows.contract.ts";
import { serveBucket } from "../support/bucket-server.ts";
import { collect } from "../support/harness.ts";
import { interopPython } from "../support/interop.ts";
import { type FixtureValue, javaRoaring, RowsFixture, roaringJar, tagRow } from "../support/rows-fixture.ts";

const python = interopPython();
const dv = python !== undefined && javaRoaring();
const tmp = mkdtempSync(join(tmpdir(), "tidemark-rows-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

rowsContract(
  { test: (name, fn, o) => it(name, fn, o?.timeoutMs) },
  { python, dv, storeOf: (d) => new FileStore(d) },
);

/** A fixture written to a fresh directory, and its store. */
function written(fx: RowsFixture, layout: "posix" | "object-store" = "posix") {
  const dir = mkdtempSync(join(tmp, "t-"));
  fx.write(python as string, dir, layout);
  return { dir, store: new FileStore(dir) };
}

/** Copies a directory's files into a memory store (for counting requests without the disk). */
async function toMemory(dir: string, fx: RowsFixture): Promise<MemoryStore> {
  const m = new MemoryStore();
  for (const k of fx.keys("posix")) {
    try {
      await m.put(k, new Uint8Array(readFileSync(join(dir, k))));
    } catch {
      // a compacted-away file of a later version: absent is fine
    }
  }
  return m;
}

describe("the key codec", () => {
  const schemaOf = (t: "Int32" | "Int64" | "Float" | "Double" | "ByteArray" | "Boolean") => ({
    table_name: "k",
    columns: [{ name: "k", col_type: t, nullable: false }],
    primary_key: [0],
  });
  const cases: Array<
    [Parameters<typeof schemaOf>[0], fc.Arbitrary<KeyValue>, (a: KeyValue, b: KeyValue) => number]
  > = [
    ["Int32", fc.integer(), (a, b) => (a as number) - (b as number)],
    ["Int64", fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (a, b) => (a < b ? -1 : a > b ? 1 : 0)],
    [
      "Float",
      fc.float({ noNaN: true }),
      (a, b) => (Object.is(a, b) ? 0 : a === b ? (Object.is(a, -0) ? -1 : 1) : (a as number) - (b as number)),
    ],
    [
      "Double",
      fc.double({ noNaN: true }),
      (a, b) => (Object.is(a, b) ? 0 : a === b ? (Object.is(a, -0) ? -1 : 1) : (a as number) - (b as number)),
    ],
    ["ByteArray", fc.uint8Array({ maxLength: 6 }), (a, b) => compareBytes(a as Uint8Array, b as Uint8Array)],
    ["Boolean", fc.boolean(), (a, b) => Number(a) - Number(b)],
  ];
  for (const [type, arb, cmp] of cases) {
    it(`${type} keys round-trip exactly and their bytes sort as their values`, () => {
      const schema = schemaOf(type);
      fc.assert(
        fc.property(arb, arb, (a, b) => {
          const ea = encodeUserKey([a], schema);
          const eb = encodeUserKey([b], schema);
          const [back] = decodeUserKey(ea, schema);
          if (typeof a === "number") assert.ok(Object.is(back, a), `${a} came back as ${back}`);
          else assert.deepEqual(back, a);
          assert.equal(Math.sign(compareBytes(ea, eb)), Math.sign(cmp(a, b)));
        }),
        { numRuns: 300 },
      );
    });
  }

  it("1.0 as a Float key decodes as 1 (merutable's own decoder says 3.9999998)", () => {
    const schema = schemaOf("Float");
    const e = encodeUserKey([1], schema);
    assert.deepEqual([...e], [0xbf, 0x80, 0, 0]);
    assert.deepEqual(decodeUserKey(e, schema), [1]);
  });

  it("NaN, a wrong type and too many values are refused; garbage does not decode", () => {
    assert.equal(
      errorCodeOf(catching(() => encodeUserKey([Number.NaN], schemaOf("Double")))),
      "InvalidArgument",
    );
    assert.equal(errorCodeOf(catching(() => encodeUserKey(["1"], schemaOf("Int64")))), "InvalidArgument");
    assert.equal(errorCodeOf(catching(() => encodeUserKey([1, 2], schemaOf("Int32")))), "InvalidArgument");
    assert.equal(
      errorCodeOf(catching(() => decodeUserKey(Uint8Array.of(1, 2), schemaOf("Int32")))),
      "Corrupt",
    );
    assert.equal(
      errorCodeOf(catching(() => decodeUserKey(Uint8Array.of(1, 0, 7), schemaOf("ByteArray")))),
      "Corrupt",
    );
  });

  it("keys typed as JSON: a scalar, an array, a prefix, Int64 beyond 2^53 exact, bytes as base64", () => {
    assert.deepEqual(parseKey('["eu", 9007199254740993]', ORDERS), ["eu", 9007199254740993n]);
    assert.deepEqual(parseKey('"eu"', ORDERS), ["eu"]);
    assert.deepEqual(parseKey('[{"base64": "AAE="}]', ORDERS), [Uint8Array.of(0, 1)]);
    assert.deepEqual(parseKey("[1.5, -2]", FLOATS), [1.5, -2]);
    for (const bad of [
      "[1, 2, 3]",
      '["eu", 1.5]',
      '["eu", "1"]',
      "[",
      '["eu", 1] x',
      "[]",
      '["eu", 9223372036854775808]',
    ]) {
      assert.equal(errorCodeOf(catching(() => parseKey(bad, ORDERS, "--from-key"))), "InvalidArgument", bad);
    }
  });

  it("JSON values: Int64 a number up to 2^53 - 1, else a decimal string; bytes base64; floats shortest", () => {
    assert.equal(jsonValue(2n ** 53n - 1n), 2 ** 53 - 1);
    assert.equal(jsonValue(2n ** 53n), "9007199254740992");
    assert.equal(jsonValue(-(2n ** 60n)), "-1152921504606846976");
    assert.equal(jsonValue(Uint8Array.of(0, 255)), "AP8=");
    assert.equal(jsonValue(Math.fround(0.1), "Float"), 0.1);
    assert.equal(jsonValue(Number.NaN), "NaN");
  });
});

function catching(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe.skipIf(!dv)("deletion vectors written by Java's RoaringBitmap", () => {
  it("array, bitmap and run containers across several high keys decode to the same positions", () => {
    const sets: number[][] = [
      [],
      [0],
      [1, 5, 65535, 65536, 200000],
      Array.from({ length: 5000 }, (_, i) => i * 3), // a bitmap container
      Array.from({ length: 70000 }, (_, i) => i + 10), // runs
      Array.from({ length: 300 }, (_, i) => (i * 7919) % 1_000_000).sort((a, b) => a - b),
    ];
    const lines = sets.map((s, i) => `dv${i}.puffin\t${[...new Set(s)].join(",")}`).join("\n");
    const dir = mkdtempSync(join(tmp, "dv-"));
    const java = join(import.meta.dirname, "../support/DeletionVectors.java");
    const r = spawnSync("java", ["-cp", roaringJar(), java, dir], { input: `${lines}\n`, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    r.stdout
      .trim()
      .split("\n")
      .forEach((line, i) => {
        const [path, offset, length] = line.split("\t");
        const bytes = new Uint8Array(readFileSync(join(dir, path as string)));
        const blob = bytes.subarray(Number(offset), Number(offset) + Number(length));
        const v = decodeDeletionVector(blob, path as string);
        assert.deepEqual(
          [...v.positions],
          [...new Set(sets[i])].sort((a, b) => a - b),
          `set ${i}`,
        );
        // One bit flipped: the CRC catches it.
        const bad = blob.slice();
        bad[bad.length - 6] = (bad[bad.length - 6] as number) ^ 1;
        assert.equal(errorCodeOf(catching(() => decodeDeletionVector(bad, "x"))), "Corrupt");
      });
  });
});

describe.skipIf(!python)("rows: ranges, pages, requests, damage", () => {
  it("a key range, a prefix, a page after a key and a limit give the oracle's slices", async () => {
    const fx = SCENARIOS[0]?.fixture(dv) as RowsFixture;
    const { dir, store } = written(fx);
    const last = fx.versions.length;
    const want = fx.oracle(python as string, dir, [5]).get(5) as unknown[][];
    const t = new TableRows(await openTable(store));
    const all = await collect((await t.rows({ version: 5 })).rows);
    assert.equal(all.length, want.length);
    const keyOf = (i: number) => ORDERS.primary_key.map((k) => all[i]?.values[k]) as KeyValue[];
    const tags = (rows: typeof all) => rows.map((r) => tagRow(ORDERS, r.values as FixtureValue[]));
    for (const [i, j] of [
      [0, 3],
      [2, 9],
      [5, all.length - 1],
    ] as const) {
      const got = await collect((await t.rows({ version: 5, from: keyOf(i), to: keyOf(j) })).rows);
      assert.deepEqual(tags(got), want.slice(i, j), `[${i}, ${j})`);
    }
    const eu = await collect((await t.rows({ version: 5, from: ["eu"], to: ["eu\u0000"] })).rows);
    assert.ok(
      eu.length > 0 && eu.every((r) => r.values[0] === "eu"),
      "a prefix bounds the keys starting with it",
    );
    const page1 = await collect((await t.rows({ version: 5, limit: 4 })).rows);
    const page2 = await collect(
      (await t.rows({ version: 5, limit: 4, after: page1[3]?.userKey as Uint8Array })).rows,
    );
    assert.deepEqual(tags([...page1, ...page2]), want.slice(0, 8));
    assert.equal((await collect((await t.rows({ version: last, limit: 0 })).rows)).length, 0);
  }, 60_000);

  it("between neighbouring versions the history reads the new file and only the row groups of other files that hold its keys", async () => {
    // 2,000 keys in level 1 (row groups of 100), then a flush touching 20 keys (1%).
    const fx = new RowsFixture(ORDERS, { stringColumns: ["region", "customer"] });
    const puts = Array.from({ length: 2000 }, (_, i) => ({ put: rowOf(BigInt(i * 10), i) }));
    fx.flush(puts);
    fx.compact({ level: 1, rowGroupSize: 100 });
    fx.flush(Array.from({ length: 20 }, (_, i) => ({ put: rowOf(BigInt(i * 10 + 5000), 7) })));
    const { dir } = written(fx);
    const mem = await toMemory(dir, fx);
    const m = metered(mem);
    const t = new TableRows(await openTable(m), { footerBytes: 8 * 1024 });
    m.reset();
    const changes = await collect((await t.diff(2, 3)).changes);
    assert.equal(changes.length, 20);
    const s = t.stats();
    // Ids 5000..5190 (the table holds 0, 10, .., 19990: updates and inserts): the new file, the
    // level-1 file's footer and, of its 20 row groups (group g holds ids 1000g..1000g+990), group 5.
    assert.ok(changes.every((c) => c.op === "update" || c.op === "insert"));
    assert.deepEqual([s.footers, s.rowGroups], [2, 1 + 1]);
    assert.ok(s.requests <= 4, `${s.requests} requests`);
    let tableBytes = 0;
    for (const p of fx.filesOf(3)) tableBytes += (await mem.head(p)).size;
    // A small table: the level-1 footer (20 row groups) is most of what is read; bench/rows.ts has the 1,000,000-row figure.
    assert.ok(s.bytesRead < tableBytes / 3, `${s.bytesRead} bytes read of ${tableBytes}`);
  }, 60_000);

  it("a page of 100 rows from the middle over HTTP: one request per row group it overlaps, none for footers already read", async () => {
    const fx = new RowsFixture(ORDERS, { stringColumns: ["region", "customer"] });
    fx.flush(Array.from({ length: 3000 }, (_, i) => ({ put: rowOf(BigInt(i), i) })));
    fx.compact({ level: 1, rowGroupSize: 250 });
    fx.flush(
      Array.from({ length: 300 }, (_, i) => ({ put: rowOf(BigInt(i * 10), 3) })),
      { rowGroupSize: 50 },
    );
    const { dir } = written(fx);
    const server = await serveBucket(await toMemory(dir, fx));
    try {
      const http = metered(new HttpStore(server.url));
      const t = new TableRows(await openTable(http), { footerBytes: 16 * 1024 });
      const page = await collect((await t.rows({ version: 3, from: ["eu", 1500n], limit: 100 })).rows);
      assert.deepEqual(
        page.map((r) => r.values[1]),
        Array.from({ length: 100 }, (_, i) => BigInt(1500 + i)),
      );
      // Keys 1500..1599: in level 1 row group 6 (keys 1500..1749); in level 0 (keys 0, 10, .., 2990
      // by 50) row group 3 (1500..1990). Two footers, two row groups, at most a request each (the
      // level-0 file's tail read may hold its row group).
      const first = t.stats();
      assert.deepEqual([first.footers, first.rowGroups], [2, 2]);
      assert.ok(first.requests <= 4, `${first.requests} requests`);
      const gets = http.counts().get;
      const next = await collect(
        (await t.rows({ version: 3, after: page[99]?.userKey as Uint8Array, limit: 100 })).rows,
      );
      assert.equal(next[0]?.values[1], 1600n);
      const second = t.stats();
      // The next page goes on where the first ended: its row groups are held, nothing is read.
      assert.deepEqual([second.footers, second.rowGroups - first.rowGroups], [2, 0]);
      assert.equal(second.requests - first.requests, 0);
      assert.equal(http.counts().get - gets, second.requests - first.requests, "no manifest read again");
    } finally {
      await server.close();
    }
  }, 60_000);

  it("a file that is not what the manifest says is Corrupt: a key column that disagrees with the internal key, a damaged deletion vector, a short file", async () => {
    const fx = new RowsFixture(FLOATS, { stringColumns: ["label"] });
    fx.flush([{ put: [1.5, 2.5, "a"] }, { put: [2.5, 3.5, "b"] }]);
    if (dv) fx.flush([{ put: [1.5, 2.5, "c"] }], { dvOver: ["data/L0/f1.parquet"] });
    const { dir } = written(fx);
    const mem = await toMemory(dir, fx);
    const ok = await collect((await readRows(mem)).rows);
    assert.equal(ok.length, 2);
    // Swap the typed key columns' values behind the ikey's back: another pyarrow file at the same path.
    const liar = new RowsFixture(FLOATS, { stringColumns: ["label"] });
    liar.flush([{ put: [1.5, 2.5, "a"] }, { put: [2.5, 3.5, "b"] }]);
    const ldir = mkdtempSync(join(tmp, "liar-"));
    liar.write(python as string, ldir);
    const bytes = readFileSync(join(ldir, "data/L0/f1.parquet"));
    // The label column is not a key: flip a byte of the f column's plain values instead (1.5 -> another float).
    const at = bytes.indexOf(Buffer.from([0, 0, 0xc0, 0x3f]));
    if (at > 0) {
      const copy = new Uint8Array(bytes);
      copy[at + 3] = 0x40;
      writeFileSync(join(ldir, "data/L0/f1.parquet"), copy);
      const e = await collect((await readRows(new FileStore(ldir), { version: 1 })).rows).catch(
        (x: unknown) => x,
      );
      assert.equal(errorCodeOf(e), "Corrupt");
      assert.match((e as Error).message, /key column f holds .*its _merutable_ikey says 1\.5/);
    }
    if (dv) {
      const live = fx.versions[1]?.find((r) => r.dv);
      const puffin = live?.dv?.path as string;
      const blob = await (await mem.get(puffin)).bytes();
      blob[4 + 12] = (blob[4 + 12] as number) ^ 0x10; // inside the blob (it starts at byte 4)
      await mem.put(puffin, blob);
      const e = await readRows(mem).catch((x: unknown) => x);
      assert.equal(errorCodeOf(e), "Corrupt");
    }
    const short = await toMemory(dir, fx);
    const f2 = await (await short.get("data/L0/f1.parquet")).bytes();
    await short.put("data/L0/f1.parquet", f2.subarray(0, f2.length - 100));
    const e2 = await collect((await readRows(short, { version: 1 })).rows).catch((x: unknown) => x);
    assert.equal(errorCodeOf(e2), "Corrupt");
  }, 60_000);

  it("a version without merutable's schema is NotSupported; an empty table NotFound; a bad limit InvalidArgument", async () => {
    const { Catalog } = await import("../../src/catalog/catalog.ts");
    const s = new MemoryStore();
    assert.equal(errorCodeOf(await readRows(s).catch((e: unknown) => e)), "NotFound");
    const c = await Catalog.open(s);
    await c.commit({ add: [{ path: "data/a.parquet", fileSize: 10, numRows: 1 }] });
    assert.equal(errorCodeOf(await readRows(s).catch((e: unknown) => e)), "NotSupported");
    assert.equal(errorCodeOf(await readRows(s, { limit: -1 }).catch((e: unknown) => e)), "InvalidArgument");
    assert.equal(errorCodeOf(await diffRows(s, 0, 1).catch((e: unknown) => e)), "InvalidArgument");
  });
});

function rowOf(id: bigint, n: number): FixtureValue[] {
  return ["eu", id, `c${n}`, n * 0.5, n, n % 2 === 0, null];
}

/** The property's runs: few in CI (its cost), more with TIDEMARK_ROWS_RUNS. */
const RUNS = Number(process.env.TIDEMARK_ROWS_RUNS ?? 4);

describe.skipIf(!python)("property: random histories", () => {
  type Op =
    | { kind: "put"; key: number; n: number }
    | { kind: "del"; key: number }
    | { kind: "flush"; groups: number; pages: number; dv: boolean }
    | { kind: "compact"; drop: boolean; partial: boolean; pages: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant("put" as const),
        key: fc.integer({ min: -6, max: 12 }),
        n: fc.integer({ min: 0, max: 9 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("del" as const), key: fc.integer({ min: -6, max: 12 }) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("flush" as const),
        groups: fc.integer({ min: 1, max: 4 }),
        // Rows per page with page indexes (0: pyarrow's defaults, no page index).
        pages: fc.integer({ min: 0, max: 3 }),
        dv: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("compact" as const),
        drop: fc.boolean(),
        partial: fc.boolean(),
        pages: fc.integer({ min: 0, max: 3 }),
      }),
    },
  );

  it(`random puts, updates, deletes, flushes and compactions, written by pyarrow: tidemark equals DuckDB at every version (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 4, maxLength: 40 }),
        fc.constantFrom("posix", "object-store"),
        async (ops, layout) => {
          const fx = new RowsFixture(ORDERS, { stringColumns: ["region", "customer"] });
          let pending: Array<{ put: FixtureValue[] } | { del: FixtureValue[] }> = [];
          const key = (k: number): [string, bigint] => [
            k % 3 === 0 ? "eu\u0000" : "us",
            BigInt(k) * 2n ** 52n,
          ];
          for (const o of ops) {
            if (o.kind === "put")
              pending.push({
                put: [...key(o.key), o.n % 3 ? `c${o.n}` : null, o.n / 4, o.n, o.n % 2 === 0, null],
              });
            else if (o.kind === "del") {
              const [r, id] = key(o.key);
              const old = [...fx.current.values()].find((v) => v[0] === r && v[1] === id);
              pending.push({ del: old ?? [r, id, null, null, 0, null, null] });
            } else if (o.kind === "flush" && pending.length > 0) {
              const l0 = fx.live.filter((x) => x.path.includes("/L0/")).map((x) => x.path);
              fx.flush(pending, {
                rowGroupSize: Math.max(1, Math.ceil(pending.length / o.groups)),
                ...(o.pages ? { pageRows: o.pages } : {}),
                ...(o.dv && dv && l0.length > 0 ? { dvOver: l0.slice(0, 1) } : {}),
              });
              pending = [];
            } else if (o.kind === "compact" && fx.live.length > 1) {
              const inputs = o.partial
                ? fx.live.slice(0, Math.ceil(fx.live.length / 2)).map((x) => x.path)
                : undefined;
              fx.compact({
                ...(inputs ? { inputs } : {}),
                dropTombstones: o.drop && !inputs,
                rowGroupSize: 3,
                ...(o.pages ? { pageRows: o.pages } : {}),
              });
            }
          }
          if (pending.length > 0) fx.flush(pending);
          const { dir, store } = written(fx, layout);
          await checkAgainstOracle(fx, store, fx.oracle(python as string, dir));
        },
      ),
      { numRuns: RUNS, seed: Number(process.env.TIDEMARK_ROWS_SEED ?? 23), endOnFailure: true },
    );
  }, 600_000);
});
