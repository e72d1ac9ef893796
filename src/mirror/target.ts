import { type ManifestFile, readManifestIfExists } from "../catalog/chain.ts";
import { discoverHead } from "../catalog/discover.ts";
import { manifestKey } from "../catalog/layout.ts";
import { readVersionHint, VERSION_HINT_KEY } from "../catalog/posix.ts";
import { TidemarkError } from "../errors.ts";
import { referencedFiles } from "../manifest/live.ts";
import { headIfExists } from "../store/exists.ts";
import type { ObjectStore } from "../store/types.ts";
import { type Checksums, readChecksums } from "./checksums.ts";
import {
  boundTo,
  cloneProgress,
  freshMirrorProgress,
  type MirrorProgress,
  type MirrorProgressStore,
} from "./progress.ts";

/**
 * What a `Mirror` instance knows of its target, and how it checks it before
 * trusting it: the progress (saved progress is used only when bound to this
 * source and target and the target still holds what it says was mirrored
 * last), the manifest mirrored last (cached), the files this instance put for
 * the version in progress, and whether low_water needs advancing. A target
 * wiped or swapped under a live mirror is noticed (`asBelieved`) and
 * forgotten (`forget`): the target's own HEAD then says how far it got.
 */
export class MirrorTarget {
  readonly #store: ObjectStore;
  readonly #binding: { source: string; target: string };
  readonly #progressStore: MirrorProgressStore | undefined;
  progress: MirrorProgress;
  /** `init()` ran: `progress` is what the target was checked to hold. */
  initialised = false;
  /** Files this instance put on the target for the version in progress (trusted without a request). */
  readonly uploadedHere = new Set<string>();
  /** Versions were mirrored since low_water was last advanced (true at start: check it once). */
  lowWaterDirty = true;
  /** The target's history was checked against the source's (once per instance, and after `forget`). */
  verified = false;
  /** The manifest of `#previousVersion` on the target (undefined: none, or not read yet). */
  #previous: ManifestFile | undefined;
  #previousVersion = -1;
  /** The checksum record of `#sumsVersion`, kept once complete (every file of its manifest named). */
  #sums: Checksums | undefined;
  #sumsVersion = -1;

  constructor(
    store: ObjectStore,
    binding: { source: string; target: string },
    progressStore: MirrorProgressStore | undefined,
  ) {
    this.#store = store;
    this.#binding = binding;
    this.#progressStore = progressStore;
    this.progress = freshMirrorProgress(binding);
  }

  /**
   * Loads saved progress, once (a no-op after): trusted only when it was made with this
   * source and target (their `storeId`s) and the target still holds the
   * manifest it says was mirrored last (a wiped or swapped bucket does not).
   * Otherwise the target's own HEAD says how far it got.
   */
  async init(): Promise<void> {
    if (this.initialised) return;
    // A mirror writes the object-store layout: never into merutable's primary
    // (or a restore of one), say with --from and --to swapped.
    if ((await readVersionHint(this.#store)) !== undefined) {
      throw new TidemarkError(
        "NotSupported",
        `the target ${this.#store.name} holds a posix table (${VERSION_HINT_KEY}: merutable's primary, or a restore): ` +
          "a mirror writes the object-store layout, into an empty store or an earlier mirror of this source",
        { key: VERSION_HINT_KEY },
      );
    }
    const saved = await this.#progressStore?.load();
    let p: MirrorProgress | undefined;
    if (saved && boundTo(saved, this.#binding)) {
      p = cloneProgress(saved);
      p.gaps ??= [];
      if (p.mirrorSeq > 0 && (await this.previousManifest(p.mirrorSeq)) === undefined) p = undefined;
    }
    if (p === undefined) {
      p = freshMirrorProgress(this.#binding);
      if (saved) {
        // Keep the running totals (they describe this mirror, not the target).
        p.counters = cloneProgress(saved).counters;
      }
      p.mirrorSeq = (await discoverHead(this.#store)).version;
    }
    this.progress = p;
    this.initialised = true;
  }

  /**
   * Before each tick of an instance that ticked before: is the target still
   * what this instance believes? A bucket wiped or swapped under a live
   * mirror would otherwise get manifests naming files it no longer has. One
   * HEAD: the last file put for the version in progress (with the etag
   * recorded), else the manifest mirrored last.
   */
  async asBelieved(): Promise<boolean> {
    const p = this.progress;
    const last = p.inProgress?.uploaded.at(-1);
    const key = last ?? (p.mirrorSeq > 0 ? manifestKey(p.mirrorSeq) : undefined);
    if (key === undefined) return true;
    const meta = await headIfExists(this.#store, key);
    if (meta === undefined) return false;
    const etag = last === undefined ? undefined : p.inProgress?.etags?.[last];
    return etag === undefined || etag === meta.etag;
  }

  /** Drops what this instance believed of the target; its own HEAD says how far it got. */
  async forget(): Promise<void> {
    const p = freshMirrorProgress(this.#binding);
    p.counters = this.progress.counters;
    if (this.progress.lastSourceCheck) p.lastSourceCheck = this.progress.lastSourceCheck;
    p.mirrorSeq = (await discoverHead(this.#store)).version;
    this.progress = p;
    this.uploadedHere.clear();
    this.#previous = undefined;
    this.#previousVersion = -1;
    this.#sums = undefined;
    this.#sumsVersion = -1;
    this.verified = false;
    this.lowWaterDirty = true;
  }

  /** The manifest of `seq` on the target, cached (undefined: not there). */
  async previousManifest(seq: number): Promise<ManifestFile | undefined> {
    if (this.#previousVersion === seq) return this.#previous;
    const f = seq > 0 ? await readManifestIfExists(this.#store, seq) : undefined;
    this.#previous = f;
    this.#previousVersion = seq;
    return f;
  }

  /**
   * The checksum record of the manifest mirrored last (`previousManifest`):
   * kept once read whole; one that lacks digests (files copied before
   * mirrors recorded checksums) is read again each time, so digests
   * recorded since (`tidemark verify --deep --adopt`) are carried forward.
   */
  async previousChecksums(file: ManifestFile): Promise<Checksums | undefined> {
    if (this.#sumsVersion === file.version && this.#sums !== undefined) return this.#sums;
    const sums = await readChecksums(this.#store, file.version);
    if (sums !== undefined && referencedFiles(file.manifest).every((f) => sums.has(f.path))) {
      this.#sums = sums;
      this.#sumsVersion = file.version;
    }
    return sums;
  }

  /** Records `file` as the manifest mirrored last (it was just written), with its checksum record. */
  setPrevious(file: ManifestFile, sums?: Checksums): void {
    this.#previous = file;
    this.#previousVersion = file.version;
    this.#sums = sums;
    this.#sumsVersion = sums === undefined ? -1 : file.version;
  }
}
