/**
 * `FileStore`'s object metadata: each body file's sidecar,
 * `.tidemark-meta/<inode>.json` (etag, content type, user metadata, the
 * SHA-256 recorded at the put), keyed
 * by the inode so body and metadata change together with one rename.
 *
 * @module
 */
import type { Stats } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ObjectMeta } from "../store/types.ts";
import { META_DIR, type Sidecar } from "./fs-names.ts";

/** The sidecar of the body file with inode `ino`. */
export function metaPath(root: string, ino: number): string {
  return join(root, META_DIR, `${ino}.json`);
}

/** The sidecar of `key`'s body file `st`, when it describes that body. */
async function sidecar(root: string, key: string, st: Stats): Promise<Sidecar | undefined> {
  try {
    const s = JSON.parse(await readFile(metaPath(root, st.ino), "utf8")) as Sidecar;
    // A sidecar left by a deleted file whose inode was reused, or copied with
    // the directory, describes another body: trust it only when it matches.
    if (s.key === key && s.size === st.size && s.mtimeMs === st.mtimeMs) return s;
  } catch {
    // Missing or unreadable: a file put here by another tool.
  }
  return undefined;
}

/**
 * The metadata of `key`, whose body file is `st`: the etag (and, with
 * `withMetadata`, the user metadata) from its sidecar; a file another tool
 * placed has none, and an etag of its inode, mtime and size.
 */
export async function objectMeta(
  root: string,
  key: string,
  st: Stats,
  withMetadata: boolean,
): Promise<ObjectMeta> {
  const side = await sidecar(root, key, st);
  const etag =
    side?.etag ??
    `f${st.ino.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}-${st.size.toString(16)}`;
  const meta: ObjectMeta = { key, size: st.size, etag, lastModified: st.mtime };
  if (withMetadata) meta.metadata = { ...side?.metadata };
  if (side?.sha256 !== undefined) meta.sha256 = side.sha256;
  return meta;
}
