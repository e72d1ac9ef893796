import type { ManifestFile } from "../catalog/chain.ts";
import { isLegacyManifestError } from "../catalog/posix.ts";
import { type TableReader, tableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { referencedFiles } from "../manifest/live.ts";
import { sameBytes } from "../store/body.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * The source side of a `Mirror`: its table (either of merutable's layouts,
 * detected on the first look), its HEAD as last seen (it never goes back
 * within an instance), and the questions a tick asks of it: the manifest of
 * a version, whether a missing file was garbage collected, whether the
 * target's last snapshot is the source's.
 */
export class MirrorSource {
  readonly table: TableReader;
  /** The source's HEAD as last seen, `null` before the first successful look. */
  head: number | null = null;
  /** The source's HEAD manifest, read when a missing file needs telling apart from garbage-collected. */
  #headFile: ManifestFile | undefined;

  constructor(store: ObjectStore) {
    this.table = tableReader(store);
  }

  /**
   * Finds the source HEAD from what is known, cheaply: on an object-store
   * source two HEADs and a read of its low_water when nothing changed (a hint
   * below the source's GC boundary, or one a racing expire passed, is never
   * trusted); on a posix source one GET of `version-hint.text`, which
   * merutable replaces only after the manifest it names is written.
   */
  async findHead(known: number): Promise<number> {
    const from = Math.max(this.head ?? 0, known);
    const found = (await this.table.discover(from > 0 ? { from } : {})).version;
    if (this.head === null || found > this.head) this.head = found;
    return this.head;
  }

  /** A tick starts: what it reads of HEAD's manifest is read afresh. */
  tickStarted(): void {
    this.#headFile = undefined;
  }

  /**
   * The source's manifest of `version`; `undefined` when it is not there;
   * `"legacy"` when a posix source has only a legacy JSON manifest for it.
   */
  async read(version: number): Promise<ManifestFile | "legacy" | undefined> {
    try {
      return await this.table.readManifestIfExists(version);
    } catch (e) {
      if (isLegacyManifestError(e)) return "legacy";
      throw e;
    }
  }

  /**
   * The source's HEAD has no manifest: discovery found it (on an object-store
   * source, by its manifest), so its pointer names a missing one (a posix
   * table copied out of order, say): damaged or catching up, never a gap.
   */
  headMissing(head: number): TidemarkError {
    const key = this.table.manifestKey(head);
    return new TidemarkError("NotFound", `the source's HEAD v${head} has no manifest (${key})`, { key });
  }

  /**
   * Whether `e` is a file of `version` missing on the source that the
   * source's HEAD no longer has either: garbage collected after a compaction
   * (merutable deletes such files 5 minutes later), so the version can never
   * be mirrored. A missing file that HEAD still has is a real error.
   */
  async garbageCollected(e: unknown, manifest: Manifest, version: number, head: number): Promise<boolean> {
    if (!isTidemarkError(e, "NotFound") || version >= head) return false;
    const key = e.key;
    if (key === undefined || !referencedFiles(manifest).some((f) => f.path === key)) return false;
    this.#headFile ??= await this.table.read(head);
    return !referencedFiles(this.#headFile.manifest).some((f) => f.path === key);
  }

  /**
   * Whether `ours` (a manifest the target holds) is the source's: the same
   * bytes as the source's manifest of that version, or, when the source no
   * longer has it (or has it only as legacy JSON), of the same table as the
   * source's HEAD. One GET, two when the version is gone.
   */
  async sameAs(ours: ManifestFile, head: number): Promise<boolean> {
    const theirs = await this.read(ours.version);
    return theirs !== undefined && theirs !== "legacy"
      ? sameBytes(theirs.bytes, ours.bytes)
      : sameTable(ours.manifest, (await this.table.read(head)).manifest);
  }
}

/** Whether two manifests may be of one table: an empty table_uuid (a writer that sets none) says nothing. */
export function sameTable(a: Manifest, b: Manifest): boolean {
  return a.tableUuid === "" || b.tableUuid === "" || a.tableUuid === b.tableUuid;
}
