/**
 * A merutable primary as merutable's catalog writes it (the posix layout):
 * data files, then `metadata/v{N}.metadata.pb` (the MRUB-framed manifest,
 * carrying `merutable.schema.json` and `merutable.format_version`), then
 * `version-hint.text` (decimal, no newline) replaced last. The manifests are
 * built as merutable's `Manifest::apply` builds them: `snapshot_id` N,
 * `previous_snapshot_id` N-1 (none on v1), `sequence_number` N, entries
 * carried with their status, row lineage. Its garbage collector deletes the
 * files HEAD no longer references, as merutable's does 5 minutes after a
 * compaction (manifests are never deleted).
 */

import { posixManifestKey, VERSION_HINT_KEY } from "../../src/catalog/posix.ts";
import { SCHEMA_PROPERTY } from "../../src/catalog/schema.ts";
import {
  createDataFileRef,
  createManifest,
  type DataFileRef,
  decodeManifest,
  encodeManifest,
  FILE_STATUS,
  type Manifest,
  type ObjectStore,
  referencedFiles,
} from "../../src/index.ts";
import { type FileSpec, fileBytes } from "./mirror-fixture.ts";

/** merutable's legacy-form test schema (`types/schema.rs`): one Int64 key, one nullable ByteArray. */
export const MERUTABLE_SCHEMA_JSON =
  '{"table_name":"events","columns":[{"name":"id","col_type":"Int64","nullable":false,"field_id":1,"initial_default":null,"write_default":null},{"name":"payload","col_type":"ByteArray","nullable":true,"field_id":2,"initial_default":null,"write_default":null}],"primary_key":[0],"schema_id":0,"last_column_id":2}';

/** A merutable primary on `store`, committing as merutable's catalog does. */
export class PosixPrimary {
  readonly store: ObjectStore;
  readonly uuid: string;
  head = 0;
  #current: Manifest | undefined;
  #now: () => number;
  /** Rollbacks so far: each moves the commit clock on. */
  #epoch = 0;

  constructor(store: ObjectStore, opts: { uuid?: string; now?: () => number } = {}) {
    this.store = store;
    this.uuid = opts.uuid ?? "11111111-2222-4333-8444-555555555555";
    this.#now = opts.now ?? (() => 1_700_000_000_000 + this.head * 1000);
  }

  /**
   * merutable reopening the table on `store` (a restored one, say): its state
   * is the manifest `version-hint.text` names, and its next commit builds on it.
   */
  static async open(store: ObjectStore, opts: { now?: () => number } = {}): Promise<PosixPrimary> {
    const hint = Number(await (await store.get(VERSION_HINT_KEY)).text());
    const m = decodeManifest(await (await store.get(posixManifestKey(hint))).bytes());
    const p = new PosixPrimary(store, { uuid: m.tableUuid, ...opts });
    p.head = hint;
    p.#current = m;
    return p;
  }

  /**
   * The primary rolled back to version `v`, as a file-system snapshot or a
   * backup taken at `v` restores it: the manifests above it are gone, the
   * hint names `v` again, and the next commit reuses the number `v + 1`
   * (with other bytes). Data files stay (new ones get new names).
   */
  async rollbackTo(v: number): Promise<void> {
    for (let n = v + 1; n <= this.head; n++) await this.store.delete(posixManifestKey(n));
    await this.store.put(VERSION_HINT_KEY, String(v));
    this.#current = decodeManifest(await (await this.store.get(posixManifestKey(v))).bytes());
    this.head = v;
    // Another moment: a rewritten history never has the bytes of the lost one.
    this.#epoch++;
  }

