/**
 * The user values of a row, decoded by the table's schema from the column
 * chunks of its row group and checked: the key its internal key holds must
 * be the key its typed key columns hold (else `Corrupt`, naming the
 * column). Keeps, per data file and schema, how each column is decoded,
 * and per row group its columns in schema order, so a read of rows plans
 * nothing per row. Apart from `table-rows.ts`, which finds the rows
 * (the merge); this module only makes values of them.
 *
 * @module
 */
import type { ColumnType, TableSchema } from "../catalog/schema.ts";
import { TidemarkError } from "../errors.ts";
import type { ColumnData } from "./column-chunk.ts";
import type { DataFile, GroupReader } from "./data-file.ts";
import { decodeUserKey, type KeyValue, keyColumns, keyHolds } from "./ikey.ts";
import { type ColumnPlan, columnValue, keyAsValue, planColumn, sameValue, type Value } from "./values.ts";

/** Decodes and checks the user values of rows (see the module notes); one per table. */
export class RowDecoder {
  readonly #plans = new WeakMap<DataFile, { schema: TableSchema; plans: ColumnPlan[] }>();
  readonly #readers = new WeakMap<
    GroupReader,
    { schema: TableSchema; columns: Array<ColumnData | undefined> }
  >();

  #plansFor(file: DataFile, schema: TableSchema): ColumnPlan[] {
    const known = this.#plans.get(file);
    if (known?.schema === schema) return known.plans;
    const footer = file.loadedFooter;
    if (!footer) throw new TidemarkError("Unknown", `${file.path}: values read before the footer`);
    const plans = schema.columns.map((c) => planColumn(c, footer.columns.get(c.name), file.path));
    this.#plans.set(file, { schema, plans });
    return plans;
  }

  /**
   * The user values of row `row` of group `g`, checked: the key its
   * internal key holds (`userKey`, bytes `ks` to `ke` of `kbuf`) must be the
   * key its typed columns hold.
   *
   * @throws TidemarkError `Corrupt` when they differ, or a column's values
   *   are not of the schema's type.
   */
  values(
    g: GroupReader,
    row: number,
    schema: TableSchema,
    kbuf: Uint8Array,
    ks: number,
    ke: number,
  ): Value[] {
    const file = g.file;
    const plans = this.#plansFor(file, schema);
    let r = this.#readers.get(g);
    if (r?.schema !== schema) {
      r = { schema, columns: plans.map((p) => g.columns.get(p.name)) };
      this.#readers.set(g, r);
    }
    const columns = r.columns;
    const values: Value[] = new Array(plans.length);
    for (let i = 0; i < plans.length; i++)
      values[i] = columnValue(plans[i] as ColumnPlan, columns[i], row, file.path);
    if (!keyHolds(kbuf, ks, ke, this.#keyTypes(schema), schema.primary_key, values)) {
      this.#checkKey(kbuf.slice(ks, ke), schema, plans, values, file.path, g.firstPosition + row);
    }
    return values;
  }

  readonly #keyTypeCache = new WeakMap<TableSchema, ColumnType[]>();

  /** The key columns' types, in key order. */
  #keyTypes(schema: TableSchema): ColumnType[] {
    let t = this.#keyTypeCache.get(schema);
    if (!t) {
      t = keyColumns(schema).map((c) => c.type);
      this.#keyTypeCache.set(schema, t);
    }
    return t;
  }

  /**
   * Throws `Corrupt` naming the key column whose typed value is not what the
   * internal key says (`userKey`, of the row at `position` of file `path`).
   */
  #checkKey(
    userKey: Uint8Array,
    schema: TableSchema,
    plans: ColumnPlan[],
    values: Value[],
    path: string,
    position: number,
  ): void {
    const key = decodeUserKey(userKey, schema, `${path} row ${position}: _merutable_ikey`);
    schema.primary_key.forEach((idx, i) => {
      const plan = plans[idx] as ColumnPlan;
      const k = keyAsValue(key[i] as KeyValue, plan);
      if (!sameValue(k, values[idx] ?? null)) {
        throw new TidemarkError(
          "Corrupt",
          `${path} row ${position}: key column ${plan.name} holds ${show(values[idx] ?? null)}, its _merutable_ikey says ${show(k)}`,
          { key: path },
        );
      }
    });
  }
}

function show(v: Value): string {
  if (v instanceof Uint8Array) return `0x${Array.from(v, (x) => x.toString(16).padStart(2, "0")).join("")}`;
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}
