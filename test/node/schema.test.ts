/**
 * merutable's table schema in the manifests tidemark writes: `Catalog.open(store,
 * { schema })` puts `merutable.schema.json` and `merutable.format_version` in
 * every manifest, validated and normalised as merutable does; existing tables
 * carry theirs forward; a malformed one is `InvalidArgument` (given) or
 * `Corrupt` (read). `protoc --decode` (an independent decoder) reads it back.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "vitest";
import { manifestKey } from "../../src/catalog/layout.ts";
import { FORMAT_VERSION_PROPERTY, SCHEMA_PROPERTY, schemaJson } from "../../src/catalog/schema.ts";
import {
  Catalog,
  checkTableSchema,
  encodeManifest,
  MemoryStore,
  readTableSchema,
  type TableSchema,
} from "../../src/index.ts";
import { EVENTS_SCHEMA } from "../contract/restore.contract.ts";
import { assertRejectsOption, codeOf } from "../support/harness.ts";

const root = join(import.meta.dirname, "..", "..");
const file = (path: string) => ({ path, fileSize: 1, numRows: 1 });

/** The schema JSON merutable writes for EVENTS_SCHEMA after `validate()` (field ids assigned). */
const EVENTS_JSON =
  '{"table_name":"events","columns":[{"name":"id","col_type":"Int64","nullable":false,"field_id":1,"initial_default":null,"write_default":null},{"name":"payload","col_type":"ByteArray","nullable":true,"field_id":2,"initial_default":null,"write_default":null}],"primary_key":[0],"schema_id":0,"last_column_id":2}';

