/**
 * What a restore proves before a byte is written: the target's history is
 * the source's (`proveSameHistory`), the source's did not change while it
 * was read (`checkSourceUnchanged`), every key lands where merutable opens
 * it (`checkLiteralPaths`), and a mirror's manifests match its checksum
 * records (`recordedChecksums`, whose digests each copied file is checked
 * against as it streams).
 *
 * @module
 */
import type { ManifestFile } from "../catalog/chain.ts";
import { isLegacyManifestError, posixManifestKey } from "../catalog/posix.ts";
import type { TableReader } from "../catalog/table.ts";
import { TidemarkError } from "../errors.ts";
import { readChecksums } from "../mirror/checksums.ts";
import { sameBytes } from "../store/body.ts";
import { sha256Hex } from "../store/checksum.ts";
import { locate, type ObjectStore } from "../store/types.ts";
import type { TargetState } from "./target.ts";

/**
 * Proves, before anything is written, that the table on the target is the
 * source's history: its HEAD (the version its hint names) and every manifest
 * it holds at or below the version restored (each one the restored table
 * would keep, or that a create-only write would meet) are byte for byte the
 * source's manifest of that version (`sourceBytes`). A version the source no
 * longer holds proves nothing: it is accepted only below a proven HEAD (an
 * earlier restore wrote it, from an older copy of the history). Anything else
 * is another history: merutable committed to the restored table (its own
 * vN, on a directory the mirror knows nothing of), or an interrupted commit
 * of merutable's left a manifest above the hint. Restoring over it would
 * stack two histories, so it is `SplitBrain`, with nothing written.
 */
export async function proveSameHistory(
  to: ObjectStore,
  target: TargetState,
  version: number,
  sourceBytes: (v: number) => Promise<Uint8Array | undefined>,
): Promise<void> {
  const head = target.hint?.version;
  const versions = [...target.manifests.keys()].sort((a, b) => b - a);
  for (const v of versions) {
    const key = posixManifestKey(v);
    const ours = target.manifests.get(v) as Uint8Array;
    const theirs = await sourceBytes(v);
    const at =
      v === head
        ? `its HEAD v${v}`
        : `its v${v} (${head === undefined ? "no version-hint.text" : `HEAD v${head}`})`;
    if (theirs === undefined) {
      if (head !== undefined && v < head) continue;
      throw new TidemarkError(
        "SplitBrain",
        `cannot restore v${version} into ${to.name}: ${at} cannot be proven the source's (the source holds no v${v}, a gap), ` +
          "so restoring over it could stack two histories (did merutable commit to the restored table?); nothing was written: " +
          "restore into an empty directory",
        { key },
      );
    }
    if (!sameBytes(theirs, ours)) {
      throw new TidemarkError(
        "SplitBrain",
        `cannot restore v${version} into ${to.name}: ${at} is not the source's v${v} (another history: did merutable commit to the restored table?); ` +
          "nothing was written: restore into an empty directory",
        { key },
      );
    }
  }
}

/**
 * The source's history did not change while the restore read it: its top
 * manifest, read again after every other source manifest, holds the bytes
 * read first. merutable never rewrites a manifest in place, and a manifest
 * a rollback removed does not come back with the same bytes, so while the
 * top one stays, every older one read in between is of its history: a
 * primary rolled back (and committing the same numbers again) during the
 * walk is refused, never restored as a mix of both histories. One GET.
 *
 * @throws TidemarkError `PreconditionFailed` (nothing written; run it again).
 */
export async function checkSourceUnchanged(
  table: TableReader,
  version: number,
  top: ManifestFile,
): Promise<void> {
  let again: ManifestFile | undefined;
  try {
    again = await table.readManifestIfExists(version);
  } catch (e) {
    if (!isLegacyManifestError(e)) throw e;
  }
  if (again !== undefined && sameBytes(again.bytes, top.bytes)) return;
  throw new TidemarkError(
    "PreconditionFailed",
    `the source's v${version} ${again === undefined ? "is gone" : "holds other bytes"} since the restore read it: ` +
      `${table.store.name}'s history changed under the restore (a primary rolled back?); nothing was written; run it again`,
    { key: table.manifestKey(version) },
  );
}

/**
 * Every key a restore writes must land where merutable opens it: its
 * relative path, literally. A store that would keep a key under another name
 * (a directory store escapes `%`, names over 200 bytes and `.tidemark`
 * names, see `ObjectStore.storesVerbatim`) is refused up front, and so is a
 * path that is also the directory of another (no file system holds both).
 *
 * @throws TidemarkError `InvalidArgument` naming the path; nothing is written.
 */
export function checkLiteralPaths(to: ObjectStore, keys: string[]): void {
  const refuse = (key: string, why: string): never => {
    throw new TidemarkError(
      "InvalidArgument",
      `cannot restore into ${to.name}: ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}...` : key)} ${why}; nothing was written`,
      { key },
    );
  };
  const all = new Set(keys);
  for (const k of keys) {
    const { store, key } = locate(to, k);
    if (store.storesVerbatim?.(key) === false) {
      refuse(
        k,
        "cannot be stored under its literal name there, and merutable opens the path as the manifest names it",
      );
    }
    for (let i = k.indexOf("/"); i >= 0; i = k.indexOf("/", i + 1)) {
      if (all.has(k.slice(0, i)))
        refuse(k.slice(0, i), `is a file and the directory of ${JSON.stringify(k)}`);
    }
  }
}

/**
 * The SHA-256s a mirror recorded for the files of the versions restored
 * (their checksum records, see `mirror/checksums.ts`; a posix source has
 * none), each manifest checked against its record first: a restore from a
 * damaged mirror fails before anything is written (a damaged file fails as
 * it streams, before its last byte reaches the target).
 *
 * @throws TidemarkError `Corrupt` naming the manifest or the file.
 */
export async function recordedChecksums(
  table: TableReader,
  files: ManifestFile[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (table.layout !== "object-store") return out;
  for (const f of files) {
    const sums = await readChecksums(table.store, f.version);
    if (sums === undefined) continue;
    const key = table.manifestKey(f.version);
    const want = sums.get(key);
    const got = await sha256Hex(f.bytes);
    if (want !== undefined && want !== got) {
      throw new TidemarkError(
        "Corrupt",
        `${key} on ${table.store.name} has SHA-256 ${got}, its checksum record says ${want}: the mirror's copy is damaged; nothing was written`,
        { key },
      );
    }
    for (const [path, hex] of sums) {
      if (path === key) continue;
      const other = out.get(path);
      if (other !== undefined && other !== hex) {
        throw new TidemarkError(
          "Corrupt",
          `${table.store.name}'s checksum records disagree on ${path} (${other}, ${hex}): nothing was written`,
          { key: path },
        );
      }
      out.set(path, hex);
    }
  }
  return out;
}
