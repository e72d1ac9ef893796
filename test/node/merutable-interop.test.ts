/**
 * merutable's tables as they really are, made by tools not written here:
 * protoc encodes the manifests from text, pyarrow writes the Parquet files
 * (Snappy, merutable's `_merutable_*` columns and user columns), and a few
 * lines below frame and commit them as merutable's catalog does (manifest,
 * then `version-hint.text` by rename). tidemark mirrors that primary (to a
 * directory, and to S3 on Ceph RGW), restores the mirror into merutable's
 * layout, and DuckDB reads the restored Parquet files.
 * Run: npx node scripts/with-rgw.ts -- npx vitest run --project node test/node/merutable-interop.test.ts
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { manifestKey } from "../../src/catalog/layout.ts";
import { posixManifestKey } from "../../src/catalog/posix.ts";
import { SCHEMA_PROPERTY } from "../../src/catalog/schema.ts";
import {
  Catalog,
  liveDataFiles,
  Mirror,
  type ObjectStore,
  openTable,
  referencedFiles,
  restore,
  S3Store,
  verifyMirror,
} from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { EVENTS_SCHEMA } from "../contract/restore.contract.ts";
import { randomId, uniquePrefix } from "../support/harness.ts";
import {
  duckdbRead,
  frame,
  interopPython,
  merutableCommit,
  type ParquetSpec,
  protocDecode,
  protocEncode,
  pyarrowWrite,
  textString,
  type WrittenParquet,
} from "../support/interop.ts";
import { rgwConfig } from "../support/rgw.ts";

const py = interopPython();
const rgw = rgwConfig((k) => process.env[k]);
const tmp = mkdtempSync(join(tmpdir(), "tidemark-interop-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** merutable's TableSchema JSON, as its serde writes it (`types/schema.rs`). */
const SCHEMA_JSON =
  '{"table_name":"events","columns":[{"name":"id","col_type":"Int64","nullable":false,"field_id":1,"initial_default":null,"write_default":null},{"name":"payload","col_type":"ByteArray","nullable":true,"field_id":2,"initial_default":null,"write_default":null}],"primary_key":[0],"schema_id":0,"last_column_id":2}';
const UUID = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";

interface Entry extends WrittenParquet {
  level: number;
  seq: number;
  firstRowId: number;
}

/**
 * A merutable primary in directory `dir`: each commit writes its new Parquet
 * files with pyarrow, then the manifest merutable's `Manifest::apply` would
 * build (text format, encoded by protoc, framed), then the hint.
 */
class MerutablePrimary {
  readonly dir: string;
  version = 0;
  live: Entry[] = [];
  nextRowId = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  commit(add: Array<ParquetSpec & { level: number }>, remove: string[] = []): number {
    const v = this.version + 1;
    const written = pyarrowWrite(py as string, this.dir, add);
    const firstRowId = this.nextRowId;
    this.live = this.live.filter((e) => !remove.includes(e.path));
    written.forEach((w, i) => {
      const spec = add[i] as ParquetSpec & { level: number };
      this.live.push({ ...w, level: spec.level, seq: spec.seq, firstRowId: this.nextRowId });
      this.nextRowId += w.rows;
    });
    const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16));
    const text = [
      `snapshot_id: ${v}`,
      `sequence_number: ${v}`,
      ...this.live.map(
        (e) =>
          `data_files { path: ${textString(e.path)} file_size: ${e.size} num_rows: ${e.rows} level: ${e.level} ` +
          `seq_min: ${e.seq} seq_max: ${e.seq} key_min: ${textString(hex(e.key_min))} key_max: ${textString(hex(e.key_max))} ` +
          `status: 1 first_row_id: ${e.firstRowId} }`,
      ),
      ...(v > 1 ? [`previous_snapshot_id: ${v - 1}`] : []),
      `table_uuid: ${textString(UUID)}`,
      `last_updated_ms: ${1_767_000_000_000 + v * 1000}`,
      `properties { key: "merutable.format_version" value: "3" }`,
      `properties { key: "merutable.schema.json" value: ${textString(SCHEMA_JSON)} }`,
      "last_column_id: 2",
      `next_row_id: ${this.nextRowId}`,
      `first_row_id: ${firstRowId}`,
    ].join("\n");
    merutableCommit(this.dir, v, frame(protocEncode(text)));
    this.version = v;
    return v;
  }

  /** merutable's garbage collector: deletes compacted files (5 minutes after the compaction). */
  gc(paths: string[]): void {
    for (const p of paths) unlinkSync(join(this.dir, p));
  }

  manifestBytes(v: number): Uint8Array {
    return new Uint8Array(readFileSync(join(this.dir, "metadata", `v${v}.metadata.pb`)));
  }
}

