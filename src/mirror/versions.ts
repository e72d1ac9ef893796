/**
 * The versions of one tick: the source's HEAD found, the target's history
 * proven the source's, a rolled-back source followed, then each version
 * after the last one handled mirrored in order (its files and manifest) or
 * recorded as a gap. `Mirror` drives it, keeps the status and the waiters.
 *
 * @module
 */
import { builtOn, type ManifestFile } from "../catalog/chain.ts";
import { manifestKey } from "../catalog/layout.ts";
import { TidemarkError } from "../errors.ts";
import type { LiveFile } from "../manifest/live.ts";
import type { MeteredStore } from "../store/metered.ts";
import type { ObjectStore } from "../store/types.ts";
import { FILE_REQUESTS, SNAPSHOT_REQUESTS, type TickBudget } from "./budget.ts";
import type { LagClock } from "./lag.ts";
import { nextExisting } from "./probe.ts";
import { handledThrough, type MirrorGap, recordGap, rewindGaps } from "./progress.ts";
import type { MirrorRetention } from "./retention.ts";
import type { MirrorOptions, MirrorSettings } from "./settings.ts";
import { mirrorSnapshot } from "./snapshot.ts";
import { type MirrorSource, sameTable } from "./source.ts";
import type { MirrorTarget } from "./target.ts";

/** What `MirrorVersions` works with: `Mirror`'s parts, shared. */
export interface MirrorVersionsParts {
  /** The source, metered. */
  sourceStore: MeteredStore;
  source: MirrorSource;
  target: MirrorTarget;
  /** Where copies and manifests are written: the target, with `lock`'s retention on each. */
  copyTarget: ObjectStore;
  /** The source's identity, recorded as each copy's origin. */
  sourceId: string;
  settings: MirrorSettings;
  sha256: MirrorOptions["sha256"];
  lag: LagClock;
  retention: MirrorRetention | undefined;
  /** Whether `shutdown()` was called: no new version or file starts. */
  closed: () => boolean;
  /** Versions were handled (or the target's history proven): settles the waiters. */
  settle: () => void;
}

/** Mirrors the source's pending versions, one tick at a time (see `Mirror`). */
export class MirrorVersions {
  readonly #sourceStore: MeteredStore;
  readonly #source: MirrorSource;
  readonly #target: MirrorTarget;
  readonly #copyTarget: ObjectStore;
  readonly #sourceId: string;
  readonly #settings: MirrorSettings;
  readonly #sha256: MirrorOptions["sha256"];
  readonly #lag: LagClock;
  readonly #retention: MirrorRetention | undefined;
  readonly #isClosed: () => boolean;
  readonly #settle: () => void;
  /** The last pass stopped with versions left (the budget spent, a snapshot copied in part). */
  #workRemains = false;

  constructor(parts: MirrorVersionsParts) {
    this.#sourceStore = parts.sourceStore;
    this.#source = parts.source;
    this.#target = parts.target;
    this.#copyTarget = parts.copyTarget;
    this.#sourceId = parts.sourceId;
    this.#settings = parts.settings;
    this.#sha256 = parts.sha256;
    this.#lag = parts.lag;
    this.#retention = parts.retention;
    this.#isClosed = parts.closed;
    this.#settle = parts.settle;
  }

  /**
   * Mirrors the versions after the last one handled, in order, until caught
   * up, the budget is spent, or the mirror is shut down.
   *
   * @returns whether versions are left for the next tick.
   */
  async mirrorPending(budget: TickBudget): Promise<boolean> {
    await this.#mirrorPending(budget);
    return this.#workRemains;
  }

  /**
   * Before the first write: is the target's last mirrored snapshot the
   * source's? (Another table mirrored here first, or the source was
   * recreated.) One GET on each side, once per instance.
   */
  async #checkSameHistory(head: number): Promise<void> {
    const seq = this.#target.progress.mirrorSeq;
    if (seq > 0) {
      if (seq > head) {
        throw new TidemarkError(
          "SplitBrain",
          `the target is at v${seq}, past the source's HEAD v${head}: it mirrors another history`,
        );
      }
      const ours = await this.#target.previousManifest(seq);
      if (ours) {
        if (!(await this.#source.sameAs(ours, head))) {
          throw new TidemarkError(
            "SplitBrain",
            `the target's v${seq} is not the source's v${seq}: another history was mirrored here`,
            { key: manifestKey(seq) },
          );
        }
      }
    }
    this.#target.verified = true;
    this.#settle();
  }

