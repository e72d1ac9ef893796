/**
 * How `FileStore` spells keys as file names (the layout in the module docs
 * of `fs-store.ts`): escaping, the split of long segments and the names of
 * the store's own directories. Pure functions, no I/O.
 *
 * @module
 */
export const TMP_DIR = ".tidemark-tmp";
export const META_DIR = ".tidemark-meta";
export const INTERNAL = ".tidemark-";
/** Segments longer than this many encoded bytes are split. */
export const MAX_NAME_BYTES = 200;
/** The longest file name Linux and macOS file systems take, in bytes. */
export const NAME_MAX = 255;
export const CONTINUATION = "%+";
export const SELF = "%";

export const encoder = new TextEncoder();

export interface Sidecar {
  key: string;
  etag: string;
  size: number;
  mtimeMs: number;
  contentType?: string;
  metadata: Record<string, string>;
  /** The body's SHA-256 (hex), computed as it was written, when the put asked for one. */
  sha256?: string;
}

/** Escapes one key segment into a file name (see the module docs). */
export function encodeSegment(seg: string): string {
  if (seg === "") return "%e";
  const s = seg.replaceAll("%", "%25");
  if (s === ".") return "%2E";
  if (s === "..") return "%2E%2E";
  if (s.startsWith(".tidemark")) return `%2E${s.slice(1)}`;
  return s;
}

/** Inverse of {@link encodeSegment} on the names it produces. */
export function decodeSegment(name: string): string {
  if (name === "%e") return "";
  return name.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/**
 * The key segment a file or directory name stands for: the decoded segment
 * when the name is exactly how FileStore spells it, else the name itself (a
 * file placed by another tool, e.g. `50%off.txt`, `x%41`, or a name over 200
 * bytes, which FileStore would have split: its key is its name). `single`:
 * `name` is one path component, not chunks joined (those are always ours).
 */
export function nameToSegment(name: string, single = true): string {
  const decoded = decodeSegment(name);
  const ours = encodeSegment(decoded) === name && (!single || encoder.encode(name).length <= MAX_NAME_BYTES);
  return ours ? decoded : name;
}

/**
 * Whether `seg` may also be stored under its literal name (see
 * {@link nameToSegment}): that name differs from FileStore's own spelling
 * (a `%`, or over 200 bytes); it reads back as `seg` (not a valid escape of
 * another key, not ending in the marker its position gives a meaning: `%`
 * for a file, `%+` for a directory); and it can be a file name at all.
 */
export function literalSpelling(seg: string, isFile: boolean): boolean {
  const bytes = encoder.encode(seg).length;
  return (
    (seg.includes("%") || bytes > MAX_NAME_BYTES) &&
    bytes <= NAME_MAX &&
    !seg.endsWith(isFile ? SELF : CONTINUATION) &&
    nameToSegment(seg) === seg
  );
}

/** Splits an encoded segment into path components of at most ~200 bytes, never inside a character. */
export function chunkName(name: string): string[] {
  const bytes = encoder.encode(name).length;
  if (bytes <= MAX_NAME_BYTES) return [name];
  // Near-equal chunks, so none is tiny (a 1-byte "." chunk would be a special name).
  const n = Math.ceil(bytes / MAX_NAME_BYTES);
  const target = Math.ceil(bytes / n);
  const out: string[] = [];
  let cur = "";
  let curBytes = 0;
  for (const ch of name) {
    const b = encoder.encode(ch).length;
    if (curBytes + b > target && out.length < n - 1) {
      out.push(cur);
      cur = "";
      curBytes = 0;
    }
    cur += ch;
    curBytes += b;
  }
  out.push(cur);
  return out;
}

/** The path components of a directory named by a (full) key segment. */
export function dirComponents(seg: string): string[] {
  const chunks = chunkName(encodeSegment(seg));
  return chunks.map((c, i) => (i < chunks.length - 1 ? c + CONTINUATION : c));
}

/** Path components of a key: the parent directories and the plain file name. */
export function keyComponents(key: string): { dirs: string[]; file: string } {
  const segs = key.split("/");
  const last = segs.pop() ?? "";
  const dirs = segs.flatMap(dirComponents);
  const lastChunks = dirComponents(last);
  const file = lastChunks.pop() ?? "";
  return { dirs: [...dirs, ...lastChunks], file };
}