describe("the table schema (merutable.schema.json)", () => {
  it("a table created with a schema carries it, and the format version, in every manifest", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s, { schema: EVENTS_SCHEMA });
    await c.commit({ add: [file("data/a")] });
    await c.commit({ add: [file("data/b")], properties: { writer: "x" } });
    for (const v of [1, 2]) {
      const m = await c.manifest(v);
      assert.equal(m.properties[SCHEMA_PROPERTY], EVENTS_JSON, `v${v}`);
      assert.equal(m.properties[FORMAT_VERSION_PROPERTY], "3");
      assert.deepEqual([m.schemaId, m.lastColumnId], [0, 2], "as merutable's to_pb sets them");
    }
    // A writer without the option carries the table's schema forward.
    const plain = await Catalog.open(s);
    await plain.commit({ add: [file("data/c")] });
    assert.equal((await plain.manifest(3)).properties[SCHEMA_PROPERTY], EVENTS_JSON);
  });

  it("protoc --decode reads a manifest tidemark writes, the schema property included", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s, { schema: EVENTS_SCHEMA });
    await c.commit({ add: [file("data/L0/a.parquet")] });
    const bytes = await c.manifestBytes(1);
    const r = spawnSync(
      "protoc",
      ["--decode=merutable.catalog.v1.Manifest", "-I", join(root, "src/manifest"), "manifest.proto"],
      { input: bytes.subarray(9) },
    );
    assert.equal(r.status, 0, String(r.stderr));
    const text = String(r.stdout);
    assert.match(text, /key: "merutable\.format_version"\n\s+value: "3"/);
    // protoc prints the JSON as a C-escaped string; unescape it and compare.
    const value = /key: "merutable\.schema\.json"\n\s+value: "((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
    assert.equal(value?.replace(/\\"/g, '"').replace(/\\\\/g, "\\"), EVENTS_JSON);
    assert.match(text, /path: "data\/L0\/a\.parquet"/);
  });

  it("schema validation on write names the field: InvalidArgument, nothing written", async () => {
    const bad: Array<[string, unknown]> = [
      ["schema", "events"],
      ["schema.columns", { ...EVENTS_SCHEMA, columns: [] }],
      ["schema.table_name", { ...EVENTS_SCHEMA, table_name: 7 }],
      [
        "schema.columns[0].col_type",
        { ...EVENTS_SCHEMA, columns: [{ name: "id", col_type: "Int128", nullable: false }] },
      ],
      [
        "schema.columns[0].col_type.FixedLenByteArray",
        { ...EVENTS_SCHEMA, columns: [{ name: "id", col_type: { FixedLenByteArray: 0 }, nullable: false }] },
      ],
      [
        "schema.columns[1].nullable",
        { ...EVENTS_SCHEMA, columns: [EVENTS_SCHEMA.columns[0], { name: "p", col_type: "Int32" }] },
      ],
      ["schema.primary_key", { ...EVENTS_SCHEMA, primary_key: [] }],
      ["schema.primary_key[0]", { ...EVENTS_SCHEMA, primary_key: [2] }],
      ["schema.primary_key[1]", { ...EVENTS_SCHEMA, primary_key: [0, 0] }],
      ["schema.primary_key[0]", { ...EVENTS_SCHEMA, primary_key: [1] }], // payload is nullable
      [
        "schema.columns[1].field_id",
        {
          ...EVENTS_SCHEMA,
          last_column_id: 5,
          columns: [
            { ...EVENTS_SCHEMA.columns[0], field_id: 3 },
            { ...EVENTS_SCHEMA.columns[1], field_id: 3 },
          ],
        },
      ],
      [
        "schema.columns[1].write_default",
        {
          ...EVENTS_SCHEMA,
          columns: [EVENTS_SCHEMA.columns[0], { ...EVENTS_SCHEMA.columns[1], write_default: 5 }],
        },
      ],
    ];
    const s = new MemoryStore();
    for (const [name, schema] of bad) {
      await assertRejectsOption(name, [schema], (x) => Catalog.open(s, { schema: x }));
    }
    assert.equal(await codeOf(s.head(manifestKey(1))), "NotFound");
    const message = await Catalog.open(s, { schema: { ...EVENTS_SCHEMA, primary_key: [1] } }).then(
      () => "",
      (e: Error) => e.message,
    );
    assert.match(message, /primary-key columns must not be/);
  });

  it("field ids are assigned as merutable's validate() does; a complete, valid schema is kept as given", () => {
    const s = checkTableSchema({
      table_name: "t",
      last_column_id: 7,
      columns: [
        { name: "a", col_type: { FixedLenByteArray: 16 }, nullable: false, field_id: 3 },
        { name: "b", col_type: "Double", nullable: true },
        { name: "c", col_type: "Boolean", nullable: true, write_default: { Boolean: true } },
      ],
      primary_key: [0],
    });
    assert.deepEqual(
      s.columns.map((c) => c.field_id),
      [3, 8, 9],
    );
    assert.equal(s.last_column_id, 9);
    assert.deepEqual(checkTableSchema(JSON.parse(schemaJson(s))), s, "normalised: a fixed point");
  });

  it("an existing table's schema must be kept or extended as merutable allows", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s, { schema: EVENTS_SCHEMA });
    await c.commit({ add: [file("data/a")] });
    const renamed: TableSchema = { ...EVENTS_SCHEMA, table_name: "logs" };
    const reordered: TableSchema = {
      ...EVENTS_SCHEMA,
      columns: [...EVENTS_SCHEMA.columns.slice(0, 1), { name: "x", col_type: "ByteArray", nullable: true }],
    };
    const required: TableSchema = {
      ...EVENTS_SCHEMA,
      columns: [...EVENTS_SCHEMA.columns, { name: "n", col_type: "Int32", nullable: false }],
    };
    for (const schema of [renamed, reordered, required]) {
      assert.equal(await codeOf(Catalog.open(s, { schema })), "InvalidArgument", schema.table_name);
    }
    // Appending a nullable column is merutable's additive evolution: accepted, written.
    const added: TableSchema = {
      ...EVENTS_SCHEMA,
      columns: [...EVENTS_SCHEMA.columns, { name: "note", col_type: "ByteArray", nullable: true }],
    };
    const evolved = await Catalog.open(s, { schema: added });
    await evolved.commit({ add: [file("data/b")] });
    const got = readTableSchema(await evolved.manifest(2), manifestKey(2));
    assert.deepEqual(
      got?.columns.map((x) => [x.name, x.field_id]),
      [
        ["id", 1],
        ["payload", 2],
        ["note", 3],
      ],
    );
  });

  it("a malformed schema property is Corrupt when read: a commit never carries it forward", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s, { schema: EVENTS_SCHEMA });
    await c.commit({ add: [file("data/a")] });
    const m = await c.manifest(1);
    for (const raw of ["{not json", '{"table_name":"t","columns":[],"primary_key":[0]}']) {
      const t = new MemoryStore();
      await t.put(
        manifestKey(1),
        encodeManifest({ ...m, properties: { ...m.properties, [SCHEMA_PROPERTY]: raw } }),
      );
      const writer = await Catalog.open(t);
      const e = await writer.commit({ add: [file("data/b")] }).then(
        () => undefined,
        (x: Error) => x,
      );
      assert.match(
        String(e?.message),
        /^\[Corrupt\] metadata\/v1\.manifest\.bin: property merutable\.schema\.json/,
      );
      assert.equal(await codeOf(Catalog.open(t, { schema: EVENTS_SCHEMA })), "Corrupt");
    }
  });

  it("the catalog owns the schema properties; a table without a schema keeps working", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s);
    for (const key of [SCHEMA_PROPERTY, FORMAT_VERSION_PROPERTY]) {
      assert.equal(
        await codeOf(c.commit({ add: [file("data/a")], properties: { [key]: "x" } })),
        "InvalidArgument",
      );
    }
    assert.equal(await c.commit({ add: [file("data/a")] }), 1);
    assert.equal((await c.manifest(1)).properties[SCHEMA_PROPERTY], undefined);
  });
});
