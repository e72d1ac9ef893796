/**
 * The delete-file bookkeeping of an Iceberg view, version by version: which
 * rows a version newly deletes (and which come back), and so which of the
 * view's position-delete files stay, leave (their data files all left the
 * table), are rewritten (they name a row that came back, or there are too
 * many files), and which one file the version writes. The Parquet codec of
 * delete files loads when a version first needs it.
 *
 * @module
 */
import type { RowVerdict } from "../rows/key-group.ts";
import type { TableRows } from "../rows/table-rows.ts";
import type { PositionDelete } from "./deletes.ts";
import { contentHash, type ViewFiles } from "./view-files.ts";
import type { LiveData, LiveDelete, ViewState } from "./view-state.ts";

/** The rows whose verdict version `v` changes. */
export interface ChangedRows {
  /** Rows the table no longer holds at `v` (deleted, shadowed, tombstones), as the view names them. */
  adds: PositionDelete[];
  /** Rows it holds again (`${mirror key}\0${position}`): the delete files naming them are rewritten. */
  back: Set<string>;
}

const notKept = (v: RowVerdict | undefined) => v !== undefined && v !== "kept";

/**
 * The rows whose verdict version `v` changes since the view's version
 * (`s.version`): every row not kept, for the first version
 * (`TableRows.classify`); the rows whose verdict changed, after it
 * (`TableRows.reclassify`: the new files whole, of the others only the row
 * groups holding their keys).
 */
export async function changedRows(
  s: ViewState,
  v: number,
  rows: TableRows,
  files: ViewFiles,
): Promise<ChangedRows> {
  const where = files.where;
  const adds: PositionDelete[] = [];
  const back = new Set<string>();
  if (s.version === 0) {
    const c = await rows.classify({ version: v });
    for await (const r of c.rows) {
      if (r.verdict !== "kept") adds.push({ path: where.of(r.path), pos: r.position });
    }
  } else {
    for await (const r of await rows.reclassify(s.version, v)) {
      if (notKept(r.after) && !notKept(r.before)) adds.push({ path: where.of(r.path), pos: r.position });
      else if (r.after === "kept" && notKept(r.before)) back.add(`${r.path}\u0000${r.position}`);
    }
  }
  return { adds, back };
}

/** The delete files of a version. */
export interface NextDeletes {
  /** Live at the version: the ones kept, and the fresh one. */
  deletes: LiveDelete[];
  /** The one the version wrote, if any. */
  fresh: LiveDelete | undefined;
  /** Live before, not now: retired (their data files left) or rewritten into the fresh one. */
  gone: LiveDelete[];
}

/**
 * The delete files of version `v`, whose live data files are `data`: the
 * ones whose data files all left go; the ones naming a row that came back,
 * or all of them when there would be more than `maxDeleteFiles`, are
 * rewritten with `changed.adds` into one new file, written now (named by its
 * content).
 */
export async function nextDeleteFiles(
  files: ViewFiles,
  s: ViewState,
  v: number,
  data: ReadonlyMap<string, LiveData>,
  changed: ChangedRows,
  maxDeleteFiles: number,
): Promise<NextDeletes> {
  const { adds, back } = changed;
  const retired: LiveDelete[] = [];
  let kept: LiveDelete[] = [];
  for (const d of s.deletes) {
    if ([...d.targets].some((t) => data.has(t))) kept.push(d);
    else retired.push(d);
  }
  const backFiles = new Set([...back].map((b) => b.slice(0, b.indexOf("\u0000"))));
  const rewrite = kept.filter(
    (d) =>
      kept.length + (adds.length > 0 ? 1 : 0) > maxDeleteFiles ||
      [...d.targets].some((t) => backFiles.has(t)),
  );
  kept = kept.filter((d) => !rewrite.includes(d));
  const positions = [...adds];
  for (const d of rewrite) {
    for (const r of await files.readDeletes(d.key)) {
      const k = files.mirrorKey(r.path);
      if (data.has(k) && !back.has(`${k}\u0000${r.pos}`)) positions.push(r);
    }
  }
  let fresh: LiveDelete | undefined;
  if (positions.length > 0) {
    const { encodeDeleteFile } = await import("./deletes.ts");
    const { bytes, rows: sorted } = encodeDeleteFile(positions);
    const key = `deletes/${v}-${await contentHash(bytes)}-deletes.parquet`;
    await files.put(key, bytes);
    fresh = {
      key,
      size: bytes.length,
      records: sorted.length,
      snapshot: v,
      seq: v,
      targets: new Set(sorted.map((r) => files.mirrorKey(r.path))),
      lower: sorted[0]?.path ?? "",
      upper: sorted.at(-1)?.path ?? "",
    };
  }
  return { deletes: fresh ? [...kept, fresh] : kept, fresh, gone: [...retired, ...rewrite] };
}
