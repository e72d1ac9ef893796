/**
 * The Iceberg view of a mirror (src/iceberg/), read by readers no one on the
 * project wrote: icebird (npm) reads every version's snapshot over loopback
 * HTTP and gets DuckDB's rows (merutable's projection for outside readers
 * over the same files) on the rows fixtures (multi-version keys, tombstones,
 * deletion vectors, compactions, Int64 beyond 2^53, composite, text, float
 * and fixed keys); fastavro reads every manifest list and manifest, pyarrow
 * every position-delete file (test/support/iceberg_check.py); DuckDB says
 * which rows `TableRows.classify` must keep. A view made by a mirror tick by
 * tick and one made afterwards by `tidemark iceberg` are the same bytes;
 * a crash at every write of the view, and at every write of a mirror with a
 * view, leaves a view the next run completes, never a snapshot whose files
 * are missing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { icebergRead } from "icebird";
import { afterAll, describe, it } from "vitest";
import { Catalog } from "../../src/catalog/catalog.ts";
import { openTable } from "../../src/catalog/table.ts";
import { runCli } from "../../src/cli/main.ts";
import { errorCodeOf, TidemarkError } from "../../src/errors.ts";
import { decodeAvroFile, encodeAvroFile } from "../../src/iceberg/avro.ts";
import { IcebergView, updateIcebergView } from "../../src/iceberg/view.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { verifyMirror } from "../../src/mirror/reader.ts";
import { FileStore } from "../../src/node/fs-store.ts";
import { restore } from "../../src/restore/restore.ts";
import { TableRows } from "../../src/rows/table-rows.ts";
import { faulty } from "../../src/store/faulty.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { SCENARIOS } from "../contract/rows.contract.ts";
import { serveBucket } from "../support/bucket-server.ts";
import { collect } from "../support/harness.ts";
import { COMEBACK_VERSIONS, writeComebackTable } from "../support/iceberg-fixtures.ts";
import { interopPython } from "../support/interop.ts";
import {
  type FixtureValue,
  javaRoaring,
  type RowsFixture,
  type Tagged,
  tagRow,
} from "../support/rows-fixture.ts";
import { SIM_SCHEMA, simDataFile } from "../support/sim-files.ts";

const python = interopPython();
const dv = python !== undefined && javaRoaring();
const tmp = mkdtempSync(join(tmpdir(), "tidemark-iceberg-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const checker = join(import.meta.dirname, "../support/iceberg_check.py");

/** fastavro is in the interop virtualenv (`.ci/run` installs it): a failure under CI=true, else a loud skip. */
const fastavro = (() => {
  if (python === undefined) return false;
  if (spawnSync(python, ["-c", "import fastavro"]).status === 0) return true;
  const why = `fastavro is missing: ${python} -m pip install --retries 0 --timeout 2 fastavro`;
  if (process.env.CI === "true") throw new Error(`CI=true and ${why}`);
  console.warn(`\n!!! SKIPPING the fastavro checks of the Iceberg view: ${why} !!!\n`);
  return false;
})();