  /** The manifest of the next version: HEAD's live entries minus `remove`, plus `add`. */
  build(add: FileSpec[], remove: string[] = []): Manifest {
    return nextPosixManifest(this.#current, add, remove, this.uuid, this.#now() + this.#epoch * 3_600_000);
  }

  /**
   * Writes `add`'s files, then the manifest of the next version, then
   * `version-hint.text`: merutable's commit order. Returns the new version.
   */
  async commit(add: FileSpec[], remove: string[] = []): Promise<number> {
    for (const f of add) {
      await this.store.put(f.path, fileBytes(f.seed ?? f.path, f.size));
      if (f.dv) await this.store.put(f.dv.path, fileBytes(f.dv.path, f.dv.size));
    }
    const m = this.build(add, remove);
    await this.writeManifest(Number(m.snapshotId), encodeManifest(m));
    this.#current = m;
    await this.store.put(VERSION_HINT_KEY, String(this.head));
    return this.head;
  }

  /** Writes version `v`'s manifest bytes (no hint), and makes it HEAD in memory. */
  async writeManifest(v: number, bytes: Uint8Array): Promise<void> {
    await this.store.put(posixManifestKey(v), bytes);
    this.head = v;
  }

  /** Commits `n` versions of `perVersion` new files each. */
  async commitMany(n: number, perVersion: number, label = "f"): Promise<number> {
    for (let i = 0; i < n; i++) {
      const add: FileSpec[] = [];
      for (let j = 0; j < perVersion; j++) {
        add.push({
          path: `data/L0/${label}-${this.head + 1}-${j}.parquet`,
          size: 1 + ((i * 31 + j * 7) % 64),
        });
      }
      await this.commit(add);
    }
    return this.head;
  }

  /**
   * Four versions, the first two of them garbage-collected: a and b flushed
   * to L0 (v1, v2), compacted into c (v3), d flushed (v4); then merutable's
   * GC (5 minutes after the compaction) deletes a and b, never the manifests.
   */
  async commitCompactedAndCollected(): Promise<void> {
    await this.commit([{ path: "data/L0/a.parquet", size: 7 }]);
    await this.commit([{ path: "data/L0/b.parquet", size: 9 }]);
    await this.commit([{ path: "data/L1/c.parquet", size: 16 }], ["data/L0/a.parquet", "data/L0/b.parquet"]);
    await this.commit([{ path: "data/L0/d.parquet", size: 4 }]);
    await this.gc(["data/L0/a.parquet", "data/L0/b.parquet"]);
  }

  /** merutable's garbage collector: deletes every data file HEAD does not reference. */
  async gc(everyFileEver: Iterable<string>): Promise<string[]> {
    const live = new Set(this.#current ? referencedFiles(this.#current).map((f) => f.path) : []);
    const gone = [...everyFileEver].filter((p) => !live.has(p));
    for (const p of gone) await this.store.delete(p);
    return gone;
  }
}

/**
 * The manifest merutable's `Manifest::apply` builds on `base` (undefined: the
 * first commit): `base`'s live entries minus `remove` (carried with their
 * status), plus `add` (status added, row ids allocated), snapshot and
 * sequence number one up, `previous_snapshot_id` the base's, the schema
 * properties merutable writes.
 */
export function nextPosixManifest(
  base: Manifest | undefined,
  add: FileSpec[],
  remove: string[],
  uuid: string,
  nowMs: number,
): Manifest {
  const version = Number(base?.snapshotId ?? 0n) + 1;
  const removed = new Set(remove);
  const entries: DataFileRef[] = [];
  let cursor = base?.nextRowId ?? 0n;
  for (const e of base?.dataFiles ?? []) {
    if (e.status === FILE_STATUS.deleted || removed.has(e.path)) continue;
    entries.push(createDataFileRef({ ...e }));
  }
  for (const f of add) {
    const ref = createDataFileRef({
      path: f.path,
      fileSize: BigInt(f.size),
      numRows: 1n,
      level: f.path.includes("/L1/") ? 1 : 0,
      seqMin: BigInt(version),
      seqMax: BigInt(version),
      status: FILE_STATUS.added,
      firstRowId: cursor,
    });
    if (f.dv) {
      ref.dvPath = f.dv.path;
      ref.dvOffset = 0n;
      ref.dvLength = BigInt(f.dv.size);
    }
    cursor += 1n;
    entries.push(ref);
  }
  const m = createManifest({
    snapshotId: BigInt(version),
    sequenceNumber: BigInt(version),
    dataFiles: entries,
    tableUuid: uuid,
    lastUpdatedMs: BigInt(nowMs),
    properties: { [SCHEMA_PROPERTY]: MERUTABLE_SCHEMA_JSON, "merutable.format_version": "3" },
    lastColumnId: 2,
    nextRowId: cursor,
    firstRowId: base?.nextRowId ?? 0n,
  });
  if (base) m.previousSnapshotId = base.snapshotId;
  return m;
}
