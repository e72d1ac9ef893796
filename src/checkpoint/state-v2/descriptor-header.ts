/**
 * The fixed header LaminarDB wraps each commit descriptor in
 * (`encode_commit_descriptor`, `parse_commit_descriptor_header`),
 * big-endian, no padding:
 *
 * | off | size | field |
 * |---:|---:|---|
 * | 0 | 8 | magic `LDBCD2\0\0` |
 * | 8 | 4 | u32 version = 2 |
 * | 12 | 8 | u64 epoch |
 * | 20 | 8 | u64 checkpoint_id |
 * | 28 | 32 | SHA-256 of the descriptor key's UTF-8 bytes |
 * | 60 | 8 | u64 assignment_version |
 * | 68 | 32 | assignment certificate digest |
 * | 100 | 8 | u64 writer node_id |
 * | 108 | 16 | writer boot incarnation |
 * | 124 | 8 | u64 leader node_id |
 * | 132 | 16 | leader boot id |
 * | 148 | 8 | u64 leader process_term |
 * | 156 | 8 | u64 leader fencing_token |
 * | 164 | 8 | u64 payload_len |
 * | 172 | 32 | SHA-256 of the payload only |
 * | 204 | n | payload (opaque) |
 *
 * Local provenance: every field from offset 60 through 163 is zero;
 * otherwise every one is set and the leader proof is canonical.
 *
 * @module
 */

import { type Fault, type Frame, framePrelude } from "./fault.ts";
import type { LeaderProof } from "./fence.ts";
import { isCanonicalLeader } from "./fence.ts";
import { equalBytes, hex, isZero, sha256OfText } from "./ids.ts";
import type { Attempt } from "./keys.ts";

/** Bytes before a descriptor's payload. */
export const DESCRIPTOR_HEADER_LEN = 204;

const DESCRIPTOR_FRAME: Frame = {
  magic: "LDBCD2\0\0",
  older: {},
  version: 2,
  headerLen: DESCRIPTOR_HEADER_LEN,
  kind: "descriptor",
  what: "commit descriptor",
};

/** The cluster writer and authority of a descriptor (LaminarDB's `SealedCommitDescriptorWriter`). */
export interface DescriptorWriter {
  participantNodeId: bigint;
  participantBootIncarnation: Uint8Array;
  certificateDigest: Uint8Array;
  leader: LeaderProof;
}

/** What a descriptor's header attests (LaminarDB's `SealedCommitDescriptor`). */
export interface DescriptorAttestation {
  key: string;
  assignmentVersion: bigint;
  writer: DescriptorWriter | null;
  payloadLen: bigint;
  payloadSha256: string;
}

/**
 * Parses the header of descriptor `key` of `attempt` with every check
 * `parse_commit_descriptor_header` makes: magic, version, the attempt and
 * key digest the key names, and a provenance all local or all set.
 */
export function parseDescriptorHeader(
  header: Uint8Array,
  attempt: Attempt,
  key: string,
): DescriptorAttestation | Fault {
  const v = framePrelude(header, DESCRIPTOR_FRAME);
  if (!(v instanceof DataView)) return v;
  const epoch = v.getBigUint64(12);
  const checkpointId = v.getBigUint64(20);
  const keyDigest = header.subarray(28, 60);
  if (
    epoch !== attempt.epoch ||
    checkpointId !== attempt.checkpointId ||
    !equalBytes(keyDigest, sha256OfText(key))
  ) {
    return {
      rule: "descriptor-identity",
      message: `the header names attempt (${epoch}, ${checkpointId}) key digest ${hex(keyDigest)}; the key names attempt (${attempt.epoch}, ${attempt.checkpointId}) and ${JSON.stringify(key)} (digest ${hex(sha256OfText(key))})`,
    };
  }
  const assignmentVersion = v.getBigUint64(60);
  const digest = header.slice(68, 100);
  const node = v.getBigUint64(100);
  const boot = header.slice(108, 124);
  const leader: LeaderProof = {
    ownerNodeId: v.getBigUint64(124),
    ownerBootId: header.slice(132, 148),
    processTerm: v.getBigUint64(148),
    fencingToken: v.getBigUint64(156),
  };
  let writer: DescriptorWriter | null = null;
  if (!isZero(header.subarray(60, 164))) {
    if (
      assignmentVersion === 0n ||
      isZero(digest) ||
      node === 0n ||
      isZero(boot) ||
      !isCanonicalLeader(leader)
    ) {
      return {
        rule: "descriptor-writer",
        message:
          "incomplete commit descriptor writer certificate: offsets 60-163 must be all zero (local) or all set",
      };
    }
    writer = { participantNodeId: node, participantBootIncarnation: boot, certificateDigest: digest, leader };
  }
  return {
    key,
    assignmentVersion,
    writer,
    payloadLen: v.getBigUint64(164),
    payloadSha256: hex(header.subarray(172, 204)),
  };
}
