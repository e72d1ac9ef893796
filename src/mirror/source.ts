import { builtOn, type ManifestFile, PREVIOUS_LINK_PROPERTY } from "../catalog/chain.ts";
import { isLegacyManifestError, VERSION_HINT_KEY } from "../catalog/posix.ts";
import { type TableReader, tableReader } from "../catalog/table.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { Manifest } from "../manifest/gen/manifest_pb.ts";
import { referencedFiles } from "../manifest/live.ts";
import { sameBytes } from "../store/body.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * The source side of a `Mirror`: its table (either of merutable's layouts,
 * detected on the first look), its HEAD as last seen, and the questions a
 * tick asks of it: the manifest of a version, whether a missing file was
 * garbage collected, whether the target's last snapshot is the source's,
 * whether a version follows on from the one the mirror copied last.
 */
export class MirrorSource {
  readonly table: TableReader;
  /**
   * The source's HEAD as last seen, `null` before the first successful look.
   * An object-store table's never goes back (the highest seen is kept); a
   * posix table's is what its `version-hint.text` says, which a rolled-back
   * primary moves back: the `Mirror` refuses that below what it handled.
   */
  head: number | null = null;
  /** The source was found to be a posix table (merutable's primary); stays so when its hint vanishes. */
  #posix = false;
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
    const d = await this.table.discover(from > 0 ? { from } : {});
    if (d.layout === "posix") this.#posix = true;
    const found = d.version;
    if (found === 0 && (this.head ?? 0) > 0) {
      // A table seen before is gone: an unmounted volume, a deleted bucket or prefix. Never "caught up".
      const what = this.#posix ? `${VERSION_HINT_KEY} is missing` : "no manifest is left";
      throw new TidemarkError(
        "NotFound",
        `the source ${this.table.store.name} held a table at v${this.head} and holds none now (${what}): an unmounted volume, a deleted directory or bucket?`,
      );
    }
    if (this.#posix || this.head === null || found > this.head) this.head = found;
    return this.head;
  }

  /**
   * A posix table (merutable's primary): it never deletes a manifest, and
   * its HEAD is its hint, which a rollback moves back.
   */
  get posix(): boolean {
    return this.#posix;
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
   * A posix source's manifest below its HEAD is missing: merutable never
   * deletes a manifest, so it is late (a copy of the primary made by a tool
   * that does not keep merutable's order), never expired: the tick fails and
   * the next one looks again.
   */
  lateManifest(version: number, head: number): TidemarkError {
    const key = this.table.manifestKey(version);
    return new TidemarkError(
      "NotFound",
      `the source's v${version} (${key}) is missing below its HEAD v${head}: a posix table never deletes a manifest, so it is late (retried), never skipped`,
      { key },
    );
  }

  /**
   * Proves that `next` (the source's version after `copied`) was built on
   * the very manifest this mirror copied as `copied`: by the link property
   * where `next` carries one (no request), else by reading the source's
   * manifest of `copied.version` again, after `next` was read, and comparing
   * the bytes (one GET). A source whose history was rewritten under the
   * mirror (a posix primary rolled back to a file-system snapshot or a
   * backup, then committing new versions with the numbers the mirror had
   * already copied) fails it: never stacked on the copied history.
   *
   * A `next` that does not name `copied` as its previous snapshot is left to
   * the chain rules (nothing to compare).
   *
   * @throws TidemarkError `SplitBrain` naming both versions when the
   *   predecessor differs; `NotFound` when a posix source no longer has it
   *   (retried); store errors.
   */
  async checkFollowsOn(next: ManifestFile, copied: ManifestFile): Promise<void> {
    const differs = (why: string) =>
      new TidemarkError(
        "SplitBrain",
        `the source's v${next.version} does not follow on from the v${copied.version} this mirror copied (${why}): ` +
          "the source's history was rewritten (a rolled-back primary: a file-system snapshot or backup restored, or a commit lost in a crash); " +
          "the target keeps the history it has; mirror the source into a fresh target to follow the new one",
        { key: this.table.manifestKey(next.version) },
      );
    // Not built on that number at all (a first snapshot, an anomaly of merutable's mirrors): the
    // chain rules decide whether it is history; there is no predecessor to compare.
    if (next.manifest.previousSnapshotId !== BigInt(copied.version)) return;
    if (next.manifest.properties[PREVIOUS_LINK_PROPERTY] !== undefined) {
      if (!(await builtOn(next.manifest, copied))) throw differs("its link names other bytes");
      return;
    }
    const now = await this.read(copied.version);
    if (now === undefined) {
      // An object-store source may have expired it: nothing to compare; a posix one never deletes it.
      if (this.#posix) throw this.lateManifest(copied.version, next.version);
      return;
    }
    if (now === "legacy" || !sameBytes(now.bytes, copied.bytes)) {
      throw differs(`the source's v${copied.version} now holds other bytes`);
    }
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