function runChecker(command: string, input: unknown): unknown {
  if (command === "view" && !fastavro) {
    return {
      metadata: -1,
      manifest_lists: 0,
      manifests: 0,
      data_files: 0,
      delete_files: 0,
      deletes: 0,
      errors: [],
    };
  }
  const r = spawnSync(python as string, [checker, command], {
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`iceberg_check.py ${command} failed: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout);
}

/** A store whose puts are recorded (key, in order). */
function recordingPuts(store: ObjectStore): { store: ObjectStore; puts: string[] } {
  const puts: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "put") {
        return (key: string, ...rest: unknown[]) => {
          puts.push(key);
          return (target.put as (...a: unknown[]) => unknown)(key, ...rest);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { store: wrapped, puts };
}

/**
 * A process that crashes at its `k`-th write: that write and every request
 * after it fail (`Transient`), none takes effect. `writes()` counts the puts.
 */
function crashAtWrite(store: ObjectStore, k: number): { store: ObjectStore; writes: () => number } {
  let n = 0;
  let crashed = false;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (
        typeof v !== "function" ||
        !["get", "head", "put", "delete", "deleteMany", "list"].includes(String(prop))
      ) {
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (...args: unknown[]) => {
        if (prop === "put" && ++n >= k) crashed = true;
        if (crashed) {
          const e = new TidemarkError("Transient", `injected crash at write ${k}`);
          if (prop === "list") {
            return (async function* () {
              yield* [];
              throw e;
            })();
          }
          return Promise.reject(e);
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, writes: () => n };
}

/**
 * What icebird reads at every version (its metadata file) equals DuckDB's
 * rows. icebird (hyparquet) reads a binary column as text: a binary value is
 * compared as what it reads, the bytes decoded as UTF-8.
 */
async function assertIcebirdReadsOracle(
  fx: RowsFixture,
  tableUrl: string,
  oracle: Map<number, Tagged[][]>,
  binary: Set<number>,
): Promise<void> {
  const asRead = (t: Tagged, i: number): Tagged =>
    binary.has(i) && t !== null && "x" in t
      ? {
          s: new TextDecoder().decode(Uint8Array.from(t.x.match(/../g) ?? [], (h) => Number.parseInt(h, 16))),
        }
      : t;
  for (const [v, want] of oracle) {
    const rows = await icebergRead({ tableUrl, metadataFileName: `v${v}.metadata.json` });
    const got = rows
      .map((r) =>
        JSON.stringify(
          tagRow(
            fx.schema,
            fx.schema.columns.map((c) => (r[c.name] ?? null) as FixtureValue),
          ).map((t, i) => asRead(t, i)),
        ),
      )
      .sort();
    const expected = want.map((r) => JSON.stringify(r.map(asRead))).sort();
    assert.deepEqual(got, expected, `version ${v}: icebird's rows are DuckDB's`);
  }
}

/** Columns the view typed binary (icebird reads them as text). */
function binaryColumns(dir: string, v: number): Set<number> {
  const md = JSON.parse(readFileSync(join(dir, "iceberg/metadata", `v${v}.metadata.json`), "utf8"));
  const schema = md.schemas.find((s: { "schema-id": number }) => s["schema-id"] === md["current-schema-id"]);
  return new Set(schema.fields.flatMap((f: { type: string }, i: number) => (f.type === "binary" ? [i] : [])));
}

const writtenTables = new Map<string, { fx: RowsFixture; dir: string }>();

/** Scenario `i`'s table written in `layout` (once per run: tests only read it or copy it). */
function written(i: number, layout: "posix" | "object-store"): { fx: RowsFixture; dir: string } {
  const id = `${i}/${layout}`;
  let t = writtenTables.get(id);
  if (t === undefined) {
    const fx = (SCENARIOS[i] as (typeof SCENARIOS)[number]).fixture(dv);
    const dir = mkdtempSync(join(tmp, "t-"));
    fx.write(python as string, dir, layout);
    t = { fx, dir };
    writtenTables.set(id, t);
  }
  return t;
}

interface ViewCheck {
  metadata: number;
  manifest_lists: number;
  manifests: number;
  data_files: number;
  delete_files: number;
  deletes: number;
  errors: string[];
}

describe.skipIf(python === undefined)("the Iceberg view, read by icebird, fastavro, pyarrow, DuckDB", () => {
  for (const [i, s] of SCENARIOS.entries()) {
    it(`${s.name}: icebird reads every version as DuckDB's rows; fastavro and pyarrow accept every file; at most 4 writes and a delete file per version, no data byte`, async () => {
      const { fx, dir } = written(i, "object-store");
      const files = new FileStore(dir);
      const server = await serveBucket(files);
      try {
        const location = server.url.replace(/\/$/, "");
        const { store, puts } = recordingPuts(files);
        const perVersion: string[][] = [];
        let from = 0;
        const res = await updateIcebergView(store, {
          location,
          onVersion: () => {
            perVersion.push(puts.slice(from));
            from = puts.length;
          },
        });
        assert.deepEqual(
          res.written,
          fx.versions.map((_, i) => i + 1),
        );
        assert.ok(
          puts.every((k) => k.startsWith("iceberg/")),
          "only the view's own files are written",
        );
        for (const [i, keys] of perVersion.entries()) {
          const deletes = keys.filter((k) => k.endsWith("-deletes.parquet")).length;
          assert.ok(deletes <= 1 && keys.length - deletes <= 4, `v${i + 1} wrote ${keys.join(", ")}`);
        }
        const oracle = fx.oracle(python as string, dir);
        await assertIcebirdReadsOracle(fx, `${location}/iceberg`, oracle, binaryColumns(dir, 1));
        // icebird without a metadata file follows version-hint.text to the latest version.
        const latest = await icebergRead({ tableUrl: `${location}/iceberg` });
        assert.equal(latest.length, oracle.get(fx.versions.length)?.length);

        const check = runChecker("view", { root: dir, prefix: "iceberg", location }) as ViewCheck;
        assert.deepEqual(check.errors, []);
        if (fastavro) {
          assert.equal(check.metadata, fx.versions.length);
          assert.ok(check.manifests >= fx.versions.length && check.data_files > 0);
          if (s.name.startsWith("orders")) assert.ok(check.delete_files > 0 && check.deletes > 0);
        }

        // Idempotent: a second run writes nothing.
        const again = recordingPuts(files);
        const second = await updateIcebergView(again.store, { location });
        assert.deepEqual([second.written, again.puts], [[], []]);
      } finally {
        await server.close();
      }
    }, 90_000);
  }

  it("rows that come back, deletes rewritten into one, a gap in the mirror: icebird still reads DuckDB's rows at every version", async () => {
    const { fx, dir } = writeComebackTable(python as string, tmp, dv);
    const store = new FileStore(dir);
    const server = await serveBucket(store);
    try {
      const location = server.url.replace(/\/$/, "");
      const res = await updateIcebergView(store, { location, maxDeleteFiles: 2, maxSnapshots: 3 });
      assert.deepEqual([res.written, res.skipped], [COMEBACK_VERSIONS, [6]]);
      const oracle = fx.oracle(python as string, dir, COMEBACK_VERSIONS);
      assert.ok(
        oracle.get(5)?.some((r) => JSON.stringify(r[1]) === JSON.stringify({ s: "a3" })),
        "key 3 came back at v5",
      );
      await assertIcebirdReadsOracle(fx, `${location}/iceberg`, oracle, new Set());
      const metadata = (v: number) =>
        JSON.parse(readFileSync(join(dir, `iceberg/metadata/v${v}.metadata.json`), "utf8"));
      // Each version's snapshot, from its own metadata file (the latest lists only the last 3).
      const summary = (v: number) =>
        metadata(v).snapshots.find((x: { "snapshot-id": number }) => x["snapshot-id"] === v);
      assert.deepEqual(
        metadata(7).snapshots.map((x: { "snapshot-id": number }) => x["snapshot-id"]),
        [4, 5, 7],
      );
      assert.equal(summary(7)["parent-snapshot-id"], 5, "the gap is a gap in the view's history");
      assert.ok(
        Number(summary(5).summary["removed-delete-files"]) > 0,
        "v5 rewrote the deletes naming key 3",
      );
      for (const v of COMEBACK_VERSIONS) assert.ok(Number(summary(v).summary["total-delete-files"]) <= 2);
      assert.equal(summary(7).summary["total-delete-files"], "0", "deletes left with their files");
      const check = runChecker("view", { root: dir, prefix: "iceberg", location }) as ViewCheck;
      assert.deepEqual(check.errors, []);
    } finally {
      await server.close();
    }
  }, 60_000);

  it("classify's verdicts are DuckDB's: its kept rows and tombstones are the rows merutable's projection keeps and drops", async () => {
    const { fx, dir } = written(0, "object-store");
    const rows = new TableRows(await openTable(new FileStore(dir)));
    const versions = fx.versions.map((_, i) => i + 1);
    const byFileRow = (a: [string, number], b: [string, number]) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1];
    const duck = runChecker("winners", {
      schema: fx.schema,
      versions: versions.map((v) => fx.filesOf(v).map((p) => join(dir, p))),
    }) as Array<{ kept: Array<[string, number]>; tombstones: Array<[string, number]> }>;
    let dvRows = 0;
    for (const v of versions) {
      const c = await rows.classify({ version: v });
      const all = await collect(c.rows);
      const of = (verdict: string) =>
        all
          .filter((r) => r.verdict === verdict)
          .map((r): [string, number] => [join(dir, r.path), r.position])
          .sort(byFileRow);
      const want = duck[v - 1] as (typeof duck)[number];
      assert.deepEqual(of("kept"), want.kept, `v${v}: kept`);
      assert.deepEqual(of("tombstone"), want.tombstones, `v${v}: tombstones`);
      const physical = fx.filesOf(v).length;
      assert.ok(physical > 0);
      dvRows += of("dv").length;
      assert.equal(
        all.length,
        fx.versions[v - 1]?.reduce((n, r) => n + (fx.files.get(r.path)?.rows.length ?? 0), 0),
        `v${v}: every row of every live file has a verdict`,
      );
    }
    if (dv) assert.ok(dvRows > 0, "deletion vectors were classified");
  }, 60_000);

  it("a mirror with the option writes the view tick by tick; tidemark iceberg builds the same view afterwards, byte for byte", async () => {
    const { fx, dir: primary } = written(0, "posix");
    const mirrorDir = mkdtempSync(join(tmp, "m-"));
    const target = new FileStore(mirrorDir);
    const server = await serveBucket(target);
    try {
      const location = server.url.replace(/\/$/, "");
      // merutable's primary, revealing one version per tick.
      let head = 1;
      const base = new FileStore(primary);
      const source = new Proxy(base, {
        get(t, prop, receiver) {
          if (prop === "get") {
            return async (key: string, o?: unknown) => {
              if (key !== "version-hint.text") return t.get(key, o as never);
              const b = await t.get(key);
              await b.bytes();
              const body = new TextEncoder().encode(String(head));
              return { ...b, size: body.length, bytes: async () => body, text: async () => String(head) };
            };
          }
          const v = Reflect.get(t, prop, receiver) as unknown;
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
      const m = new Mirror({ source, target, iceberg: { location } });
      for (head = 1; head <= fx.versions.length; head++) {
        await m.tick();
        const st = m.status();
        assert.equal(st.lastError, null);
        assert.equal(st.iceberg?.[0]?.version, head, `the view follows v${head}`);
      }
      await m.shutdown();
      // The view is no key the mirror's readers take for the table: verify and restore see the table alone.
      assert.equal((await verifyMirror(target)).ok, true);
      const restored = mkdtempSync(join(tmp, "restored-"));
      await restore({ from: target, to: new FileStore(restored) });
      assert.deepEqual(
        readdirSync(restored)
          .filter((n) => !n.startsWith(".tidemark-"))
          .sort(),
        ["data", "metadata", "version-hint.text"],
      );
      assert.equal((await openTable(target)).layout, "object-store");
      const oracle = fx.oracle(python as string, primary);
      await assertIcebirdReadsOracle(fx, `${location}/iceberg`, oracle, binaryColumns(mirrorDir, 1));

      // The same mirror without its view, the view built afterwards by the command: the same bytes.
      const later = mkdtempSync(join(tmp, "later-"));
      cpSync(mirrorDir, later, { recursive: true });
      rmSync(join(later, "iceberg"), { recursive: true });
      const out: string[] = [];
      const io = {
        stdout: (t: string) => out.push(t),
        stderr: (t: string) => out.push(t),
        stderrIsTTY: false,
      };
      const ctx = { io, env: () => undefined, waitForStop: () => new Promise<void>(() => {}) };
      const code = await runCli(["iceberg", later, "--location", location, "--json"], ctx);
      assert.equal(code, 0, out.join(""));
      const report = JSON.parse(out.join(""));
      assert.deepEqual(
        report.written,
        fx.versions.map((_, i) => i + 1),
      );
      assert.equal(
        report.metadataLocation,
        `${location}/iceberg/metadata/v${fx.versions.length}.metadata.json`,
      );
      assert.deepEqual(await viewFiles(new FileStore(later)), await viewFiles(target));
      out.length = 0;
      assert.equal(await runCli(["iceberg", later, "--location", location], ctx), 0);
      assert.match(out.join(""), /up to date/);
      // A view's prefix is for one location.
      out.length = 0;
      assert.equal(await runCli(["iceberg", later, "--location", "s3://elsewhere/t", "--json"], ctx), 2);
      assert.match(out.join(""), /InvalidArgument.*holds an Iceberg view for/);
    } finally {
      await server.close();
    }
  }, 90_000);
});

/** The files of a fixture's table, in memory (crash sweeps run fast there). */
async function memoryCopy(dir: string, fx: RowsFixture): Promise<MemoryStore> {
  const m = new MemoryStore();
  for (const k of fx.keys("object-store")) await m.put(k, new Uint8Array(readFileSync(join(dir, k))));
  return m;
}

/**
 * Every published metadata file names only files that are there: in its
 * current snapshot, or (`allSnapshots`) in every snapshot it lists.
 */
async function assertNoMissingFile(store: ObjectStore, label: string, allSnapshots = false): Promise<number> {
  const keys = new Set((await collect(store.list("iceberg/"))).map((m) => m.key));
  let published = 0;
  for (const k of keys) {
    if (!/metadata\/v\d+\.metadata\.json$/.test(k)) continue;
    published++;
    const md = JSON.parse(await (await store.get(k)).text());
    const local = (p: string) => p.slice("s3://b/t/".length);
    for (const snap of md.snapshots) {
      if (!allSnapshots && snap["snapshot-id"] !== md["current-snapshot-id"]) continue;
      const list = local(snap["manifest-list"]);
      assert.ok(keys.has(list), `${label}: ${k} names ${list}, which is not there`);
      const manifests = decodeAvroFile(await (await store.get(list)).bytes(), list).records as Array<{
        manifest_path: string;
      }>;
      for (const mf of manifests) {
        const path = local(mf.manifest_path);
        assert.ok(keys.has(path), `${label}: ${k} names ${path}, which is not there`);
        const entries = decodeAvroFile(await (await store.get(path)).bytes(), path).records as Array<{
          status: number;
          data_file: { file_path: string; content: number };
        }>;
        for (const e of entries) {
          if (e.status === 2) continue;
          const f = local(e.data_file.file_path);
          await store.head(f); // NotFound fails the test
        }
      }
    }
  }
  return published;
}

async function viewFiles(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await collect(store.list("iceberg/"))) {
    out.set(m.key, Buffer.from(await (await store.get(m.key)).bytes()).toString("hex"));
  }
  return out;
}

