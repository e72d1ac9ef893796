/**
 * The rows of one user key that a merge gathers from a version's files (or
 * from two versions' files, for a diff), and what the table makes of them:
 * the row that decides the key on a side ({@link winner}) and the verdict
 * on each row ({@link verdicts}: kept, shadowed, tombstone, deletion
 * vector), merutable's read path applied to one key. Apart from the merge
 * (`merge.ts`) that finds the rows: reads, diffs and an Iceberg view's
 * position deletes all decide by these rules.
 *
 * @module
 */
import type { DataFile, GroupReader } from "./data-file.ts";
import type { DeletionVector } from "./deletion-vector.ts";
import { OP_PUT, splitInternalKey } from "./ikey.ts";

/** A data file in a merge. */
export interface MergeSource {
  file: DataFile;
  /** Bit 0: live on side 0 (the version read; A of a diff); bit 1: on side 1 (B). */
  sides: number;
  /** Its deletion vector on each side, if any. */
  dvs: [DeletionVector | undefined, DeletionVector | undefined];
}

/** One row the merge visited, as an object. */
export interface MergeEntry {
  source: MergeSource;
  group: GroupReader;
  /** Row of the group. */
  row: number;
  /** File-global row position (what deletion vectors and Iceberg position deletes name). */
  position: number;
  /** {@link OP_PUT} or a delete. */
  op: number;
  ikey: Uint8Array;
}

/** The sequence number of a row (from its internal key's tag). */
export function seqOf(e: MergeEntry): bigint {
  return splitInternalKey(e.ikey).seq;
}

/** The rows of one user key, newest first. */
export interface KeyGroup {
  userKey: Uint8Array;
  entries: MergeEntry[];
}

/** Whether the row at `position` is hidden on `side` by the source's deletion vector. */
export function hiddenOn(e: MergeEntry, side: 0 | 1): boolean {
  return e.source.dvs[side]?.has(e.position) ?? false;
}

/** The row that decides `group`'s key on `side`: the newest live, unmarked row; `undefined` if none. */
export function winner(group: KeyGroup, side: 0 | 1): MergeEntry | undefined {
  const bit = 1 << side;
  for (const e of group.entries) if (e.source.sides & bit && !hiddenOn(e, side)) return e;
  return undefined;
}

/** What the table makes of a row it holds: see {@link verdicts}. */
export type RowVerdict = "kept" | "shadowed" | "tombstone" | "dv";

/**
 * The verdict on each of a group's rows on `side` (rows of files not live
 * there are left out): `dv` a deletion vector marks it; `kept` it is the
 * key's row in the table; `tombstone` it is the delete that makes the key
 * absent; `shadowed` a newer row of its key (or a tombstone) decides.
 */
export function verdicts(group: KeyGroup, side: 0 | 1): Array<[MergeEntry, RowVerdict]> {
  const bit = 1 << side;
  const out: Array<[MergeEntry, RowVerdict]> = [];
  let decided = false;
  for (const e of group.entries) {
    if (!(e.source.sides & bit)) continue;
    if (hiddenOn(e, side)) out.push([e, "dv"]);
    else if (decided) out.push([e, "shadowed"]);
    else {
      decided = true;
      out.push([e, e.op === OP_PUT ? "kept" : "tombstone"]);
    }
  }
  return out;
}
