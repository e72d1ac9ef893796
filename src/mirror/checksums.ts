/**
 * The checksum record a mirror writes for each version it publishes: the
 * SHA-256 of every file the version references and of its manifest, at
 * `_tidemark/checksums/v{N}.sha256`, written after the files and before the
 * manifest, in the format of coreutils' `sha256sum` (`<hex>  <path>`, one a
 * line, paths in UTF-8 order), so `sha256sum -c` checks a mirror in a
 * directory from its root.
 *
 * It is the mirror's own durable record of what it copied, kept on the
 * mirror: deep verification (`verifyMirror(store, { deep: true })`) needs
 * nothing else, not the source. It binds each path to its bytes within a
 * version, which a checksum stored with each object alone cannot: a file of
 * another table copied over one of the mirror's brings its own checksum
 * along. No layout detection reads `_tidemark/` (tables keep their
 * manifests under `metadata/`, their files where the manifest names them).
 *
 * A digest the mirror does not know (a file copied before mirrors recorded
 * checksums) is left out: deep verification reports such a file as
 * unrecorded, and `tidemark verify --deep --adopt` records it.
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import { isSha256Hex, sha256Of } from "../store/checksum.ts";
import { bytesIfExists } from "../store/exists.ts";
import { compareKeys } from "../store/keys.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";

/** Where the records live: a prefix no table layout reads. */
export const CHECKSUMS_PREFIX = "_tidemark/checksums/";

/** The key of version `version`'s checksum record. */
export function checksumsKey(version: number): string {
  return `${CHECKSUMS_PREFIX}v${version}.sha256`;
}

/** The version whose checksum record `key` is, or `undefined` when it is not one. */
export function parseChecksumsKey(key: string): number | undefined {
  const m = /^v([1-9][0-9]{0,15})\.sha256$/.exec(key.slice(CHECKSUMS_PREFIX.length));
  return key.startsWith(CHECKSUMS_PREFIX) && m ? Number(m[1]) : undefined;
}

/** Path → SHA-256 (lower-case hex). */
export type Checksums = Map<string, string>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * `sums` as `sha256sum` writes them: `<hex>  <path>\n`, paths in UTF-8
 * order. A path holding a backslash is written as GNU coreutils escapes it
 * (the line starts with `\`, the backslash doubled); keys hold no newline.
 */
export function encodeChecksums(sums: Checksums): Uint8Array {
  const paths = [...sums.keys()].sort(compareKeys);
  let out = "";
  for (const p of paths) {
    const line = `${sums.get(p)}  ${p.replaceAll("\\", "\\\\")}\n`;
    out += p.includes("\\") ? `\\${line}` : line;
  }
  return encoder.encode(out);
}

/**
 * Reads a record written by {@link encodeChecksums}.
 *
 * @throws TidemarkError `Corrupt` naming `key` and the line for anything else.
 */
export function decodeChecksums(bytes: Uint8Array, key: string): Checksums {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (e) {
    throw new TidemarkError("Corrupt", `${key} is not UTF-8 text`, { key, cause: e });
  }
  const sums: Checksums = new Map();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const [i, raw] of lines.entries()) {
    const escaped = raw.startsWith("\\");
    const line = escaped ? raw.slice(1) : raw;
    const hex = line.slice(0, 64);
    let path = line.slice(66);
    if (escaped) path = path.replaceAll("\\\\", "\\");
    if (!isSha256Hex(hex) || line.slice(64, 66) !== "  " || path === "" || sums.has(path)) {
      throw new TidemarkError(
        "Corrupt",
        `${key} line ${i + 1} is not "<sha256>  <path>": ${JSON.stringify(raw.slice(0, 120))}`,
        {
          key,
        },
      );
    }
    sums.set(path, hex);
  }
  return sums;
}

/** Version `version`'s checksum record on `store`, or `undefined` when it has none. */
export async function readChecksums(store: ObjectStore, version: number): Promise<Checksums | undefined> {
  const key = checksumsKey(version);
  const bytes = await bytesIfExists(store, key);
  return bytes === undefined ? undefined : decodeChecksums(bytes, key);
}

/**
 * Writes version `version`'s checksum record, create-only. A record already
 * there (a racing mirror of the same source, our own earlier attempt, or an
 * earlier record that lacked digests known now) is kept when it holds the
 * same digests, and completed with the ones it lacks; a digest that differs
 * for one path is another history's record: `SplitBrain`.
 *
 * @returns bytes written (0 when the record was there already, complete).
 */
export async function writeChecksums(store: ObjectStore, version: number, sums: Checksums): Promise<number> {
  const key = checksumsKey(version);
  const put = async (bytes: Uint8Array, mode: "create" | { ifMatch: string }) =>
    store.put(key, bytes, { mode, contentType: "text/plain", sha256: await sha256Of(bytes) });
  const bytes = encodeChecksums(sums);
  try {
    await put(bytes, "create");
    return bytes.length;
  } catch (e) {
    if (!isTidemarkError(e, "AlreadyExists")) throw e;
  }
  for (let attempt = 1; ; attempt++) {
    const existing = await store.get(key);
    const theirs = decodeChecksums(await existing.bytes(), key);
    const merged = new Map(theirs);
    for (const [path, hex] of sums) {
      const other = theirs.get(path);
      if (other !== undefined && other !== hex) {
        throw new TidemarkError(
          "SplitBrain",
          `${store.name} already has ${key} giving ${path} SHA-256 ${other}, this mirror's copy has ${hex}: ` +
            "another history's checksums were recorded here",
          { key },
        );
      }
      merged.set(path, hex);
    }
    if (merged.size === theirs.size) return 0;
    const more = encodeChecksums(merged);
    try {
      if (capabilitiesOf(store).compareAndSwap) await put(more, { ifMatch: existing.etag });
      else await store.put(key, more, { contentType: "text/plain" });
      return more.length;
    } catch (e) {
      // Another writer completed it first: read it again.
      if (!isTidemarkError(e, "PreconditionFailed") || attempt >= 3) throw e;
    }
  }
}
