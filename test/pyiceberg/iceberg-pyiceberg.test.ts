/**
 * pyiceberg (Apache Iceberg's Python library, no one on the project wrote
 * it) reads the Iceberg view of a mirror: on a local directory (a `file://`
 * location, its PyArrowFileIO) and on S3 (moto, an `s3://` location, the
 * same FileIO over pyarrow's S3 file system, the view written by a `Mirror`
 * with the option). `StaticTable.from_metadata` of every version's metadata
 * file, `scan().to_arrow()`, gives DuckDB's rows (merutable's projection for
 * outside readers over the same files); on the latest metadata,
 * `scan(snapshot_id=...)` of every snapshot it lists gives that version's
 * rows; the table's folder opens at the latest version (version-hint.text);
 * its metadata tables (`inspect`) agree with the view's metadata. On the
 * rows scenarios (multi-version keys, tombstones, deletion vectors,
 * compactions, Int64 beyond 2^53, composite, text, float and fixed keys) and
 * on rows that come back, rewritten delete files and a gap.
 *
 * Not in `npm test`: no package index this project's machines reach serves
 * pyiceberg. `npm run test:pyiceberg` runs it with the Python named by
 * TIDEMARK_PYTHON (else `.venv-interop`'s) and fails, never skips, when that
 * Python cannot import pyiceberg (docs/iceberg.md, "Querying it").
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, it } from "vitest";
import { updateIcebergView } from "../../src/iceberg/view.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { FileStore } from "../../src/node/fs-store.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { SCENARIOS } from "../contract/rows.contract.ts";
import { startMoto } from "../services/moto.ts";
import { COMEBACK_VERSIONS, writeComebackTable } from "../support/iceberg-fixtures.ts";
import { interopPython } from "../support/interop.ts";
import { javaRoaring, type RowsFixture, type Tagged } from "../support/rows-fixture.ts";

const python = interopPython();
if (python === undefined) throw new Error("no Python with pyarrow and duckdb (TIDEMARK_PYTHON)");
const probe = spawnSync(python, ["-c", "import pyiceberg; print(pyiceberg.__version__)"], {
  encoding: "utf8",
});
if (probe.status !== 0) {
  throw new Error(
    `${python} cannot import pyiceberg: point TIDEMARK_PYTHON at a Python that can (${probe.stderr.trim().slice(-300)})`,
  );
}
const pyicebergVersion = probe.stdout.trim();
// The deletion-vector fixtures are part of the proof: without Java's RoaringBitmap this fails too.
const dv = javaRoaring();
if (!dv) throw new Error("no Java RoaringBitmap for the deletion-vector fixtures (TIDEMARK_ROARING_JAR)");
const reader = join(import.meta.dirname, "../support/pyiceberg_read.py");
const tmp = mkdtempSync(join(tmpdir(), "tidemark-pyiceberg-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PyicebergRead {
  versions: Record<string, { snapshot: number; columns: string[]; rows: Tagged[][] }>;
  travel: Record<string, Tagged[][]>;
  hint: number;
  inspect: {
    snapshots: Array<[number, number | null, string]>;
    manifests: Array<[string, number, number, number]>;
    data_files: Array<[string, number, number]>;
    delete_files: Array<[string, number, number]>;
  };
}

/**
 * Runs the reader without blocking the event loop: the moto server's output
 * is read by this process, and a blocked loop would stall it mid-request.
 */
