/**
 * Deep verification of a mirror, from the mirror alone: every file the
 * version(s) name is read whole and hashed against the SHA-256 the mirror
 * recorded when it copied it (`checksums.ts`); a Parquet data file's footer
 * parses, its row count is the manifest's, its first and last keys lie
 * within the manifest's `key_min`/`key_max` and its sequence numbers within
 * `seq_min`/`seq_max`; each deletion vector decodes and points inside its
 * file; each manifest's checksum, schema and chain link hold. Every problem
 * names the file and what is wrong. Bodies are streamed (never held whole),
 * a few files at a time; a file named by several versions is read once.
 *
 * The per-file checks reuse the table reader's own pieces (`DataFile`,
 * `readDeletionVector`, `splitInternalKey`), so a file passes here exactly
 * when the rows reader could read it.
 *
 * @module
 */
import { builtOn, decodeAt, type ManifestFile, manifestAnomaly } from "../catalog/chain.ts";
import { parseManifestKey } from "../catalog/layout.ts";
import { parsePosixManifestKey } from "../catalog/posix.ts";
import { readTableSchema, SCHEMA_PROPERTY } from "../catalog/schema.ts";
import { type TableReader, tableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { type LiveFile, referencedFiles } from "../manifest/live.ts";
import { numberOption } from "../options.ts";
import { forEachLimit } from "../store/batch.ts";
import { defaultSha256, hashStream, type Sha256Factory, sha256Hex } from "../store/checksum.ts";
import { bytesIfExists, getIfExists, headIfExists } from "../store/exists.ts";
import { capabilitiesOf, type ObjectStore, storeId } from "../store/types.ts";
import { type Checksums, checksumsKey, decodeChecksums, writeChecksums } from "./checksums.ts";
import { sizeFits } from "./copy.ts";
import { proveOrigin } from "./origin.ts";
import { checkDataFile, checkDeletionVector, entriesOf } from "./verify-data.ts";

/** What is wrong with one file or manifest. */
export type DeepProblemKind =
  /** Not on the store. */
  | "missing"
  /** Another size than its manifest says (a truncated file). */
  | "size"
  /** Its bytes are not the SHA-256 recorded for them (or the checksum its store keeps disagrees). */
  | "checksum"
  /** Not a Parquet file merutable reads, or its row count is not the manifest's. */
  | "parquet"
  /** A key outside the manifest's `key_min`/`key_max`. */
  | "keys"
  /** A sequence number outside the manifest's `seq_min`/`seq_max`. */
  | "sequence"
  /** A deletion vector that does not decode or points outside its file or past the data file's rows. */
  | "deletion-vector"
  /** A manifest that does not decode or is not what its key promises. */
  | "manifest"
  /** A manifest not built on the one below it on the mirror (`tidemark.previous.sha256`). */
  | "chain"
  /** No valid `merutable.schema.json` (merutable cannot open the version; restore refuses it). */
  | "schema"
  /** A checksum record that does not decode, or two that disagree. */
  | "record";

/** One problem deep verification found: the file (or manifest) and what is wrong. */
export interface DeepProblem {
  key: string;
  kind: DeepProblemKind;
  /** What is wrong, in words (naming the expected and found values). */
  detail: string;
  /** The versions that name the file (the first one checked, for a file several versions share). */
  version: number;
}

/** Options of a deep {@link verifyMirror}. */
export interface DeepVerifyOptions {
  deep: true;
  /** The version to check (default: HEAD). */
  version?: number;
  /**
   * Check every version the store retains (its manifests, listed, at or above
   * a mirror's retention boundary; a store that cannot list: the chain from
   * HEAD down to that boundary). A version a retention pass expires while it
   * is checked is left out, not reported as damaged.
   */
  all?: boolean;
  /** Files read at once (default 4). */
  parallelism?: number;
  /** Makes the SHA-256 hashers (default: pure JS; `nodeSha256` from `tidemark/node` on Node). */
  sha256?: Sha256Factory;
  /**
   * Record the checksums the mirror lacks (files it copied before mirrors
   * recorded them), each file first proven the source's bytes
   * (`proveOrigin`), each manifest byte-identical to the source's: only with
   * the mirror's source.
   */
  adopt?: { source: ObjectStore; sourceId?: string };
  /** Told how far it is: after each file and version. */
  onProgress?: (p: DeepVerifyProgress) => void;
}

/** How far a deep verification is. */
export interface DeepVerifyProgress {
  versionsDone: number;
  versionsTotal: number;
  /** Distinct files read so far, of those named by the versions read so far. */
  filesDone: number;
  filesTotal: number;
  bytes: number;
}

/** What a deep verification found. */
export interface DeepVerifyResult {
  /** `ok`: nothing wrong and everything checked; `damaged`: problems; `unchecked`: nothing wrong, but files whose checksums were never recorded. */
  status: "ok" | "damaged" | "unchecked";
  /** The versions checked, ascending (empty: the store holds no snapshot). */
  versions: number[];
  /** Distinct files read and hashed (manifests aside). */
  files: number;
  /** Their bytes. */
  bytes: number;
  problems: DeepProblem[];
  /**
   * Files (and manifests) with no SHA-256 recorded: copied before mirrors
   * recorded checksums (their bytes were read, and the other checks made).
   */
  unrecorded: string[];
  /** Checksums recorded by `adopt` (files and manifests). */
  adopted: string[];
  /** Versions whose manifest is not what its key promises (a merutable mirror's race): checked all the same. */
  anomalies: string[];
}

/** What was found of one file, once: its SHA-256 and size (undefined: it is missing). */
interface FileVerdict {
  sha256: string | undefined;
  size: number | undefined;
}

/** The verification run: what every version's files share. */
export class DeepRun {
  readonly store: ObjectStore;
  readonly table: TableReader;
  readonly hasher: Sha256Factory;
  readonly parallelism: number;
  readonly opts: DeepVerifyOptions;
  readonly problems: DeepProblem[] = [];
  readonly unrecorded = new Set<string>();
  readonly adopted: string[] = [];
  readonly anomalies: string[] = [];
  /** Files read (once each). */
  readonly verdicts = new Map<string, Promise<FileVerdict>>();
  /** Deletion vectors checked (once each: data file, Puffin file, offset). */
  readonly dvs = new Set<string>();
  readonly progress: DeepVerifyProgress = {
    versionsDone: 0,
    versionsTotal: 0,
    filesDone: 0,
    filesTotal: 0,
    bytes: 0,
  };
  readonly #reported = new Set<string>();

  constructor(store: ObjectStore, opts: DeepVerifyOptions) {
    this.store = store;
    this.table = tableReader(store);
    this.hasher = opts.sha256 ?? defaultSha256;
    this.parallelism = numberOption("parallelism", opts.parallelism, 4, { min: 1, max: 64 });
    this.opts = opts;
  }

  problem(key: string, kind: DeepProblemKind, detail: string, version: number): void {
    // A problem found once is reported once (a file several versions name).
    const id = `${kind}\u0000${key}\u0000${detail}`;
    if (this.#reported.has(id)) return;
    this.#reported.add(id);
    this.problems.push({ key, kind, detail, version });
  }

  tick(): void {
    this.opts.onProgress?.({ ...this.progress });
  }

  /** Reads `file` whole once (streamed) and hashes it: its SHA-256 and size, `undefined` when missing. */
  read(file: LiveFile, version: number): Promise<FileVerdict> {
    let v = this.verdicts.get(file.path);
    if (v === undefined) {
      this.progress.filesTotal++;
      v = this.#hash(file, version);
      this.verdicts.set(file.path, v);
    }
    return v;
  }

  async #hash(file: LiveFile, version: number): Promise<FileVerdict> {
    const got = await getIfExists(this.store, file.path, { checksum: true });
    if (got === undefined) {
      this.problem(file.path, "missing", "not on the store", version);
      this.progress.filesDone++;
      this.tick();
      return { sha256: undefined, size: undefined };
    }
    let size = 0;
    const sha256 = await hashStream(got.body, this.hasher, (n) => {
      size += n;
      this.progress.bytes += n;
    });
    if (got.sha256 !== undefined && got.sha256 !== sha256) {
      this.problem(
        file.path,
        "checksum",
        `its bytes have SHA-256 ${sha256}, the checksum its store keeps with it is ${got.sha256}`,
        version,
      );
    }
    if (!sizeFits(file, size)) {
      const want = file.size !== undefined ? `${file.size} bytes` : `at least ${file.minSize} bytes`;
      this.problem(
        file.path,
        "size",
        `${size} bytes, the manifest says ${want} (truncated or replaced)`,
        version,
      );
    }
    this.progress.filesDone++;
    this.tick();
    return { sha256, size };
  }
}

/**
 * The versions to check: one (refused below a mirror's retention boundary,
 * naming the oldest version retained), or every manifest the store holds
 * at or above that boundary (below it, a retention pass is deleting them).
 */
async function versionsToCheck(run: DeepRun): Promise<number[]> {
  const { table, store, opts } = run;
  if (!opts.all) {
    const v = opts.version ?? (await table.head());
    if (v !== 0) await table.checkRetained(v);
    return v === 0 ? [] : [v];
  }
  const head = await table.head();
  if (head === 0) return [];
  const boundary = await table.retentionBoundary();
  const found = new Set<number>();
  if (capabilitiesOf(store).list) {
    for await (const m of store.list("metadata/v")) {
      if (table.layout === "posix") {
        const p = parsePosixManifestKey(m.key);
        if (p?.kind === "pb") found.add(p.version);
      } else {
        const n = parseManifestKey(m.key);
        if (n !== undefined) found.add(n);
      }
    }
  } else {
    for await (const s of table.snapshots(head)) found.add(s.version);
  }
  return [...found].filter((v) => v >= boundary).sort((a, b) => a - b);
}

/** The checksum record of `version` (object-store layout only), or undefined; a bad one is a problem. */
export async function recordOf(
  run: DeepRun,
  version: number,
): Promise<{ sums: Checksums | undefined; etag?: string }> {
  if (run.table.layout === "posix") return { sums: undefined };
  const key = checksumsKey(version);
  const got = await getIfExists(run.store, key);
  if (got === undefined) return { sums: undefined };
  const bytes = await got.bytes();
  try {
    return { sums: decodeChecksums(bytes, key), etag: got.etag };
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(key, "record", e.message.replace(/^\[Corrupt\] /, ""), version);
    return { sums: undefined };
  }
}

/** The manifest checks of one version: it decodes, its checksum, its schema, its chain link. */
export async function checkManifest(
  run: DeepRun,
  version: number,
  sums: Checksums | undefined,
): Promise<ManifestFile | undefined> {
  const key = run.table.manifestKey(version);
  const bytes = await bytesIfExists(run.store, key);
  if (bytes === undefined) {
    run.problem(key, "missing", `the manifest of v${version} is not on the store`, version);
    return undefined;
  }
  const want = sums?.get(key);
  const got = await sha256Hex(bytes);
  if (want === undefined) run.unrecorded.add(key);
  else if (want !== got) {
    run.problem(key, "checksum", `its bytes have SHA-256 ${got}, the mirror recorded ${want}`, version);
  }
  let file: ManifestFile;
  try {
    file = { version, bytes, manifest: decodeAt(key, bytes) };
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(key, "manifest", e.message.replace(/^\[Corrupt\] /, "").replace(`${key}: `, ""), version);
    return undefined;
  }
  const anomaly = manifestAnomaly(file, key);
  if (anomaly !== undefined) run.anomalies.push(anomaly);
  try {
    if (readTableSchema(file.manifest, key) === undefined) {
      run.problem(
        key,
        "schema",
        `carries no ${SCHEMA_PROPERTY}: merutable cannot open v${version} (restore refuses it)`,
        version,
      );
    }
  } catch (e) {
    if (!isTidemarkError(e, "Corrupt")) throw e;
    run.problem(key, "schema", e.message.replace(/^\[Corrupt\] /, ""), version);
  }
  // The chain link: the manifest it names as its predecessor, where the store holds it, is the one it was built on.
  const prev = file.manifest.previousSnapshotId;
  if (anomaly === undefined && prev !== undefined && prev > 0n) {
    let below: ManifestFile | undefined;
    try {
      below = await run.table.readManifestIfExists(Number(prev));
    } catch (e) {
      // A predecessor that does not decode is reported when its own version is checked.
      if (!isTidemarkError(e, "Corrupt") && !isTidemarkError(e, "NotSupported")) throw e;
    }
    if (below !== undefined && !(await builtOn(file.manifest, below))) {
      run.problem(
        key,
        "chain",
        `v${version} was not built on the v${prev} the store holds (its ${"tidemark.previous.sha256"} names other bytes)`,
        version,
      );
    }
  }
  return file;
}

/**
 * Checks `files` of version `version` (all it names, or a slice of them):
 * each read and hashed against `sums` (or adopted), each data file read as
 * merutable reads it, and the deletion vectors of the data files among
 * them (a Puffin file another slice reads is sized by a HEAD). Returns the
 * digests adopted (with `run.opts.adopt`).
 */
export async function checkFiles(
  run: DeepRun,
  version: number,
  manifest: Manifest,
  sums: Checksums | undefined,
  files: LiveFile[],
): Promise<Map<string, string>> {
  const paths = new Set(files.map((f) => f.path));
  const entries = entriesOf(
    run,
    manifest.dataFiles.filter((f) => paths.has(f.path)),
    version,
  );
  const adopted = new Map<string, string>();
  await forEachLimit(files, run.parallelism, async (f) => {
    const first = !run.verdicts.has(f.path);
    const verdict = await run.read(f, version);
    if (verdict.sha256 === undefined) return;
    const want = sums?.get(f.path);
    if (want === undefined) {
      if (await adopt(run, f, version)) adopted.set(f.path, verdict.sha256);
      else run.unrecorded.add(f.path);
    } else if (want !== verdict.sha256) {
      run.problem(
        f.path,
        "checksum",
        `its bytes have SHA-256 ${verdict.sha256}, the mirror recorded ${want} when it copied it`,
        version,
      );
    }
    const entry = entries.get(f.path);
    if (first && f.kind === "data" && entry !== undefined && verdict.size === entry.size) {
      await checkDataFile(run, entry, version);
    }
  });
  // Deletion vectors: once their Puffin files are read (their sizes known), else sized by a HEAD.
  for (const entry of entries.values()) {
    if (entry.dv === undefined) continue;
    const read = run.verdicts.get(entry.dv.path);
    const size =
      read !== undefined ? (await read).size : (await headIfExists(run.store, entry.dv.path))?.size;
    await checkDeletionVector(run, entry, version, size);
  }
  return adopted;
}

/** Checks one version: its manifest, then every file it names (each file read once per run). */
async function checkVersion(run: DeepRun, version: number): Promise<void> {
  const record = await recordOf(run, version);
  const file = await checkManifest(run, version, record.sums);
  if (file === undefined) return;
  const manifestKey = run.table.manifestKey(version);
  const adopted = await checkFiles(run, version, file.manifest, record.sums, referencedFiles(file.manifest));
  if (run.opts.adopt !== undefined) {
    const manifestSha = await sha256Hex(file.bytes);
    if (record.sums?.get(manifestKey) === undefined) {
      if (await sameManifestOnSource(run, version, file.bytes)) adopted.set(manifestKey, manifestSha);
      else {
        run.problem(
          manifestKey,
          "checksum",
          `not adopted: the source's v${version} is missing or holds other bytes (not this mirror's source?)`,
          version,
        );
      }
    }
    if (adopted.size > 0) {
      const sums = new Map(record.sums ?? []);
      for (const [p, h] of adopted) sums.set(p, h);
      await writeChecksums(run.store, version, sums);
      for (const p of adopted.keys()) {
        run.unrecorded.delete(p);
        if (!run.adopted.includes(p)) run.adopted.push(p);
      }
    }
  }
}

/** With `adopt`: `f` proven the source's bytes (then its digest, just computed, is recorded); false without a source or proof. */
async function adopt(run: DeepRun, f: LiveFile, version: number): Promise<boolean> {
  const a = run.opts.adopt;
  if (a === undefined) return false;
  try {
    const onTarget = await run.store.head(f.path);
    await proveOrigin({
      source: a.source,
      target: run.store,
      sourceId: a.sourceId ?? storeId(a.source),
      file: f,
      version,
      onTarget,
    });
    return true;
  } catch (e) {
    if (!isTidemarkError(e, "SplitBrain") && !isTidemarkError(e, "NotFound")) throw e;
    run.problem(f.path, "checksum", `not adopted: ${e.message.replace(/^\[\w+\] /, "")}`, version);
    return false;
  }
}

/** Whether the source holds the same manifest bytes at `version` (what adoption records a manifest's checksum on). */
async function sameManifestOnSource(run: DeepRun, version: number, bytes: Uint8Array): Promise<boolean> {
  const a = run.opts.adopt;
  if (a === undefined) return false;
  const theirs = await tableReader(a.source).readManifestIfExists(version);
  return (
    theirs !== undefined &&
    theirs.bytes.length === bytes.length &&
    theirs.bytes.every((b, i) => b === bytes[i])
  );
}

/**
 * Deep verification (see the module notes): `opts.version` (default HEAD),
 * or every version with `opts.all`; read-only unless `opts.adopt`.
 *
 * @throws TidemarkError `InvalidArgument` for a bad option (`adopt` on a
 *   posix table, or a read-only store); `NotFound` when `opts.version` is
 *   not on the store, or lies below the mirror's retention boundary (naming
 *   the oldest version retained); store errors (`Transient`, `PermissionDenied`...):
 *   nothing was judged then.
 */
export async function verifyDeep(store: ObjectStore, opts: DeepVerifyOptions): Promise<DeepVerifyResult> {
  if (opts.version !== undefined) numberOption("version", opts.version, 1, { min: 1 });
  if (opts.version !== undefined && opts.all) {
    throw new TidemarkError("InvalidArgument", "verify: give a version or all, not both");
  }
  const run = new DeepRun(store, opts);
  const versions = await versionsToCheck(run);
  if (opts.adopt !== undefined) {
    if (run.table.layout === "posix") {
      throw new TidemarkError(
        "InvalidArgument",
        `cannot adopt checksums on ${store.name}: it holds a posix table (a restore, or merutable's primary); adoption records a mirror's checksums`,
      );
    }
    if (!capabilitiesOf(store).write) {
      throw new TidemarkError("InvalidArgument", `cannot adopt checksums on ${store.name}: it is read-only`);
    }
  }
  if (opts.version !== undefined && versions.length === 1 && !(await run.table.exists(opts.version))) {
    throw new TidemarkError("NotFound", `v${opts.version} is not on ${store.name}`, {
      key: run.table.manifestKey(opts.version),
    });
  }
  run.progress.versionsTotal = versions.length;
  const expired = new Set<number>();
  for (const v of versions) {
    const before = run.problems.length;
    await checkVersion(run, v);
    // Missing bytes of a version a retention pass expired meanwhile: expired, not damaged.
    if (run.problems.slice(before).some((p) => p.kind === "missing")) {
      if (!opts.all) await run.table.checkRetained(v);
      else if (v < (await run.table.retentionBoundary())) {
        run.problems.splice(before);
        expired.add(v);
      }
    }
    run.progress.versionsDone++;
    run.tick();
  }
  const unrecorded = [...run.unrecorded].sort();
  const damaged = run.problems.length > 0;
  return {
    status: damaged ? "damaged" : unrecorded.length > 0 ? "unchecked" : "ok",
    versions: versions.filter((v) => !expired.has(v)),
    files: run.verdicts.size,
    bytes: run.progress.bytes,
    problems: run.problems,
    unrecorded,
    adopted: run.adopted,
    anomalies: run.anomalies,
  };
}
