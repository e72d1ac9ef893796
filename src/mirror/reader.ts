import { discoverHead, manifestKey } from "../catalog/index.ts";
import { isTidemarkError, TidemarkError } from "../errors.ts";
import {
  decodeManifest,
  diffManifests,
  liveFiles,
  type Manifest,
  type ManifestDiff,
  referencedFiles,
} from "../manifest/index.ts";
import { forEachLimit } from "../store/batch.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * A read-only view of a mirrored (or primary) table. Uses only `get` and
 * `head`, never a listing or a write, so it works over `HttpStore` in a browser.
 */
export interface MirrorReader {
  /** The HEAD version (0: nothing mirrored yet): low_water, then O(log gap) HEAD probes. */
  head(): Promise<number>;
  /**
   * Snapshots from HEAD backwards through `previous_snapshot_id`, until one is
   * missing (expired on the primary before it was mirrored, or never mirrored).
   */
  snapshots(): AsyncIterable<{ version: number; manifest: Manifest }>;
  /** Snapshot `version`'s manifest. `NotFound` if it is not on the store; `Corrupt` if it does not decode. */
  manifest(version: number): Promise<Manifest>;
  /** Snapshot `version`'s live files (data files and deletion vectors). */
  files(version: number): Promise<string[]>;
  /** The live files added and removed from snapshot `a` to snapshot `b`. */
  diff(a: number, b: number): Promise<ManifestDiff>;
}

/**
 * Opens the read-only view of the table on `store` (see {@link MirrorReader}).
 * Nothing is read until a method is called.
 */
export function openMirror(store: ObjectStore): MirrorReader {
  const manifest = async (version: number): Promise<Manifest> => {
    const key = manifestKey(version);
    try {
      return decodeManifest(await (await store.get(key)).bytes());
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) {
        throw new TidemarkError("NotFound", `snapshot v${version} is not on ${store.name} (${key})`, {
          key,
          cause: e,
        });
      }
      throw e;
    }
  };
  return {
    head: async () => (await discoverHead(store)).version,
    async *snapshots() {
      let version: number | undefined = (await discoverHead(store)).version;
      while (version !== undefined && version >= 1) {
        let m: Manifest;
        try {
          m = await manifest(version);
        } catch (e) {
          if (isTidemarkError(e, "NotFound")) return;
          throw e;
        }
        yield { version, manifest: m };
        const prev = m.previousSnapshotId;
        if (prev === undefined) return;
        // A link that does not go back (a damaged or hostile manifest) would loop forever.
        if (!(prev < BigInt(version))) {
          throw new TidemarkError(
            "Corrupt",
            `${manifestKey(version)}: previous_snapshot_id ${prev} does not precede it`,
            { key: manifestKey(version) },
          );
        }
        version = Number(prev);
      }
    },
    manifest,
    files: async (version: number) => liveFiles(await manifest(version)),
    diff: async (a: number, b: number) => diffManifests(await manifest(a), await manifest(b)),
  };
}

/** What {@link verifyMirror} found. */
export interface VerifyResult {
  /** The version checked (0: the store has no snapshot; then `ok`). */
  version: number;
  /** Every live file is present with the right size. */
  ok: boolean;
  /** Live files that are not on the store. */
  missing: string[];
  /**
   * Live files of the wrong size: a data file whose size differs from its
   * manifest `file_size`, or a deletion-vector file smaller than the largest
   * `dv_offset + dv_length` pointing into it.
   */
  wrongSize: string[];
}

/**
 * Checks that snapshot `version` (default: HEAD) is fully readable on `store`:
 * one HEAD per live file (8 at once), sizes checked against the manifest.
 * Read-only; works over `HttpStore`.
 *
 * @throws TidemarkError `NotFound` when the manifest of `version` is missing;
 *   `Corrupt` when it does not decode; store errors.
 */
export async function verifyMirror(store: ObjectStore, version?: number): Promise<VerifyResult> {
  const reader = openMirror(store);
  const v = version ?? (await reader.head());
  if (v === 0) return { version: 0, ok: true, missing: [], wrongSize: [] };
  const files = referencedFiles(await reader.manifest(v));
  const missing = new Set<string>();
  const wrongSize = new Set<string>();
  await forEachLimit(files, 8, async (f) => {
    let size: number;
    try {
      size = (await store.head(f.path)).size;
    } catch (e) {
      if (isTidemarkError(e, "NotFound")) {
        missing.add(f.path);
        return;
      }
      throw e;
    }
    if (f.size !== undefined ? size !== f.size : size < f.minSize) wrongSize.add(f.path);
  });
  // Report in manifest order, whatever order the HEADs finished in.
  const order = (s: Set<string>) => files.map((f) => f.path).filter((p) => s.has(p));
  return {
    version: v,
    ok: missing.size === 0 && wrongSize.size === 0,
    missing: order(missing),
    wrongSize: order(wrongSize),
  };
}