describe.skipIf(python === undefined)("the Iceberg view under crashes", () => {
  it("a crash at every write of the view: no snapshot names a missing file, and the next run ends with the clean run's bytes", async () => {
    const { fx, dir } = written(0, "object-store");
    const location = "s3://b/t";
    const clean = await memoryCopy(dir, fx);
    const counted = crashAtWrite(clean, Number.POSITIVE_INFINITY);
    await updateIcebergView(counted.store, { location });
    const K = counted.writes();
    assert.ok(K >= fx.versions.length * 3, `${K} writes`);
    const want = await viewFiles(clean);
    for (let k = 1; k <= K; k++) {
      const store = await memoryCopy(dir, fx);
      await assert.rejects(
        updateIcebergView(crashAtWrite(store, k).store, { location }),
        (e) => errorCodeOf(e) === "Transient",
      );
      await assertNoMissingFile(store, `k=${k}`);
      const done = await updateIcebergView(store, { location });
      assert.equal(done.version, fx.versions.length);
      assert.equal(await assertNoMissingFile(store, `k=${k} after`), fx.versions.length);
      assert.deepEqual(await viewFiles(store), want, `k=${k}: the view is the clean run's`);
    }
  }, 60_000);

  it("a crash at every request of a mirror's target with a view (faulty), then a fresh mirror: the view ends as a clean run's", async () => {
    const { fx, dir: primary } = written(2, "posix");
    const location = "s3://b/t";
    const cleanTarget = new MemoryStore();
    const counted = faulty(cleanTarget, {});
    const cleanMirror = new Mirror({
      source: new FileStore(primary),
      target: counted,
      iceberg: { location },
    });
    await cleanMirror.tick();
    assert.equal(cleanMirror.status().iceberg?.[0]?.version, fx.versions.length);
    const want = await viewFiles(cleanTarget);
    const K = counted.requests();
    assert.ok(K > 20, `${K} requests`);
    for (let k = 1; k <= K; k++) {
      const target = new MemoryStore();
      const crashed = new Mirror({
        source: new FileStore(primary),
        target: faulty(target, { crashAt: k }),
        iceberg: { location },
      });
      await crashed.tick();
      assert.ok(crashed.status().counters.failures > 0, `k=${k}: the crash happened`);
      await assertNoMissingFile(target, `k=${k}`);
      const restarted = new Mirror({ source: new FileStore(primary), target, iceberg: { location } });
      await restarted.tick();
      assert.equal(restarted.status().lastError, null);
      assert.deepEqual(await viewFiles(target), want, `k=${k}: the view is the clean run's`);
    }
  }, 60_000);
});