async function readWithPyiceberg(
  table: string,
  versions: number[],
  properties: Record<string, string>,
): Promise<PyicebergRead> {
  const child = spawn(python as string, [reader], { stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.end(JSON.stringify({ table, versions, properties }));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) throw new Error(`pyiceberg_read.py failed: ${Buffer.concat(err).toString().slice(-3000)}`);
  return JSON.parse(Buffer.concat(out).toString()) as PyicebergRead;
}

const sorted = (rows: Tagged[][]) => rows.map((r) => JSON.stringify(r)).sort();

type Snap = {
  "snapshot-id": number;
  "parent-snapshot-id"?: number;
  "manifest-list": string;
  summary: Record<string, string>;
};

/**
 * Reads the view of `store` (written for `location`, under `iceberg/`) with
 * pyiceberg (FileIO `properties`) and checks every version, every snapshot
 * of the latest metadata, the folder's latest, and the metadata tables
 * against DuckDB's rows (over the table in `oracleDir`) and the view's
 * metadata.
 */
async function assertPyicebergReadsOracle(
  fx: RowsFixture,
  oracleDir: string,
  store: ObjectStore,
  location: string,
  versions: number[],
  properties: Record<string, string> = {},
): Promise<void> {
  const oracle = fx.oracle(python as string, oracleDir, versions);
  const got = await readWithPyiceberg(`${location}/iceberg`, versions, properties);
  const columns = fx.schema.columns.map((c) => c.name);
  const metadata = async (v: number) =>
    JSON.parse(await (await store.get(`iceberg/metadata/v${v}.metadata.json`)).text());
  const keyOf = (path: string) => {
    assert.ok(path.startsWith(`${location}/`), path);
    return path.slice(location.length + 1);
  };
  let deleted = 0;
  for (const v of versions) {
    const at = got.versions[String(v)];
    assert.ok(at !== undefined);
    assert.equal(at.snapshot, v, `v${v}: the metadata file's current snapshot`);
    assert.deepEqual(at.columns, columns, `v${v}: the table's columns, no internal one`);
    assert.deepEqual(sorted(at.rows), sorted(oracle.get(v) ?? []), `v${v}: pyiceberg's rows are DuckDB's`);
    const snap = ((await metadata(v)).snapshots as Snap[]).find((s) => s["snapshot-id"] === v) as Snap;
    const { summary } = snap;
    if (Number(summary["total-records"]) > at.rows.length && Number(summary["total-position-deletes"]) > 0)
      deleted++;
  }
  assert.ok(deleted > 0, "pyiceberg applied position deletes at some version");
  const last = versions[versions.length - 1] as number;
  assert.equal(got.hint, last, "the folder (version-hint.text) opens at the latest version");
  const md = await metadata(last);
  const snaps = md.snapshots as Snap[];
  const listed = snaps.map((s) => s["snapshot-id"]);
  assert.deepEqual(
    Object.keys(got.travel)
      .map(Number)
      .sort((a, b) => a - b),
    listed,
  );
  for (const s of listed) {
    assert.deepEqual(
      sorted(got.travel[String(s)] ?? []),
      sorted(oracle.get(s) ?? []),
      `snapshot_id=${s}: DuckDB's rows`,
    );
  }

  // The metadata tables say what the view's metadata says.
  assert.deepEqual(
    got.inspect.snapshots,
    snaps.map((s) => [s["snapshot-id"], s["parent-snapshot-id"] ?? null, s["manifest-list"]]),
  );
  const current = snaps.find((s) => s["snapshot-id"] === md["current-snapshot-id"]) as Snap;
  const sum = (xs: Array<[string, number, number]>) => xs.reduce((n, x) => n + x[1], 0);
  const { data_files: data, delete_files: deletes, manifests } = got.inspect;
  assert.deepEqual(
    [data.length, sum(data), deletes.length, sum(deletes)],
    ["total-data-files", "total-records", "total-delete-files", "total-position-deletes"].map((k) =>
      Number(current.summary[k]),
    ),
  );
  const live = await Promise.all(fx.filesOf(last).map(async (p) => [p, (await store.head(p)).size] as const));
  assert.deepEqual(
    data.map(([path, , size]) => [keyOf(path), size]).sort(),
    live.map(([p, size]) => [p, size]).sort(),
    "the data files are the version's live files, where they are",
  );
  assert.ok(
    deletes.every(([, , content]) => content === 1),
    "position deletes",
  );
  for (const [path] of [...manifests, ...deletes]) {
    assert.ok(keyOf(path).startsWith("iceberg/"));
    await store.head(keyOf(path)); // NotFound fails the test
  }
}

describe(`pyiceberg ${pyicebergVersion} reads the Iceberg view`, () => {
  for (const s of SCENARIOS) {
    it(`${s.name}: every version's metadata file and every snapshot of the latest give DuckDB's rows; inspect agrees`, async () => {
      const fx = s.fixture(dv);
      const dir = mkdtempSync(join(tmp, "t-"));
      fx.write(python as string, dir, "object-store");
      const store = new FileStore(dir);
      const location = pathToFileURL(dir).href;
      const versions = fx.versions.map((_, i) => i + 1);
      assert.deepEqual((await updateIcebergView(store, { location })).written, versions);
      await assertPyicebergReadsOracle(fx, dir, store, location, versions);
    }, 120_000);
  }

  it("rows that come back, deletes rewritten, a gap in the mirror: pyiceberg reads DuckDB's rows at every version", async () => {
    const { fx, dir } = writeComebackTable(python as string, tmp, dv);
    const store = new FileStore(dir);
    const location = pathToFileURL(dir).href;
    // Two delete files at most (rewritten into one past that); the latest metadata lists the last 3 snapshots.
    const res = await updateIcebergView(store, { location, maxDeleteFiles: 2, maxSnapshots: 3 });
    assert.deepEqual(res.written, COMEBACK_VERSIONS);
    await assertPyicebergReadsOracle(fx, dir, store, location, COMEBACK_VERSIONS);
  }, 120_000);

  it("a mirror to S3 (moto) with the option writes a view for its s3:// location that pyiceberg reads through its S3 FileIO", async () => {
    const fx = (SCENARIOS[0] as (typeof SCENARIOS)[number]).fixture(dv);
    const primary = mkdtempSync(join(tmp, "primary-"));
    fx.write(python as string, primary, "posix");
    const moto = await startMoto();
    try {
      // The server that checks no signatures: the one that does refuses a `/` in a query value (a list prefix).
      const s3 = moto.open;
      const prefix = "mirrors/orders";
      const target = new S3Store({ ...s3, prefix, forcePathStyle: true });
      const location = `s3://${s3.bucket}/${prefix}`;
      const m = new Mirror({ source: new FileStore(primary), target, iceberg: { location } });
      await m.tick();
      await m.shutdown();
      assert.equal(m.status().lastError, null);
      assert.equal(m.status().iceberg?.[0]?.version, fx.versions.length);
      await assertPyicebergReadsOracle(
        fx,
        primary,
        target,
        location,
        fx.versions.map((_, i) => i + 1),
        {
          "s3.endpoint": s3.endpoint,
          "s3.region": s3.region,
          "s3.access-key-id": s3.accessKeyId,
          "s3.secret-access-key": s3.secretAccessKey,
        },
      );
    } finally {
      await moto.stop();
    }
  }, 180_000);
});