/** The files of a restored version as DuckDB sees them, and the rows its manifest promises. */
async function rowsOf(
  dir: string,
  version: number,
): Promise<{ promised: number; read: ReturnType<typeof duckdbRead> }> {
  const m = await (await openTable(new FileStore(dir))).manifest(version);
  const files = liveDataFiles(m).map((f) => join(dir, f.path));
  const promised = liveDataFiles(m).reduce((n, f) => n + Number(f.numRows), 0);
  return { promised, read: duckdbRead(py as string, files) };
}

const targets: Array<[string, () => ObjectStore]> = [
  ["a directory", () => new FileStore(join(tmp, `mirror-${randomId()}`), { durable: false })],
  ...(rgw
    ? ([["S3 (Ceph RGW)", () => new S3Store({ ...rgw, prefix: uniquePrefix("interop") })]] as Array<
        [string, () => ObjectStore]
      >)
    : []),
];

describe.skipIf(!py)("merutable interop: protoc, pyarrow and duckdb", () => {
  for (const [name, makeTarget] of targets) {
    it(`a merutable primary mirrored to ${name} and restored: byte-identical manifests and files at HEAD and at an older version, a garbage-collected version a gap, duckdb counts the promised rows`, async () => {
      const primary = new MerutablePrimary(join(tmp, `primary-${randomId()}`));
      const source = new FileStore(primary.dir);
      const target = makeTarget();
      const L0 = 0;
      primary.commit([{ path: "data/L0/a.parquet", first_id: 1, rows: 100, seq: 1, level: L0 }]);
      const mirror = new Mirror({ source, target });
      assert.equal(await mirror.tick(), 1);
      // The mirror falls behind: a flush, a compaction of a and b into c, merutable's GC of a and b.
      primary.commit([{ path: "data/L0/b.parquet", first_id: 101, rows: 150, seq: 2, level: L0 }]);
      primary.commit(
        [{ path: "data/L1/c.parquet", first_id: 1, rows: 250, seq: 3, level: 1 }],
        ["data/L0/a.parquet", "data/L0/b.parquet"],
      );
      primary.commit([{ path: "data/L0/d.parquet", first_id: 251, rows: 50, seq: 4, level: L0 }]);
      primary.gc(["data/L0/a.parquet", "data/L0/b.parquet"]);
      primary.commit([{ path: "data/L0/e.parquet", first_id: 301, rows: 30, seq: 5, level: L0 }]);

      assert.equal(await mirror.tick(), 5);
      const s = mirror.status();
      assert.equal(s.caughtUp, true);
      assert.deepEqual(s.gaps, [{ from: 2, to: 2, reason: "files-gone" }], "a gap, not a stall");
      for (const v of [1, 3, 4, 5]) {
        assert.deepEqual(
          await (await target.get(manifestKey(v))).bytes(),
          primary.manifestBytes(v),
          `v${v}.manifest.bin is v${v}.metadata.pb byte for byte`,
        );
      }
      assert.equal((await verifyMirror(target, 5, { source })).ok, true);

      // Restore HEAD, and an older version, each into an empty directory.
      for (const [version, versions, rows] of [
        [5, [3, 4, 5], 330],
        [4, [3, 4], 300],
      ] as const) {
        const dir = join(tmp, `restored-${randomId()}`);
        const r = await restore({ from: target, to: new FileStore(dir), version });
        assert.deepEqual([r.version, r.versions], [version, versions]);
        assert.equal(
          readFileSync(join(dir, "version-hint.text"), "utf8"),
          String(version),
          "decimal, no newline",
        );
        for (const v of versions) {
          assert.deepEqual(
            new Uint8Array(readFileSync(join(dir, "metadata", `v${v}.metadata.pb`))),
            primary.manifestBytes(v),
          );
          const text = protocDecode(primary.manifestBytes(v));
          assert.match(text, /key: "merutable\.schema\.json"/);
        }
        assert.equal(existsSync(join(dir, "metadata", "v2.metadata.pb")), false);
        const m = await (await openTable(new FileStore(dir))).manifest(version);
        for (const f of referencedFiles(m)) {
          assert.deepEqual(readFileSync(join(dir, f.path)), readFileSync(join(primary.dir, f.path)), f.path);
        }
        const { promised, read } = await rowsOf(dir, version);
        assert.equal(promised, rows);
        assert.equal(read.rows, promised, "duckdb counts the rows the manifest promises");
        assert.deepEqual(read.codecs, ["SNAPPY"]);
        assert.deepEqual(read.columns, [
          "_merutable_ikey",
          "_merutable_seq",
          "_merutable_op",
          "_merutable_value",
          "id",
          "payload",
        ]);
        assert.deepEqual(read.ids, [1, rows]);
      }
    }, 120_000);
  }

  it("a table tidemark writes with a schema: protoc --decode reads every manifest, schema included; restored, duckdb counts its rows", async () => {
    const dir = join(tmp, `tidemark-${randomId()}`);
    const store = new FileStore(dir, { durable: false });
    const c = await Catalog.open(store, { schema: EVENTS_SCHEMA });
    const files: ParquetSpec[] = [
      { path: "data/L0/x.parquet", first_id: 1, rows: 40, seq: 1 },
      { path: "data/L0/y.parquet", first_id: 41, rows: 60, seq: 2 },
    ];
    for (const w of pyarrowWrite(py as string, dir, files)) {
      await c.commit({ add: [{ path: w.path, fileSize: w.size, numRows: w.rows }] });
    }
    for (const v of [1, 2]) {
      const text = protocDecode(await store.get(manifestKey(v)).then((b) => b.bytes()));
      assert.match(text, new RegExp(`snapshot_id: ${v}\\n`));
      assert.match(text, /key: "merutable\.schema\.json"\n\s+value: "\{\\"table_name\\":\\"events\\"/);
      assert.match(text, /key: "merutable\.format_version"\n\s+value: "3"/);
    }
    const mirrorDir = join(tmp, `mirror-${randomId()}`);
    const mirror = new Mirror({ source: store, target: new FileStore(mirrorDir, { durable: false }) });
    assert.equal(await mirror.tick(), 2);
    const restored = join(tmp, `restored-${randomId()}`);
    await restore({ from: new FileStore(mirrorDir), to: new FileStore(restored) });
    assert.equal(readFileSync(join(restored, "version-hint.text"), "utf8"), "2");
    const m = await (await openTable(new FileStore(restored))).manifest(2);
    assert.ok(m.properties[SCHEMA_PROPERTY]?.startsWith('{"table_name":"events"'));
    assert.deepEqual(
      readFileSync(join(restored, posixManifestKey(2))),
      readFileSync(join(dir, manifestKey(2))),
      "the manifest tidemark wrote, verbatim",
    );
    const { promised, read } = await rowsOf(restored, 2);
    assert.deepEqual([promised, read.rows], [100, 100]);
  }, 120_000);
});