describe("the view's own parts", () => {
  it("avro files round-trip, and the same records make the same bytes", async () => {
    const schema = {
      type: "record" as const,
      name: "r",
      fields: [
        { name: "a", type: "long" as const, "field-id": 1 },
        { name: "b", type: ["null", "string"] as ["null", "string"], default: null, "field-id": 2 },
        {
          name: "c",
          type: { type: "array" as const, items: "int" as const, "element-id": 4 },
          "field-id": 3,
        },
        { name: "d", type: "bytes" as const },
      ],
    };
    const records = [
      { a: 2n ** 62n, b: "é", c: [1, -2, 2 ** 31 - 1], d: Uint8Array.of(0, 255) },
      { a: -1n, b: null, c: [], d: new Uint8Array() },
    ];
    const bytes = await encodeAvroFile(schema, records, { k: "v" });
    assert.deepEqual(await encodeAvroFile(schema, records, { k: "v" }), bytes);
    const back = decodeAvroFile(bytes, "t.avro");
    assert.equal(back.meta.k, "v");
    assert.deepEqual(back.records, records);
    await assert.rejects(encodeAvroFile(schema, [{ a: 1n, b: 5, c: [], d: new Uint8Array() }], {}), (e) =>
      /record 0\.b/.test((e as Error).message),
    );
    assert.throws(
      () => decodeAvroFile(bytes.subarray(0, bytes.length - 3), "t.avro"),
      (e) => errorCodeOf(e) === "Corrupt",
    );
  });

  it("a mirror whose target is wiped under it starts its view again: no snapshot names a file the wipe took", async () => {
    // Found by the history-integrity simulation (invariant 8): the view kept what it knew of the
    // wiped target and built the next version on it, listing manifests and delete files that were gone.
    const source = new MemoryStore();
    const target = new MemoryStore();
    const catalog = await Catalog.open(source, { schema: SIM_SCHEMA });
    let n = 0;
    const commit = async () => {
      const add = [];
      for (let k = 0; k < 3; k++) {
        const f = simDataFile("A", ++n);
        await source.put(f.entry.path, f.bytes);
        add.push(f.entry);
      }
      await catalog.commit({ add });
    };
    const mirror = new Mirror({ source, target, iceberg: { location: "s3://b/t" } });
    await commit();
    await commit();
    await mirror.tick();
    assert.equal(mirror.status().iceberg?.[0]?.version, 2);
    for (const m of await collect(target.list(""))) await target.delete(m.key);
    await commit();
    await mirror.tick();
    assert.equal(mirror.status().lastError, null);
    assert.equal(mirror.status().iceberg?.[0]?.version, 3);
    assert.equal(await assertNoMissingFile(target, "after the wipe", true), 3);
    // The view is the one a fresh mirror of the same source writes.
    const fresh = new MemoryStore();
    await new Mirror({ source, target: fresh, iceberg: { location: "s3://b/t" } }).tick();
    assert.deepEqual(await viewFiles(target), await viewFiles(fresh));
  });

  it("two mirrors of one target, one left behind while retention expired what its view knew: its next update reads the view again, and no snapshot names a missing file", async () => {
    // Two instances briefly overlap (a Durable Object moved, two CLI processes): the one left
    // behind must not build on the view state it cached, whose files retention has since freed.
    const source = new MemoryStore();
    const target = new MemoryStore();
    const catalog = await Catalog.open(source, { schema: SIM_SCHEMA });
    let n = 0;
    const commit = async () => {
      const f = simDataFile("A", ++n);
      await source.put(f.entry.path, f.bytes);
      // Each version replaces the last file: what an older version names leaves with it.
      const head = await catalog.head();
      const remove = head === 0 ? [] : (await catalog.manifest(head)).dataFiles.map((d) => d.path);
      await catalog.commit({ add: [f.entry], remove });
    };
    const options = {
      source,
      target,
      iceberg: { location: "s3://b/t", maxSnapshots: 1 },
      retention: { keepVersions: 1, graceMs: 0 },
    };
    const ahead = new Mirror(options);
    const behind = new Mirror(options);
    await commit();
    await commit();
    await ahead.tick();
    await behind.tick();
    assert.equal(behind.status().iceberg?.[0]?.version, 2);
    for (let i = 0; i < 3; i++) {
      await commit();
      await ahead.tick();
    }
    await commit();
    await behind.tick();
    await behind.tick();
    assert.equal(behind.status().lastError, null, JSON.stringify(behind.status().lastError));
    assert.equal(behind.status().iceberg?.[0]?.version, 6);
    // What a reader opens (version-hint.text, its metadata file): every snapshot it lists is whole.
    // (Older metadata files may list snapshots retention expired since: docs/iceberg.md.)
    const hint = (await (await target.get("iceberg/metadata/version-hint.text")).text()).trim();
    const latest = `iceberg/metadata/v${hint}.metadata.json`;
    const only = new MemoryStore();
    for (const m of await collect(target.list(""))) {
      if (/^iceberg\/metadata\/v\d+\.metadata\.json$/.test(m.key) && m.key !== latest) continue;
      await only.put(m.key, await (await target.get(m.key)).bytes());
    }
    assert.equal(await assertNoMissingFile(only, "the mirror left behind", true), 1);
  });

  it("locations and prefixes are checked: absolute, no credentials, one prefix per view", () => {
    const s = new MemoryStore();
    for (const location of ["data/x", "/abs", "https://u:p@h/x", "s3://b/t?x=1", "", "file://", "s3:///x"]) {
      assert.throws(
        () => new IcebergView(s, { location }),
        (e) => errorCodeOf(e) === "InvalidArgument",
        location,
      );
    }
    for (const prefix of ["metadata", "metadata/iceberg", "../x", ""]) {
      assert.throws(
        () => new IcebergView(s, { location: "s3://b/t", prefix }),
        (e) => errorCodeOf(e) === "InvalidArgument",
        prefix,
      );
    }
    assert.throws(
      () =>
        new Mirror({
          source: s,
          target: s,
          iceberg: [{ location: "s3://a/t" }, { location: "https://h/t" }],
        }),
      (e) => /two Iceberg views under prefix iceberg/.test((e as Error).message),
    );
    const v = new IcebergView(s, { location: "https://h.example/t/", prefix: "views/one" });
    assert.equal(v.where.of("data/a b.parquet"), "https://h.example/t/data/a%20b.parquet");
    assert.equal(v.where.keyOf("https://h.example/t/data/a%20b.parquet"), "data/a b.parquet");
    assert.equal(
      new IcebergView(s, { location: "s3://b/t" }).where.of("data/a b.parquet"),
      "s3://b/t/data/a b.parquet",
    );
    assert.equal(
      new IcebergView(s, { location: "file:///srv/m/" }).where.of("data/x.parquet"),
      "file:///srv/m/data/x.parquet",
    );
  });
});
