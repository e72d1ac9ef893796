import { type RequestCounts, zeroRequestCounts } from "../store/metered.ts";
import type { RetentionTotals } from "./retention.ts";

// Re-exported: the Durable Object and its tests build a mirror's counters from here.
export { zeroRequestCounts };

/**
 * A mirror's durable progress: JSON-serialisable, saved through a
 * {@link MirrorProgressStore} (the Durable Object keeps it in its storage), so
 * a fresh `Mirror` resumes where the last one stopped, mid-snapshot included.
 *
 * Progress is bound to the source and target it was made with: a mirror
 * whose source or target differs (a new bucket, a new prefix, R2 instead of
 * S3) never trusts it, since files it says are on "the target" may only be on
 * the old one.
 */
export interface MirrorProgress {
  /** The identities (`storeId`) of the source and target this progress is about. */
  binding?: { source: string; target: string };
  /** The last version fully mirrored (its files and manifest are on the target). */
  mirrorSeq: number;
  /**
   * Files of `version` (the version after the last one handled) already on the
   * target, with the etag each had there (`etags`) when this mirror wrote or
   * proved it, and its SHA-256 (`sha256`, hex) for the version's checksum record.
   */
  inProgress?: {
    version: number;
    uploaded: string[];
    etags?: Record<string, string>;
    sha256?: Record<string, string>;
  };
  /** `last_updated_ms` of the newest source manifest the mirror has read (the writer's clock). */
  lastSourceCommitMs?: number;
  /** The last successful look at the source HEAD, on the mirror's clock (for lag across restarts). */
  lastSourceCheck?: { atMs: number; head: number };
  /** Running totals since the progress was created. */
  counters: MirrorCounters;
  /** The last failure, kept until the next success. */
  lastError?: { message: string; atMs: number };
  /** Source versions skipped, in order (inclusive ranges), and why. */
  gaps: MirrorGap[];
}

/**
 * Source versions a mirror skipped, and why:
 * - `expired`: the manifests were gone (expired on the primary before they were
 *   mirrored, or never on a source that is itself a mirror with a gap);
 * - `files-gone`: the manifest was there but files it names were deleted
 *   (merutable deletes compacted files 5 minutes after a compaction) and are
 *   not in the source's HEAD;
 * - `unconfirmed`: the manifest is not the one its successor was built on, or
 *   its successor is gone, so it cannot be proven part of the history (a
 *   leftover below the source's GC boundary, or a withdrawn stale commit);
 * - `legacy`: a posix source holds only a legacy JSON manifest for it
 *   (`v{N}.metadata.json`, merutable before its protobuf manifests), which
 *   the object-store layout cannot hold.
 */
export interface MirrorGap {
  from: number;
  to: number;
  reason?: "expired" | "files-gone" | "unconfirmed" | "legacy";
}

/** Running totals of a mirror. */
export interface MirrorCounters {
  /** Snapshots mirrored. */
  snapshots: number;
  /** Files copied. */
  files: number;
  /** Bytes copied (files and manifests). */
  bytes: number;
  /** Files found on the target already (proven the source's) and not copied. */
  skippedFiles: number;
  /** Failed ticks. */
  failures: number;
  /** Requests to source and target: read class (GET, HEAD), write class (PUT, DELETE, LIST). */
  requests: { read: number; write: number };
  /**
   * The source's requests by kind and the bytes read from and written to it,
   * as `metered` counts them (what a store bills: R2 class A and B, S3
   * PUT-class and GET-class, egress). Absent in progress saved before they
   * were counted (then they count from the next tick on).
   */
  source?: RequestCounts;
  /** The target's requests and bytes, as for {@link MirrorCounters.source}. */
  target?: RequestCounts;
  /** What the retention did (with a `retention` policy; absent before its first pass). */
  retention?: RetentionTotals;
}

/** Adds `b` to `a` (in place), field by field. */
export function addRequestCounts(a: RequestCounts, b: RequestCounts, sign: 1 | -1 = 1): RequestCounts {
  for (const k of Object.keys(a) as (keyof RequestCounts)[]) a[k] += sign * b[k];
  return a;
}

/** Where a `Mirror` keeps its {@link MirrorProgress}. */
export interface MirrorProgressStore {
  load(): Promise<MirrorProgress | undefined>;
  save(p: MirrorProgress): Promise<void>;
}

/** The progress of a mirror that has done nothing yet (a fresh target, or no saved state). */
export function freshMirrorProgress(binding?: { source: string; target: string }): MirrorProgress {
  return {
    ...(binding ? { binding } : {}),
    mirrorSeq: 0,
    counters: {
      snapshots: 0,
      files: 0,
      bytes: 0,
      skippedFiles: 0,
      failures: 0,
      requests: { read: 0, write: 0 },
      source: zeroRequestCounts(),
      target: zeroRequestCounts(),
    },
    gaps: [],
  };
}

/** A deep copy (progress is plain JSON). */
export function cloneProgress(p: MirrorProgress): MirrorProgress {
  return JSON.parse(JSON.stringify(p)) as MirrorProgress;
}

/** Whether saved progress (a table mirror's, or any with a `binding`) was made with this source and target. */
export function boundTo(
  p: { binding?: { source: string; target: string } | undefined },
  binding: { source: string; target: string },
): boolean {
  return p.binding?.source === binding.source && p.binding.target === binding.target;
}

/** The newest source version handled: mirrored, or skipped as a gap. */
export function handledThrough(p: Pick<MirrorProgress, "mirrorSeq" | "gaps">): number {
  return Math.max(p.mirrorSeq, p.gaps.at(-1)?.to ?? 0);
}

/**
 * Forgets the gaps at `version` and above: the source's HEAD went back to
 * `version` (a rolled-back posix primary), so what was skipped there was
 * decided under a history that is gone, and `version` is HEAD again.
 */
export function rewindGaps(p: MirrorProgress, version: number): void {
  p.gaps = p.gaps
    .filter((g) => g.from < version)
    .map((g) => (g.to < version ? g : { ...g, to: version - 1 }));
}

/** Records skipped versions, merging with the last gap when they follow it for the same reason. */
export function recordGap(p: MirrorProgress, gap: MirrorGap): void {
  const last = p.gaps.at(-1);
  if (last && last.reason === gap.reason && last.to + 1 >= gap.from) {
    last.to = Math.max(last.to, gap.to);
    return;
  }
  p.gaps.push(gap);
}
