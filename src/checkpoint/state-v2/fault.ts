/**
 * A check that failed on one object (the rule and why), as the decoders of
 * the `state-v2` layout return it instead of throwing: a verifier collects
 * every fault of a root, named by key; the mirror stops at the first.
 *
 * @module
 */

import { hex } from "./ids.ts";
import type { CheckpointRule } from "./problems.ts";

/** A rule an object breaks, and why. */
export interface Fault {
  rule: CheckpointRule;
  message: string;
}

/** Whether a decoder's result is a fault. */
export function isFault(r: object): r is Fault {
  return "rule" in r && "message" in r;
}

const latin1 = new TextDecoder("latin1");

/**
 * Why an object does not start with the 8-byte `magic` (`older` names the
 * wrappers of earlier LaminarDB revisions, which its current reader refuses),
 * or `undefined` when it does (or is too short to tell).
 */
export function magicFault(
  bytes: Uint8Array,
  magic: string,
  older: Record<string, string>,
  rule: CheckpointRule,
  what: string,
): Fault | undefined {
  if (bytes.length < 8) return undefined;
  const found = latin1.decode(bytes.subarray(0, 8));
  if (found === magic) return undefined;
  const known = older[found];
  return {
    rule,
    message: known
      ? `${what} is ${known}: LaminarDB's current reader refuses it (a state reset is needed)`
      : `${what} does not start with the magic ${JSON.stringify(magic)} (found ${hex(bytes.subarray(0, 8))})`,
  };
}
