/**
 * What a table's reads of rows keep because it stays true: each version's
 * manifest, schema and live files; each data file (its footer and page
 * index, read at most once); each deletion vector; and the requests and
 * bytes all of them made. It also turns versions into the sources of a
 * merge (one version's files; or two versions' files, those that differ
 * read whole, the others only for the keys those hold). Apart from
 * `table-rows.ts`, which reads rows and their history through it, so that
 * what is read once and kept is in one place: the next page of rows, or
 * the next diff, reads no footer again.
 *
 * @module
 */
import { readTableSchema, type TableSchema } from "../catalog/schema.ts";
import type { TableReader } from "../catalog/table.ts";
import { TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { liveDataFiles } from "../manifest/live.ts";
import { numberOption } from "../options.ts";
import { DataFile } from "./data-file.ts";
import { type DataFileEntry, dataFileEntry } from "./data-file-entry.ts";
import { type DeletionVector, readDeletionVector } from "./deletion-vector.ts";
import type { MergeSource } from "./key-group.ts";
import { RangeFile, type RangeSource } from "./range-file.ts";

/** What a version is made of. */
export interface VersionView {
  version: number;
  manifest: Manifest;
  schema: TableSchema;
  /** Its live data files. */
  files: DataFileEntry[];
}

/** Requests and bytes a table's reads have made. */
export interface ReadStats {
  requests: number;
  bytesRead: number;
  /** Footers parsed. */
  footers: number;
  /** Of the requests, those that read footers and page indexes (once per file). */
  footerRequests: number;
  /** Row groups read. */
  rowGroups: number;
}

function fileId(e: DataFileEntry): string {
  return `${e.path}\u0000${e.size}`;
}

function dvId(e: DataFileEntry): string {
  return e.dv ? `${e.dv.path}\u0000${e.dv.offset}\u0000${e.dv.length}` : "";
}

/**
 * The versions, data files and deletion vectors of one table, each read at
 * most once (a failed read is tried again the next time it is wanted).
 */
export class TableFiles {
  readonly table: TableReader;
  readonly #footerBytes: number;
  readonly #source: (path: string, size: number) => RangeSource;
  readonly #files = new Map<string, DataFile>();
  readonly #puffins = new Map<string, RangeFile>();
  readonly #dvs = new Map<string, Promise<DeletionVector>>();
  readonly #versions = new Map<number, Promise<VersionView>>();

  /**
   * `footerBytes`: bytes of the first read of each file's tail (validated
   * by the caller); `source`: where a file's bytes come from.
   */
  constructor(table: TableReader, footerBytes: number, source: (path: string, size: number) => RangeSource) {
    this.table = table;
    this.#footerBytes = footerBytes;
    this.#source = source;
  }

  /** Requests and bytes read so far (every file and deletion vector). */
  stats(): ReadStats {
    let requests = 0;
    let bytesRead = 0;
    let footers = 0;
    let footerRequests = 0;
    let rowGroups = 0;
    for (const f of this.#files.values()) {
      requests += f.file.requests;
      bytesRead += f.file.bytesRead;
      rowGroups += f.groupsRead;
      if (f.loadedFooter) footers++;
      footerRequests += f.metaRequests;
    }
    for (const p of this.#puffins.values()) {
      requests += p.requests;
      bytesRead += p.bytesRead;
    }
    return { requests, bytesRead, footers, footerRequests, rowGroups };
  }

  /**
   * Version `version` (default HEAD): its manifest, schema and live files.
   *
   * @throws TidemarkError `NotFound` for an empty table or a missing
   *   version; `NotSupported` when the manifest carries no
   *   `merutable.schema.json` (its rows cannot be decoded); `Corrupt` for a
   *   bad schema or deletion-vector coordinates.
   */
  async version(version?: number): Promise<VersionView> {
    if (version === undefined) {
      const head = await this.table.head();
      if (head === 0) {
        throw new TidemarkError("NotFound", `the table on ${this.table.store.name} has no version yet`);
      }
      return this.version(head);
    }
    numberOption("version", version, 1, { min: 1 });
    let p = this.#versions.get(version);
    if (!p) {
      p = this.#load(version);
      this.#versions.set(version, p);
      p.catch(() => this.#versions.delete(version));
    }
    return p;
  }

  async #load(v: number): Promise<VersionView> {
    const manifest = await this.table.manifest(v);
    const key = this.table.manifestKey(v);
    const schema = readTableSchema(manifest, key);
    if (!schema) {
      throw new TidemarkError(
        "NotSupported",
        `${key} carries no merutable.schema.json: its rows cannot be decoded (merutable cannot open it either)`,
        { key },
      );
    }
    return { version: v, manifest, schema, files: liveDataFiles(manifest).map(dataFileEntry) };
  }

  /** The data file `entry` (its footer read at most once per table). */
  dataFile(entry: DataFileEntry): DataFile {
    const id = fileId(entry);
    let f = this.#files.get(id);
    if (!f) {
      f = new DataFile(entry, new RangeFile(this.#source(entry.path, entry.size)), this.#footerBytes);
      this.#files.set(id, f);
    }
    return f;
  }

  /** The deletion vector of `entry`, read at most once; `undefined` when it has none. */
  async deletionVector(entry: DataFileEntry): Promise<DeletionVector | undefined> {
    const dv = entry.dv;
    if (!dv) return undefined;
    const id = `${dvId(entry)}\u0000${entry.numRows}`;
    let p = this.#dvs.get(id);
    if (!p) {
      let puffin = this.#puffins.get(dv.path);
      if (!puffin) {
        // The Puffin file's size is not in the manifest: the blob's end is all a read needs.
        puffin = new RangeFile(this.#source(dv.path, Number.MAX_SAFE_INTEGER));
        this.#puffins.set(dv.path, puffin);
      }
      p = readDeletionVector(puffin, dv, entry.path, entry.numRows);
      this.#dvs.set(id, p);
      p.catch(() => this.#dvs.delete(id));
    }
    return p;
  }

  /** A version's files as merge sources on side 0. */
  sources(view: VersionView): Promise<MergeSource[]> {
    return Promise.all(
      view.files.map(async (entry) => ({
        file: this.dataFile(entry),
        sides: 1,
        dvs: [await this.deletionVector(entry), undefined] as MergeSource["dvs"],
      })),
    );
  }

  /**
   * The sources of a merge of two versions' files: read whole (dense) the
   * files live in one and not the other, or with another deletion vector;
   * read only for the keys those hold (sparse) the files live in both.
   */
  async diffSources(
    a: DataFileEntry[],
    b: DataFileEntry[],
  ): Promise<{ dense: MergeSource[]; sparse: MergeSource[] }> {
    const inA = new Map(a.map((e) => [fileId(e), e]));
    const inB = new Map(b.map((e) => [fileId(e), e]));
    const dense: MergeSource[] = [];
    const sparse: MergeSource[] = [];
    for (const [id, ea] of inA) {
      const eb = inB.get(id);
      const dvA = await this.deletionVector(ea);
      if (eb && dvId(eb) === dvId(ea)) {
        sparse.push({ file: this.dataFile(ea), sides: 3, dvs: [dvA, dvA] });
      } else dense.push({ file: this.dataFile(ea), sides: 1, dvs: [dvA, undefined] });
    }
    for (const [id, eb] of inB) {
      const ea = inA.get(id);
      if (ea && dvId(ea) === dvId(eb)) continue;
      dense.push({ file: this.dataFile(eb), sides: 2, dvs: [undefined, await this.deletionVector(eb)] });
    }
    return { dense, sparse };
  }
}
