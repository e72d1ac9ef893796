/**
 * The fixed header LaminarDB wraps each vnode partial in (`encode_partial`,
 * `parse_partial_header`), big-endian, no padding:
 *
 * | off | size | field |
 * |---:|---:|---|
 * | 0 | 8 | magic `LDBVP3\0\0` |
 * | 8 | 4 | u32 version = 3 |
 * | 12 | 8 | u64 epoch |
 * | 20 | 8 | u64 checkpoint_id |
 * | 28 | 4 | u32 vnode |
 * | 32 | 8 | u64 assignment_version |
 * | 40 | 8 | u64 writer node_id (0: local) |
 * | 48 | 16 | writer boot incarnation, UUID bytes (nil: local) |
 * | 64 | 32 | assignment certificate digest (zeros: local) |
 * | 96 | 8 | u64 payload_len |
 * | 104 | 32 | SHA-256 of the payload only |
 * | 136 | 8 | u64 lineage parent epoch (0: root) |
 * | 144 | 8 | u64 lineage parent checkpoint_id (0: root) |
 * | 152 | 8 | u64 lineage total_payload_bytes |
 * | 160 | 4 | u32 lineage artifact_count |
 * | 164 | n | payload (opaque) |
 *
 * @module
 */

import { type Fault, type Frame, framePrelude } from "./fault.ts";
import { hex, isZero } from "./ids.ts";
import type { Attempt } from "./keys.ts";
import { type Lineage, lineageProblem } from "./lineage.ts";

/** Bytes before a partial's payload. */
export const PARTIAL_HEADER_LEN = 164;

const PARTIAL_FRAME: Frame = {
  magic: "LDBVP3\0\0",
  // The wrappers of earlier LaminarDB revisions, named when found (LaminarDB's
  // current reader refuses them: "older V2 wrappers ... require an explicit state reset").
  older: {
    "LDBVP2\0\0": "an LDBVP2 wrapper (136-byte header, LaminarDB before Core Cycle 9)",
    "LDBVP1\0\0": "an LDBVP1 wrapper (128-byte header, early state-v2)",
  },
  version: 3,
  headerLen: PARTIAL_HEADER_LEN,
  kind: "partial",
  what: "vnode partial",
};

/** A cluster writer of a partial (LaminarDB's `SealedVnodeWriter`). */
export interface VnodeWriter {
  nodeId: bigint;
  bootIncarnation: Uint8Array;
  certificateDigest: Uint8Array;
}

/** What a partial's header attests (LaminarDB's `SealedVnodePartial`). */
export interface PartialAttestation {
  vnode: number;
  assignmentVersion: bigint;
  writer: VnodeWriter | null;
  payloadLen: bigint;
  /** 64 lowercase hex characters. */
  payloadSha256: string;
  lineage: Lineage;
}

/**
 * Parses the header of the partial stored at (`attempt`, `vnode`), with every
 * check `parse_partial_header` makes: magic, version, the attempt and vnode
 * the key names, a writer triple all zero or all set, and a lineage valid on
 * its own. `header` holds at least the first {@link PARTIAL_HEADER_LEN} bytes
 * when the object has them; a shorter object is a size fault (after the magic).
 */
export function parsePartialHeader(
  header: Uint8Array,
  attempt: Attempt,
  vnode: number,
): PartialAttestation | Fault {
  const v = framePrelude(header, PARTIAL_FRAME);
  if (!(v instanceof DataView)) return v;
  const epoch = v.getBigUint64(12);
  const checkpointId = v.getBigUint64(20);
  const headerVnode = v.getUint32(28);
  if (epoch !== attempt.epoch || checkpointId !== attempt.checkpointId || headerVnode !== vnode) {
    return {
      rule: "partial-identity",
      message: `the header names attempt (${epoch}, ${checkpointId}) vnode ${headerVnode}; the key names attempt (${attempt.epoch}, ${attempt.checkpointId}) vnode ${vnode}`,
    };
  }
  const nodeId = v.getBigUint64(40);
  const boot = header.slice(48, 64);
  const digest = header.slice(64, 96);
  let writer: VnodeWriter | null;
  if (nodeId === 0n && isZero(boot) && isZero(digest)) writer = null;
  else if (nodeId !== 0n && !isZero(boot) && !isZero(digest)) {
    writer = { nodeId, bootIncarnation: boot, certificateDigest: digest };
  } else {
    return {
      rule: "partial-writer",
      message:
        "incomplete vnode partial writer certificate: node id, boot incarnation and digest must be all zero (local) or all set",
    };
  }
  const payloadLen = v.getBigUint64(96);
  const parentEpoch = v.getBigUint64(136);
  const parentCheckpoint = v.getBigUint64(144);
  const lineage: Lineage = {
    parent:
      parentEpoch === 0n && parentCheckpoint === 0n
        ? null
        : { epoch: parentEpoch, checkpointId: parentCheckpoint },
    totalPayloadBytes: v.getBigUint64(152),
    artifactCount: v.getUint32(160),
  };
  const why = lineageProblem(lineage, attempt, payloadLen);
  if (why !== undefined)
    return { rule: "partial-lineage", message: `invalid vnode partial lineage metadata: ${why}` };
  return {
    vnode,
    assignmentVersion: v.getBigUint64(32),
    writer,
    payloadLen,
    payloadSha256: hex(header.subarray(104, 136)),
    lineage,
  };
}
