/**
 * A merutable table for the Iceberg view's readers beyond the rows
 * scenarios (test/contract/rows.contract.ts): rows that come back when the
 * row shadowing them leaves, enough delete files to be rewritten into one,
 * and a gap in the mirror (a version whose manifest is gone, as a mirror
 * records one).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TableSchema } from "../../src/catalog/schema.ts";
import { type FixtureValue, RowsFixture } from "./rows-fixture.ts";

/** The versions of {@link writeComebackTable}'s table a view has: version 6 is the gap. */
export const COMEBACK_VERSIONS = [1, 2, 3, 4, 5, 7];

/**
 * Writes the table under a new directory in `parent` (object-store layout)
 * with `python` (pyarrow; `dv`: Java's RoaringBitmap writes a deletion
 * vector at v4), then removes v6's manifest. Key 3's row of v1 comes back
 * at v5; v7 is one compacted file with no deletes left.
 */
export function writeComebackTable(
  python: string,
  parent: string,
  dv: boolean,
): { fx: RowsFixture; dir: string } {
  const schema: TableSchema = {
    table_name: "back",
    columns: [
      { name: "id", col_type: "Int64", nullable: false },
      { name: "v", col_type: "ByteArray", nullable: true },
    ],
    primary_key: [0],
  };
  const fx = new RowsFixture(schema, { stringColumns: ["v"] });
  const put = (id: bigint, v: string) => ({ put: [id, v] as FixtureValue[] });
  fx.flush(
    [1n, 2n, 3n, 4n, 5n, 6n].map((id) => put(id, `a${id}`)),
    { rowGroupSize: 2 },
  ); // v1
  fx.flush([put(1n, "b1"), put(2n, "b2")]); // v2: shadows two rows of v1's file
  fx.flush([{ del: [3n, "a3"] }, put(4n, "b4")]); // v3: a tombstone, an update
  fx.flush([put(5n, "b5")], dv ? { dvOver: ["data/L0/f1.parquet"] } : {}); // v4: a deletion vector on v1's file
  // v5: v3's file compacted alone, its tombstone dropped: key 3's row in v1's file is the table's again.
  fx.compact({ inputs: ["data/L0/f3.parquet"], level: 1, dropTombstones: true });
  fx.flush([put(6n, "b6")]); // v6: the mirror will not have it
  fx.compact({ level: 2, dropTombstones: true }); // v7: one file, no deletes left
  const dir = mkdtempSync(join(parent, "back-"));
  fx.write(python, dir, "object-store");
  rmSync(join(dir, "metadata/v6.manifest.bin"));
  return { fx, dir };
}
