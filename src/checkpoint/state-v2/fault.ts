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

/** What starts a framed object of one kind. */
export interface Frame {
  /** The 8-byte magic. */
  magic: string;
  /** Magics of earlier LaminarDB revisions (named when found: its current reader refuses them). */
  older: Record<string, string>;
  version: number;
  headerLen: number;
  kind: "partial" | "descriptor";
  /** For messages: `vnode partial`, `commit descriptor`. */
  what: string;
}

/**
 * The checks every framed header starts with, in LaminarDB's order: the
 * magic, the header's length, the version. Returns a view of the header, or
 * the fault (`{kind}-magic`, `{kind}-size` for an object shorter than its
 * header, `{kind}-version`).
 */
export function framePrelude(header: Uint8Array, f: Frame): DataView | Fault {
  if (header.length >= 8) {
    const found = latin1.decode(header.subarray(0, 8));
    if (found !== f.magic) {
      const known = f.older[found];
      return {
        rule: `${f.kind}-magic`,
        message: known
          ? `the ${f.what} is ${known}: LaminarDB's current reader refuses it (a state reset is needed)`
          : `the ${f.what} does not start with the magic ${JSON.stringify(f.magic)} (found ${hex(header.subarray(0, 8))})`,
      };
    }
  }
  if (header.length < f.headerLen) {
    return {
      rule: `${f.kind}-size`,
      message: `the object is ${header.length} bytes, shorter than the ${f.headerLen}-byte ${f.what} header`,
    };
  }
  const v = new DataView(header.buffer, header.byteOffset, f.headerLen);
  const version = v.getUint32(8);
  if (version !== f.version) {
    return {
      rule: `${f.kind}-version`,
      message: `unsupported ${f.what} version ${version}; expected ${f.version}`,
    };
  }
  return v;
}