  /**
   * The source's HEAD must not lie below what this mirror copied: a posix
   * primary's hint goes back when it is rolled back (a file-system snapshot
   * or a backup restored, or merutable's hint rename lost in a crash), and
   * its next commits reuse the numbers the target already holds. The target
   * keeps what it copied; the mirror stops (`SplitBrain`, fatal) rather than
   * stack the new history on the old. A HEAD that goes back, but not below
   * the last version copied, discarded only versions this mirror skipped as
   * gaps (or had not reached): those gaps are dropped and the versions
   * looked at again (HEAD itself is always mirrored), and each new version is
   * checked against the copied one (`checkFollowsOn`).
   *
   * @param seenBefore the source's HEAD at the last look (this instance's,
   *   or the saved progress's).
   */
  #followRollback(head: number, seenBefore: number | undefined): void {
    const p = this.#target.progress;
    // Below what was handled, or (a posix hint) below the HEAD seen at the last look.
    const wentBack =
      head < handledThrough(p) || (this.#source.posix && seenBefore !== undefined && head < seenBefore);
    if (!wentBack) return;
    if (head < p.mirrorSeq) {
      throw new TidemarkError(
        "SplitBrain",
        `the source's HEAD went back to v${head}, below v${p.mirrorSeq}, which this mirror copied: ` +
          "its history was rewritten (a rolled-back primary); the target keeps the versions it copied; " +
          "mirror the source into a fresh target to follow the new history",
      );
    }
    rewindGaps(p, head);
    if (p.inProgress && p.inProgress.version > head) delete p.inProgress;
    this.#target.uploadedHere.clear();
    this.#lag.reopen(head, handledThrough(p));
  }

  /**
   * Finds the source HEAD from what is known, cheaply: on an object-store
   * source two HEADs and a read of its low_water when nothing changed (a hint
   * below the source's GC boundary, or one a racing expire passed, is never
   * trusted); on a posix source one GET of `version-hint.text`, which
   * merutable replaces only after the manifest it names is written.
   */
  async findHead(): Promise<number> {
    const head = await this.#source.findHead(this.#target.initialised ? this.#target.progress.mirrorSeq : 0);
    this.#lag.sourceChecked(head, this.#target.initialised ? handledThrough(this.#target.progress) : 0);
    return head;
  }

