/**
 * Deep verification in slices: one version's files checked a bounded number
 * at a time, each call resuming where the last stopped, so a caller with a
 * hard limit per invocation (a Worker's alarm: its subrequests and CPU) can
 * verify a table of any size over many invocations, keeping only the cursor
 * between them. The checks are deep verification's own (`verify.ts`): the
 * first slice also checks the manifest (its recorded checksum, its schema,
 * its chain link), every slice reads its files whole and hashes them
 * against the version's checksum record, reads each data file as merutable
 * reads it and checks the deletion vectors of its data files.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { checkNumber } from "../options.ts";
import type { Sha256Factory } from "../store/checksum.ts";
import { compareKeys } from "../store/keys.ts";
import type { ObjectStore } from "../store/types.ts";
import { checkFiles, checkManifest, type DeepProblem, DeepRun, recordOf } from "./verify.ts";

/** Options of {@link verifyDeepSlice}. */
export interface DeepSliceOptions {
  /** The version being verified (a drill pins its HEAD when it starts). */
  version: number;
  /**
   * Where to resume: the index of the first file to check, in the version's
   * files (every file it names) sorted by path; 0 starts the version and
   * checks its manifest too.
   */
  from: number;
  /** At most this many files (at least one is checked). */
  maxFiles: number;
  /** And at most about this many bytes, by the sizes the manifest gives (at least one file is checked). */
  maxBytes?: number;
  /** Files read at once (default 4). */
  parallelism?: number;
  /** Makes the SHA-256 hashers (default: the runtime's native incremental digest where there is one). */
  sha256?: Sha256Factory;
}

/** What one slice found, and where the next one starts. */
export interface DeepSliceResult {
  version: number;
  /** Files the version names (data files, deletion vectors, delete files). */
  total: number;
  /** Where the next slice starts: `total` when the version is done. */
  next: number;
  /** Files read and hashed by this slice. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** What this slice found wrong, each naming the file (or manifest) and what is wrong. */
  problems: DeepProblem[];
  /** Files (and the manifest) of this slice without a recorded SHA-256. */
  unrecorded: string[];
  /** The manifest is not what its key promises (a merutable mirror's race): checked all the same. */
  anomalies: string[];
}

/** The files of `version` a slice from `from` checks: up to `maxFiles`, and about `maxBytes`. */
function sliceOf(files: LiveFile[], from: number, maxFiles: number, maxBytes: number): LiveFile[] {
  const out: LiveFile[] = [];
  let bytes = 0;
  for (let i = from; i < files.length && out.length < maxFiles; i++) {
    const f = files[i] as LiveFile;
    const size = f.size ?? f.minSize;
    if (out.length > 0 && bytes + size > maxBytes) break;
    out.push(f);
    bytes += size;
  }
  return out;
}

/**
 * One slice of a deep verification of `opts.version` on `store`, from the
 * mirror alone: the manifest's checks when `from` is 0, then the next files
 * (see {@link DeepSliceOptions}). A slice makes about 3 requests of its own
 * (the retention boundary, the checksum record, the manifest) and per file
 * one GET of its bytes, and for a data file its footer and at most two row
 * groups' first or last page, and its deletion vector.
 *
 * A manifest that is not on the store is a problem (`missing`), like any
 * file: a drill verifies a version it saw there.
 *
 * @throws TidemarkError `NotFound` when the version lies below the mirror's
 *   retention boundary, before or while it is read (naming the oldest
 *   version retained: a drill starts again from HEAD); `InvalidArgument`
 *   for a bad option; store errors (nothing was judged then: the same slice
 *   can run again).
 */
export async function verifyDeepSlice(store: ObjectStore, opts: DeepSliceOptions): Promise<DeepSliceResult> {
  checkNumber("version", opts.version, { min: 1 });
  checkNumber("from", opts.from, { min: 0 });
  checkNumber("maxFiles", opts.maxFiles, { min: 1 });
  const maxBytes =
    opts.maxBytes === undefined
      ? Number.POSITIVE_INFINITY
      : checkNumber("maxBytes", opts.maxBytes, { min: 1 });
  const run = new DeepRun(store, {
    deep: true,
    ...(opts.parallelism !== undefined ? { parallelism: opts.parallelism } : {}),
    ...(opts.sha256 !== undefined ? { sha256: opts.sha256 } : {}),
  });
  const { version } = opts;
  await run.table.checkRetained(version);
  const record = await recordOf(run, version);
  const result: DeepSliceResult = {
    version,
    total: 0,
    next: 0,
    files: 0,
    bytes: 0,
    problems: run.problems,
    unrecorded: [],
    anomalies: run.anomalies,
  };
  let manifest: Awaited<ReturnType<typeof checkManifest>>;
  if (opts.from === 0) {
    manifest = await checkManifest(run, version, record.sums);
  } else {
    try {
      manifest = await run.table.readManifestIfExists(version);
    } catch (e) {
      // Damaged since the first slice checked it: named, and the version ends here.
      if (!isTidemarkError(e, "Corrupt")) throw e;
      run.problem(
        run.table.manifestKey(version),
        "manifest",
        e.message.replace(/^\[Corrupt\] /, ""),
        version,
      );
      return result;
    }
    if (manifest === undefined) {
      await run.table.checkRetained(version);
      run.problem(
        run.table.manifestKey(version),
        "missing",
        `the manifest of v${version} is not on the store`,
        version,
      );
      return result;
    }
  }
  if (manifest === undefined) {
    if (!run.problems.some((p) => p.kind === "missing")) return result;
    // Missing: expired meanwhile (then say so), else damage.
    await run.table.checkRetained(version);
    return result;
  }
  const files = referencedFiles(manifest.manifest).sort((a, b) => compareKeys(a.path, b.path));
  result.total = files.length;
  if (opts.from > files.length) {
    throw new TidemarkError(
      "InvalidArgument",
      `from ${opts.from} is past v${version}'s ${files.length} files`,
    );
  }
  const slice = sliceOf(files, opts.from, opts.maxFiles, maxBytes);
  await checkFiles(run, version, manifest.manifest, record.sums, slice);
  // A file gone because retention expired the version meanwhile: expired, not damaged.
  if (run.problems.some((p) => p.kind === "missing")) await run.table.checkRetained(version);
  result.next = opts.from + slice.length;
  result.files = run.verdicts.size;
  result.bytes = run.progress.bytes;
  result.unrecorded = [...run.unrecorded].sort();
  return result;
}
