/**
 * Reading `FileStore`'s layout on disk (the layout in the module docs of
 * `fs-store.ts`, the spelling of names in `fs-names.ts`): the file that
 * holds a key, the directories that spell a prefix, and the keys of the
 * files under a directory.
 *
 * @module
 */
import type { Dirent, Stats } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { errno, statOrUndefined } from "./fs-io.ts";
import { CONTINUATION, dirComponents, INTERNAL, literalSpelling, nameToSegment, SELF } from "./fs-names.ts";

/** An object's file and its stats. */
export interface Located {
  path: string;
  st: Stats;
}

/**
 * The file holding `key` in the store at `root`, and its stats, or
 * undefined. The escaped spelling first; then, for segments with a `%` that
 * is not an escape, the literal names another tool would have used (only
 * where such a directory exists, so a key without them costs what it always
 * did).
 */
export async function locate(root: string, key: string): Promise<Located | undefined> {
  const segs = key.split("/");
  const find = async (dir: string, i: number): Promise<Located | undefined> => {
    const seg = segs[i] ?? "";
    const last = i === segs.length - 1;
    const spellings = [dirComponents(seg)];
    if (literalSpelling(seg, last)) spellings.push([seg]);
    if (last) {
      for (const parts of spellings) {
        const found = await fileAt(join(dir, ...parts));
        if (found) return found;
      }
      return undefined;
    }
    for (const parts of spellings) {
      const sub = join(dir, ...parts);
      if (spellings.length > 1 && !(await statOrUndefined(sub))?.isDirectory()) continue;
      const found = await find(sub, i + 1);
      if (found) return found;
    }
    return undefined;
  };
  return find(root, 0);
}

/** The object file at `plain` (or beside a same-named directory, as `plain%`). */
async function fileAt(plain: string): Promise<Located | undefined> {
  // Twice: a concurrent conversion (plain file renamed to `name%`) can move it between our stats.
  for (let attempt = 0; attempt < 2; attempt++) {
    const st = await statOrUndefined(plain);
    if (st?.isFile()) return { path: plain, st };
    const alt = await statOrUndefined(plain + SELF);
    if (alt?.isFile()) return { path: plain + SELF, st: alt };
    if (st === undefined) return undefined;
  }
  return undefined;
}

/**
 * The directories that spell the key segments `segs`: the escaped one, and
 * literal ones (see {@link literalSpelling}) that exist.
 */
export async function dirSpellings(root: string, segs: string[]): Promise<string[]> {
  let dirs = [root];
  for (const seg of segs) {
    const next: string[] = [];
    for (const d of dirs) {
      next.push(join(d, ...dirComponents(seg)));
      if (literalSpelling(seg, false) && (await statOrUndefined(join(d, seg)))?.isDirectory()) {
        next.push(join(d, seg));
      }
    }
    dirs = next;
  }
  return dirs;
}

/**
 * Adds to `out` the key and path of every file under `dir` (a directory
 * whose name spells `keyPrefix`; `pending` is the start of a long segment
 * split into `%+` directories above; `root`: the store's own root, whose
 * `.tidemark-` directories are not objects), following symbolic links.
 */
export async function walk(
  dir: string,
  keyPrefix: string,
  pending: string,
  root: boolean,
  out: { key: string; path: string }[],
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return;
    throw e;
  }
  for (const ent of entries) {
    const name = ent.name;
    if (root && name.startsWith(INTERNAL)) continue;
    const path = join(dir, name);
    let isDir = ent.isDirectory();
    let isFile = ent.isFile();
    if (ent.isSymbolicLink()) {
      const st = await statOrUndefined(path);
      isDir = st?.isDirectory() === true;
      isFile = st?.isFile() === true;
    }
    if (isDir) {
      if (name.endsWith(CONTINUATION)) {
        await walk(path, keyPrefix, pending + name.slice(0, -CONTINUATION.length), false, out);
      } else {
        await walk(path, `${keyPrefix}${nameToSegment(pending + name, pending === "")}/`, "", false, out);
      }
    } else if (isFile) {
      const plain = name.endsWith(SELF) ? name.slice(0, -SELF.length) : name;
      out.push({ key: keyPrefix + nameToSegment(pending + plain, pending === ""), path });
    }
  }
}