  async #mirrorPending(budget: TickBudget): Promise<void> {
    this.#workRemains = false;
    this.#source.tickStarted();
    // The HEAD of the last look (this instance's, or the saved progress's, read once loaded).
    let seenBefore = this.#target.initialised ? this.#target.progress.lastSourceCheck?.head : undefined;
    // The source first: its HEAD (and so the lag) is known even when the target is down.
    const head = await this.findHead();
    const resumed = this.#target.initialised;
    if (!resumed) {
      await this.#target.init();
      const check = this.#target.progress.lastSourceCheck;
      if (check) this.#lag.restore(check);
      seenBefore = check?.head;
    }
    if (resumed && !(await this.#target.asBelieved())) {
      await this.#target.forget();
      this.#retention?.forget();
      this.#lag.reopen(head, handledThrough(this.#target.progress));
    }
    this.#lag.handled(handledThrough(this.#target.progress));
    if (!this.#target.verified) await this.#checkSameHistory(head);
    this.#followRollback(head, seenBefore);
    const p = this.#target.progress;
    let lookahead: ManifestFile | undefined;
    while (handledThrough(p) < head) {
      if (this.#isClosed()) return;
      if (!budget.begin(SNAPSHOT_REQUESTS, 0, false)) {
        this.#workRemains = true;
        return;
      }
      let moved = 0;
      try {
        const version = handledThrough(p) + 1;
        const file = lookahead?.version === version ? lookahead : await this.#source.read(version);
        lookahead = undefined;
        if (file === "legacy") {
          this.#skip({ from: version, to: version, reason: "legacy" });
          continue;
        }
        if (file === undefined) {
          if (version === head) throw this.#source.headMissing(head);
          // A posix table never deletes a manifest: a missing one is late, retried by the next tick.
          if (this.#source.posix) throw this.#source.lateManifest(version, head);
          // Expired on the source before we got here: skip to the next version it has.
          const next = await nextExisting(this.#source.table, version, head);
          this.#skip({ from: version, to: next - 1, reason: "expired" });
          continue;
        }
        // Only a version the source's history is built on: its HEAD, or one its successor names.
        if (version < head) {
          const next = await this.#source.read(version + 1);
          lookahead = next === "legacy" ? undefined : next;
          if (next === undefined && version + 1 === head) throw this.#source.headMissing(head);
          if (next === undefined && this.#source.posix) throw this.#source.lateManifest(version + 1, head);
          if (lookahead === undefined || !(await builtOn(lookahead.manifest, file))) {
            this.#skip({ from: version, to: version, reason: "unconfirmed" });
            continue;
          }
        }
        moved = await this.#mirrorVersion(budget, file, head);
      } finally {
        budget.end(SNAPSHOT_REQUESTS, 0, moved);
      }
      if (this.#workRemains) return;
      budget.progressed();
    }
  }

  /** Records skipped versions; what was in progress for them is dropped. */
  #skip(gap: MirrorGap): void {
    const p = this.#target.progress;
    recordGap(p, gap);
    if (p.inProgress && p.inProgress.version <= gap.to) delete p.inProgress;
    this.#target.uploadedHere.clear();
    this.#lag.handled(handledThrough(p));
    this.#settle();
  }

  /**
   * Mirrors one source version (files, manifest; low_water at once after a
   * gap). Returns the manifest's bytes moved (files are counted as they go).
   * A source file that is gone and not in the source's HEAD was garbage
   * collected: the version becomes a gap.
   */
  async #mirrorVersion(budget: TickBudget, file: ManifestFile, head: number): Promise<number> {
    const p = this.#target.progress;
    const version = file.version;
    const manifest = file.manifest;
    const previous = await this.#target.previousManifest(p.mirrorSeq);
    if (previous && !sameTable(previous.manifest, manifest)) {
      throw new TidemarkError(
        "SplitBrain",
        `source v${version} belongs to table ${manifest.tableUuid}, the target's v${p.mirrorSeq} to ${previous.manifest.tableUuid}`,
        { key: manifestKey(version) },
      );
    }
    // The version right after the last one copied must be built on exactly what was copied.
    if (previous && version === previous.version + 1) await this.#source.checkFollowsOn(file, previous);
    const committed = Number(manifest.lastUpdatedMs);
    this.#lag.committed(version, committed);
    if (committed > 0) p.lastSourceCommitMs = Math.max(p.lastSourceCommitMs ?? 0, committed);
    const afterGap = version !== p.mirrorSeq + 1;
    if (p.inProgress?.version !== version) {
      p.inProgress = { version, uploaded: [], etags: {}, sha256: {} };
      this.#target.uploadedHere.clear();
    }
    const inProgress = p.inProgress;
    inProgress.etags ??= {};
    inProgress.sha256 ??= {};
    const etags = inProgress.etags;
    const digests = inProgress.sha256;
    const reserved = new Map<string, number>();
    let copiedBytes = 0;
    let res: Awaited<ReturnType<typeof mirrorSnapshot>>;
    try {
      res = await mirrorSnapshot({
        source: this.#sourceStore,
        target: this.#copyTarget,
        sourceId: this.#sourceId,
        version,
        previous: previous?.manifest,
        parallelism: this.#settings.parallelism,
        listThreshold: this.#settings.listThreshold,
        // A listing page is one request: list only while the page and one file
        // copy after it still fit, so a tick always gets a file done (progress).
        beforeListPage: () => budget.fits(1 + FILE_REQUESTS, 0),
        manifestBytes: file.bytes,
        // Files this instance put there are trusted; files an earlier process
        // recorded are checked against the etags it recorded.
        alreadyUploaded: [...this.#target.uploadedHere],
        knownEtags: etags,
        knownSha256: digests,
        sha256: this.#sha256,
        previousChecksums: previous ? await this.#target.previousChecksums(previous) : undefined,
        // After a gap, readers probing from the old low_water would not find
        // the new version: advance low_water right away, not at the end of the tick.
        advanceLowWater: afterGap,
        shouldContinue: (f: LiveFile) => {
          if (this.#isClosed()) return false;
          const size = f.size ?? f.minSize;
          if (!budget.begin(FILE_REQUESTS, size)) return false;
          reserved.set(f.path, size);
          return true;
        },
        onFile: (path, copied, n, etag, sha256) => {
          if (!this.#target.uploadedHere.has(path)) {
            this.#target.uploadedHere.add(path);
            if (!(path in etags)) inProgress.uploaded.push(path);
          }
          etags[path] = etag;
          if (sha256 !== undefined) digests[path] = sha256;
          // A file a listing found on the target was never reserved (no request of its own).
          const size = reserved.get(path);
          if (size !== undefined) {
            budget.end(FILE_REQUESTS, size, n);
            reserved.delete(path);
          }
          copiedBytes += n;
          if (copied) {
            p.counters.files++;
            p.counters.bytes += n;
          } else {
            p.counters.skippedFiles++;
          }
        },
      });
    } catch (e) {
      if (await this.#source.garbageCollected(e, manifest, version, head)) {
        this.#skip({ from: version, to: version, reason: "files-gone" });
        return 0;
      }
      throw e;
    } finally {
      // Release what failed copies reserved.
      for (const size of reserved.values()) budget.end(FILE_REQUESTS, size, 0);
    }
    if (!res.complete) {
      this.#workRemains = true;
      return 0;
    }
    const manifestBytes = res.bytes - copiedBytes;
    p.counters.bytes += manifestBytes;
    p.mirrorSeq = version;
    delete p.inProgress;
    this.#target.uploadedHere.clear();
    p.counters.snapshots++;
    this.#target.setPrevious(file, res.checksums);
    this.#retention?.published(file);
    this.#target.lowWaterDirty = !res.lowWaterAdvanced;
    this.#lag.handled(version);
    this.#settle();
    return manifestBytes;
  }
}
