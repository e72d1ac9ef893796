import { TidemarkError } from "../errors.ts";

// C0 controls, DEL and C1 controls: object stores reject or mangle them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Why `path` is not a valid manifest entry path, or `undefined` if it is.
 *
 * Entry paths are keys relative to the table root, used verbatim on every
 * store (a mirror writes the same key it reads), so they must be normalised:
 * no leading `/`, no empty, `.` or `..` segments (a path escaping the table,
 * or two spellings of one file, would defeat the live-file diff and could
 * make `expire` delete outside the table), no backslash (a separator on
 * Windows stores), no control characters (rejected by object stores).
 */
export function pathProblem(path: string): string | undefined {
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
 * Throws `InvalidArgument` (when encoding) or `Corrupt` (when decoding) if
 * `path` is not a valid entry path (see {@link pathProblem}).
 */
export function checkPath(path: string, what: string, mode: "encode" | "decode"): void {
  const problem = pathProblem(path);
  if (problem === undefined) return;
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}...` : path);
  throw mode === "encode"
    ? new TidemarkError("InvalidArgument", `cannot encode manifest: ${what} ${shown} ${problem}`)
    : new TidemarkError("Corrupt", `cannot decode manifest: ${what} ${shown} ${problem}`);
}
