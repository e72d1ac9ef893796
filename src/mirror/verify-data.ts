/**
 * Deep verification's checks of data files as merutable reads them (see
 * verify.ts): a file's first and last keys and its sequence numbers against
 * its manifest entry (the footer's statistics where they settle it, else the
 * first and last row groups' keys), its deletion vector decoded and pointing
 * inside it, and a manifest's entries whose deletion-vector coordinates hold.
 * Each problem is recorded on the run, naming the file.
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { DataFileRef } from "../manifest/gen/manifest_pb.ts";
import { isLive } from "../manifest/live.ts";
import { DataFile, type FileFooter } from "../rows/data-file.ts";
import { type DataFileEntry, dataFileEntry, IKEY_COLUMN } from "../rows/data-file-entry.ts";
import { readDeletionVector } from "../rows/deletion-vector.ts";
import { compareBytes, splitInternalKey } from "../rows/ikey.ts";
import { RangeFile, storeRangeSource } from "../rows/range-file.ts";
import type { DeepRun } from "./verify.ts";

/** The first and last internal keys of a data file, and its sequence range, against its manifest entry. */
export async function checkDataFile(run: DeepRun, entry: DataFileEntry, version: number): Promise<void> {
  const data = new DataFile(entry, new RangeFile(storeRangeSource(run.store, entry.path, entry.size)));
  let footer: FileFooter;
  try {
    footer = await data.footer();
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(entry.path, "parquet", e.message.replace(/^\[Corrupt\] (\S+: )?/, ""), version);
    return;
  }
  if (footer.numRows === 0 || footer.rowGroups.length === 0) return;
  const first = footer.rowGroups[0];
  const last = footer.rowGroups[footer.rowGroups.length - 1];
  if (!first || !last) return;
  // The statistics bound the keys (maybe truncated): read a row group only when they cannot settle it.
  // Only the pages holding that row are read where the file has a page index.
  const ikeyAt = async (index: number, end: "first" | "last"): Promise<Uint8Array> => {
    const g = await data.group(index, [], true);
    const row = end === "first" ? 0 : g.numRows - 1;
    await g.load([{ from: row, to: row + 1 }]);
    const k = g.ikey.get(row);
    if (!(k instanceof Uint8Array)) {
      throw new TidemarkError(
        "Corrupt",
        `row group ${index}: ${IKEY_COLUMN} holds a value that is not bytes`,
      );
    }
    return k.slice();
  };
  const lowest = () => ikeyAt(first.index, "first");
  const highest = () => ikeyAt(last.index, "last");
  try {
    const hasMin = entry.keyMin.length > 0;
    const hasMax = entry.keyMax.length > 0;
    const firstKey = hasMin ? userKeyAtLeast(first.minIkey, entry.keyMin) : undefined;
    const lastKey = hasMax ? userKeyAtMost(exactMax(footer, last.index), entry.keyMax) : undefined;
    const lo = hasMin && !firstKey ? await lowest() : undefined;
    const hi = hasMax && !lastKey ? await highest() : undefined;
    if (lo !== undefined && compareBytes(splitInternalKey(lo, entry.path).userKey, entry.keyMin) < 0) {
      run.problem(entry.path, "keys", "its first key lies below the manifest's key_min", version);
    }
    if (hi !== undefined && compareBytes(splitInternalKey(hi, entry.path).userKey, entry.keyMax) > 0) {
      run.problem(entry.path, "keys", "its last key lies above the manifest's key_max", version);
    }
    const seqMin = footer.seqMin ?? splitInternalKey(lo ?? (await lowest()), entry.path).seq;
    const seqMax = footer.seqMax ?? seqMin;
    if (seqMin < entry.seqMin || seqMax > entry.seqMax) {
      run.problem(
        entry.path,
        "sequence",
        `sequence numbers ${seqMin}..${seqMax}, the manifest says ${entry.seqMin}..${entry.seqMax}`,
        version,
      );
    }
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(entry.path, "parquet", e.message.replace(/^\[Corrupt\] (\S+: )?/, ""), version);
  }
}

/** Whether a statistics lower bound proves the first key at least `keyMin` (undefined: it cannot tell). */
function userKeyAtLeast(minIkey: Uint8Array | undefined, keyMin: Uint8Array): true | undefined {
  // A key is never a proper prefix of another, so comparing an ikey with a user key compares its user key.
  return minIkey !== undefined && compareBytes(minIkey, keyMin) >= 0 ? true : undefined;
}

/** Whether an exact maximum internal key proves the last key at most `keyMax` (undefined: it cannot tell). */
function userKeyAtMost(maxIkey: Uint8Array | undefined, keyMax: Uint8Array): true | undefined {
  if (maxIkey === undefined || maxIkey.length < 8) return undefined;
  return compareBytes(maxIkey.subarray(0, maxIkey.length - 8), keyMax) <= 0 ? true : undefined;
}

/**
 * Row group `index`'s maximum internal key when its statistics say it is
 * exact (a truncated maximum is rounded up, so its user key cannot be cut
 * out of it).
 */
function exactMax(footer: FileFooter, index: number): Uint8Array | undefined {
  const columns = footer.metadata.row_groups[index]?.columns ?? [];
  const stats = columns.find((c) => c.meta_data?.path_in_schema[0] === IKEY_COLUMN)?.meta_data?.statistics;
  if (stats?.is_max_value_exact !== true) return undefined;
  return footer.rowGroups[index]?.maxIkey;
}

/** The deletion vector of data file `entry`: it decodes and points inside its file, below the file's rows. */
export async function checkDeletionVector(
  run: DeepRun,
  entry: DataFileEntry,
  version: number,
  dvSize: number | undefined,
) {
  const dv = entry.dv;
  if (dv === undefined || dvSize === undefined) return;
  const id = `${entry.path}\u0000${dv.path}\u0000${dv.offset}\u0000${dv.length}`;
  if (run.dvs.has(id)) return;
  run.dvs.add(id);
  try {
    await readDeletionVector(
      new RangeFile(storeRangeSource(run.store, dv.path, dvSize)),
      dv,
      entry.path,
      entry.numRows,
    );
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(entry.path, "deletion-vector", e.message.replace(/^\[Corrupt\] (\S+: )?/, ""), version);
  }
}

/** The data-file entries of a manifest, by path (a deletion vector's coordinates checked). */
export function entriesOf(run: DeepRun, refs: DataFileRef[], version: number): Map<string, DataFileEntry> {
  const out = new Map<string, DataFileEntry>();
  for (const f of refs) {
    if (!isLive(f)) continue;
    try {
      out.set(f.path, dataFileEntry(f));
    } catch (e) {
      if (!isTidemarkError(e, "Corrupt")) throw e;
      run.problem(f.path, "deletion-vector", e.message.replace(/^\[Corrupt\] (\S+: )?/, ""), version);
    }
  }
  return out;
}
