import { TidemarkError } from "../errors.ts";

// C0 controls, DEL and C1 controls: object stores reject or mangle them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The table's own files, which no manifest entry may name: merutable's
 * pointer (`version-hint.text`, and the `.tmp` it renames into place) and
 * everything under `metadata/` (manifests of both layouts, `low_water.txt`).
 * A manifest naming one would make a mirror or a restore copy a data file
 * over the table's control files (catalog/posix.ts and catalog/layout.ts
 * define them; this layer sits below them, so the names are spelled here).
 */
const CONTROL_FILES = new Set(["version-hint.text", "version-hint.text.tmp"]);
const CONTROL_DIR = "metadata";

/**
 * Why `path` is not a valid relative key, or `undefined` if it is: no leading
 * `/`, no empty, `.` or `..` segments (a path escaping its root, or two
 * spellings of one file), no backslash (a separator on Windows stores), no
 * control characters (rejected by object stores). Checkpoint keys below an
 * epoch are checked with it.
 */
export function relativePathProblem(path: string): string | undefined {
  if (path.length === 0) return "is empty";
  if (path.startsWith("/")) return "starts with /";
  if (path.includes("\\")) return "contains a backslash";
  if (CONTROL.test(path)) return "contains a control character";
  for (const seg of path.split("/")) {
    if (seg === "") return "has an empty segment";
    if (seg === "." || seg === "..") return `has a "${seg}" segment`;
  }
  return undefined;
}

/**
 * Why `path` is not a valid manifest entry path, or `undefined` if it is.
 *
 * Entry paths are keys relative to the table root, used verbatim on every
 * store (a mirror writes the same key it reads), so they must be normalised
 * ({@link relativePathProblem}: a path escaping the table, or two spellings
 * of one file, would defeat the live-file diff and could make `expire` delete
 * outside the table), and must not name the table's own control files
 * (`version-hint.text`, anything under `metadata/`): a mirror or a restore
 * would copy such a "data file" over the table's pointer or manifests.
 */
export function pathProblem(path: string): string | undefined {
  const problem = relativePathProblem(path);
  if (problem !== undefined) return problem;
  const first = path.split("/", 1)[0] as string;
  if (first === CONTROL_DIR) return `names the table's ${CONTROL_DIR}/ (its manifests and low_water)`;
  if (CONTROL_FILES.has(path)) return "names the table's version-hint.text";
  return undefined;
}

/**
 * Throws `InvalidArgument` (when encoding) or `Corrupt` (when decoding) if
 * `path` is not a valid entry path (see {@link pathProblem}). Every reader and
 * writer of a manifest goes through the codec, which calls it for each path.
 */
export function checkPath(path: string, what: string, mode: "encode" | "decode"): void {
  const problem = pathProblem(path);
  if (problem === undefined) return;
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}...` : path);
  throw mode === "encode"
    ? new TidemarkError("InvalidArgument", `cannot encode manifest: ${what} ${shown} ${problem}`)
    : new TidemarkError("Corrupt", `cannot decode manifest: ${what} ${shown} ${problem}`);
}
