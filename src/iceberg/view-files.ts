/**
 * The files of an Iceberg view, under its prefix of the mirror's store:
 * read (Avro manifests and manifest lists, position-delete files), written
 * by content (a name from the bytes' hash, create-or-same, so a re-run after
 * a crash writes the same bytes under the same name), its metadata files
 * published create-only; what an update writes counted.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { sameBytes } from "../store/body.ts";
import { createOrSame } from "../store/exists.ts";
import { prefixed } from "../store/prefixed.ts";
import type { ObjectStore } from "../store/types.ts";
import { decodeAvroFile } from "./avro.ts";
import type { PositionDelete } from "./deletes.ts";
import type { ViewLocation } from "./location.ts";

/** The first 8 bytes of the SHA-256 of `bytes`, in hex: how the view names a file by its content. */
export async function contentHash(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A view's files: the mirror's store under the view's prefix. */
export class ViewFiles {
  readonly where: ViewLocation;
  /** The mirror's store under the view's prefix. */
  readonly store: ObjectStore;
  /** Requests and bytes written since {@link ViewFiles.resetWrites} (view files only: never a data byte). */
  #writes = { requests: 0, bytes: 0 };

  constructor(mirror: ObjectStore, where: ViewLocation) {
    this.where = where;
    this.store = prefixed(mirror, where.prefix);
  }

  /** What was written since the last reset. */
  get writes(): { requests: number; bytes: number } {
    return { ...this.#writes };
  }

  resetWrites(): void {
    this.#writes = { requests: 0, bytes: 0 };
  }

  /** Counts one write of `bytes` made otherwise (the version hint). */
  counted(bytes: number): void {
    this.#writes.requests++;
    this.#writes.bytes += bytes;
  }

  /** The mirror key of a data file the view names by its absolute path; `Corrupt` when it lies outside. */
  mirrorKey(path: string): string {
    const k = this.where.keyOf(path);
    if (k === undefined) {
      throw new TidemarkError("Corrupt", `the Iceberg view names ${path}, outside ${this.where.base}`);
    }
    return k;
  }

  /** The view-relative key of a view file named by its absolute path; `Corrupt` when it lies outside. */
  viewKey(path: string): string {
    const k = this.where.viewKeyOf(path);
    if (k === undefined) {
      throw new TidemarkError("Corrupt", `the Iceberg view names ${path}, outside ${this.where.table}`);
    }
    return k;
  }

  /** The records of the Avro file at absolute `path` (a manifest or a manifest list). */
  async readAvro(path: string): Promise<unknown[]> {
    const key = this.viewKey(path);
    return decodeAvroFile(await (await this.store.get(key)).bytes(), `${this.where.prefix}/${key}`).records;
  }

  /** The positions of the delete file at view key `key` (the Parquet codec loads on first use). */
  async readDeletes(key: string): Promise<PositionDelete[]> {
    const { decodeDeleteFile } = await import("./deletes.ts");
    return decodeDeleteFile(await (await this.store.get(key)).bytes(), `${this.where.prefix}/${key}`);
  }

  /** Writes `bytes` at `key`, named by them: the same bytes already there are success. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const n = await createOrSame(
      this.store,
      key,
      bytes,
      () => `${this.where.prefix}/${key} holds other bytes than its name says`,
    );
    this.counted(n);
  }

  /**
   * Publishes a metadata file: create-only. True when it is there now with
   * these bytes (written now, or by an earlier attempt of ours); false when
   * another writer of this view published other bytes first.
   */
  async publish(key: string, bytes: Uint8Array): Promise<boolean> {
    try {
      await this.store.put(key, bytes, { mode: "create", contentType: "application/json" });
      this.counted(bytes.length);
      return true;
    } catch (e) {
      if (!isTidemarkError(e, "AlreadyExists")) throw e;
      return sameBytes(await (await this.store.get(key)).bytes(), bytes);
    }
  }
}
