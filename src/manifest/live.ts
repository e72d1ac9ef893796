import { FILE_STATUS } from "./codec.ts";
import type { DataFileRef, Manifest } from "./gen/manifest_pb.ts";

/** True when `f` is part of its snapshot (status is not deleted). */
export function isLive(f: DataFileRef): boolean {
  return f.status !== FILE_STATUS.deleted;
}

/** The live data-file entries of `m` (status ≠ deleted), in manifest order. */
export function liveDataFiles(m: Manifest): DataFileRef[] {
  return m.dataFiles.filter(isLive);
}

/**
 * The live file set of snapshot `m`: its data files with status ≠ deleted,
 * each followed by its `dv_path` if any; deduplicated (several entries share
 * one deletion-vector file), in first-seen manifest order.
 */
export function liveFiles(m: Manifest): string[] {
  return liveFileInfo(m).map((f) => f.path);
}

/** One live file of a snapshot and what the manifest says about its size. */
export interface LiveFile {
  /** Path relative to the table root. */
  path: string;
  /**
   * `data`: a data file entry; `dv`: a deletion-vector file named by entries'
   * `dv_path`; `delete`: a delete file (`delete_files`; only in {@link referencedFiles}).
   */
  kind: "data" | "dv" | "delete";
  /**
   * The exact size in bytes: a data or delete file's `file_size`. Undefined
   * for a deletion-vector file: the manifest does not record its size.
   */
  size?: number;
  /**
   * A lower bound on the size: for a deletion-vector file, the largest
   * `dv_offset + dv_length` among the entries referencing it (0 if none say);
   * for a data file, its size.
   */
  minSize: number;
}

/**
 * The live files of `m` (same order as {@link liveFiles}) with what the
 * manifest knows of their sizes: the exact size of data files, a lower bound
 * for deletion-vector files. A path that is both a data file and a dv file is
 * reported once, as data.
 */
export function liveFileInfo(m: Manifest): LiveFile[] {
  const byPath = new Map<string, LiveFile>();
  for (const f of m.dataFiles) {
    if (!isLive(f)) continue;
    const seen = byPath.get(f.path);
    const size = Number(f.fileSize);
    if (seen === undefined || seen.kind === "dv") {
      byPath.set(f.path, { path: f.path, kind: "data", size, minSize: size });
    }
    if (f.dvPath !== undefined) {
      const end = f.dvOffset !== undefined && f.dvLength !== undefined ? Number(f.dvOffset + f.dvLength) : 0;
      const dv = byPath.get(f.dvPath);
      if (dv === undefined) byPath.set(f.dvPath, { path: f.dvPath, kind: "dv", minSize: end });
      else if (dv.kind === "dv" && end > dv.minSize) dv.minSize = end;
    }
  }
  return [...byPath.values()];
}

/**
 * Every file snapshot `m` points at: its live files ({@link liveFileInfo}) and
 * its delete files (`delete_files`, position or equality deletes), each once.
 * This is what a mirror must copy before the manifest and what `verifyMirror`
 * checks, so a reader never meets a manifest naming a missing file; and what
 * expiry must keep.
 */
export function referencedFiles(m: Manifest): LiveFile[] {
  const files = liveFileInfo(m);
  const seen = new Set(files.map((f) => f.path));
  for (const d of m.deleteFiles) {
    if (seen.has(d.path)) continue;
    seen.add(d.path);
    const size = Number(d.fileSize);
    files.push({ path: d.path, kind: "delete", size, minSize: size });
  }
  return files;
}

/** What a snapshot holds: the one set of totals every summary reports (CLI, inspection API, inspector page). */
export interface SnapshotTotals {
  /** Files the snapshot references ({@link referencedFiles}): live data files, deletion vectors, delete files. */
  files: number;
  /**
   * Their bytes: a data or delete file's `file_size`; a deletion vector's
   * size is not in the manifest, so the lower bound the entries give.
   */
  bytes: number;
  /** Rows of the live data files (as the manifest counts them: every version and tombstone a file holds). */
  rows: number;
}

/** The totals of snapshot `m` (see {@link SnapshotTotals}). */
export function snapshotTotals(m: Manifest): SnapshotTotals {
  const files = referencedFiles(m);
  return {
    files: files.length,
    bytes: files.reduce((n, f) => n + (f.size ?? f.minSize), 0),
    rows: liveDataFiles(m).reduce((n, f) => n + Number(f.numRows), 0),
  };
}

/** The live files added and removed between two snapshots (see {@link diffManifests}). */
export interface ManifestDiff {
  /** Live in `b`, not in `a`, in `b`'s order. */
  added: string[];
  /** Live in `a`, not in `b`, in `a`'s order. */
  removed: string[];
}

/**
 * The difference in live files (data files and deletion vectors) from
 * snapshot `a` to snapshot `b`. `a` undefined means the empty table (every
 * file of `b` is added): what a mirror uploads for its first snapshot.
 */
export function diffManifests(a: Manifest | undefined, b: Manifest): ManifestDiff {
  const before = a === undefined ? [] : liveFiles(a);
  const after = liveFiles(b);
  const beforeSet = new Set(before);
  const afterSet = new Set(after);
  return {
    added: after.filter((p) => !beforeSet.has(p)),
    removed: before.filter((p) => !afterSet.has(p)),
  };
}
