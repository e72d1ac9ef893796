/**
 * The checkpoint layout's key names, in one place: the keys of a vnode's
 * partial, an epoch's `_COMMIT` marker, its commit descriptors and source
 * offsets (LaminarDB's names, so either side reads the other's epochs), the
 * prefixes below an epoch, and the parse of `epoch={E}/` back to `E`. Every
 * other checkpoint module builds and reads keys through these functions, so
 * the layout is written once and a key that is not canonical (`epoch=007/`)
 * is rejected the same way everywhere.
 *
 * @module
 */

import { TidemarkError } from "../errors.ts";
import { relativePathProblem } from "../manifest/paths.ts";
import { canonicalU64 } from "./state-v2/ids.ts";

/** The key of vnode `vnode`'s partial state for `epoch`. */
export function checkpointPartialKey(epoch: number, vnode: number): string {
  return `epoch=${epoch}/vnode=${vnode}/partial.bin`;
}

/** The key of `epoch`'s `_COMMIT` marker. */
export function checkpointCommitKey(epoch: number | bigint): string {
  return `epoch=${epoch}/_COMMIT`;
}

/** The prefix of every object of `epoch`: `epoch={E}/`. */
export function epochPrefix(epoch: number | bigint): string {
  return `epoch=${epoch}/`;
}

/** The prefix of `epoch`'s commit descriptors: `epoch={E}/commit/`. */
export function descriptorsPrefix(epoch: number): string {
  return `${epochPrefix(epoch)}commit/`;
}

/** The prefix of `epoch`'s source offsets: `epoch={E}/srcoff/`. */
export function sourceOffsetsPrefix(epoch: number): string {
  return `${epochPrefix(epoch)}srcoff/`;
}

/** `name` checked as a key below an epoch: relative, normalised, no control characters. */
function checkSubKey(name: string, value: unknown): string {
  const problem = typeof value === "string" ? relativePathProblem(value) : "is not a string";
  if (problem !== undefined) {
    throw new TidemarkError("InvalidArgument", `${name} ${JSON.stringify(value)} ${problem}`);
  }
  return value as string;
}

/**
 * The key of a commit descriptor of `epoch`: `epoch={E}/commit/{key}`.
 * LaminarDB names them `node={N}/sink={S}` (one per node and
 * coordinated-commit sink).
 *
 * @throws TidemarkError `InvalidArgument` for a key that is not relative and
 *   normalised (empty, `.`/`..` or empty segments, a leading `/`, a
 *   backslash or control character).
 */
export function checkpointDescriptorKey(epoch: number, key: string): string {
  return `${descriptorsPrefix(epoch)}${checkSubKey("descriptor key", key)}`;
}

/**
 * The key of a node's source offsets for `epoch`: `epoch={E}/srcoff/{nodeKey}`
 * (LaminarDB: `node-{N}`, a JSON map of partition to offset).
 *
 * @throws TidemarkError `InvalidArgument` as {@link checkpointDescriptorKey}.
 */
export function checkpointSourceOffsetsKey(epoch: number, nodeKey: string): string {
  return `${sourceOffsetsPrefix(epoch)}${checkSubKey("node key", nodeKey)}`;
}

const CANONICAL = /^(0|[1-9][0-9]*)$/;

/** `epoch=N/...` → N, for canonical decimal N only (`epoch=007/` is not our layout). */
export function epochOfKey(key: string): number | undefined {
  if (!key.startsWith("epoch=")) return undefined;
  const slash = key.indexOf("/");
  if (slash < 0) return undefined;
  const s = key.slice("epoch=".length, slash);
  if (!CANONICAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** What an object below `epoch={E}/` is: the seal, a vnode's partial, a commit descriptor, a node's source offsets. */
export type LegacyObjectKind = "commit-marker" | "partial" | "descriptor" | "source-offsets";

const EPOCH_KEY = /^epoch=([^/]*)\/(.*)$/s;

/**
 * A key of the layout split into its epoch (a canonical decimal u64, exact
 * as a `bigint`, as LaminarDB's reader takes it), the rest of the key, and
 * what that rest names (`undefined`: nothing of this layout, a stray key, or
 * the epoch's prefix itself, as a delimited listing gives it); `undefined`
 * for a key not under a canonical `epoch={E}/`.
 */
export function parseEpochKey(
  key: string,
): { epoch: bigint; rest: string; kind: LegacyObjectKind | undefined } | undefined {
  const match = EPOCH_KEY.exec(key);
  const epoch = match ? canonicalU64(match[1] ?? "") : undefined;
  if (epoch === undefined) return undefined;
  const rest = match?.[2] ?? "";
  return { epoch, rest, kind: legacyObjectKind(rest) };
}

function legacyObjectKind(rest: string): LegacyObjectKind | undefined {
  if (rest === "_COMMIT") return "commit-marker";
  if (/^vnode=(0|[1-9][0-9]*)\/partial\.bin$/.test(rest)) return "partial";
  if (rest.startsWith("commit/") && rest.length > 7) return "descriptor";
  if (rest.startsWith("srcoff/") && rest.length > 7) return "source-offsets";
  return undefined;
}
