/**
 * An attempt's `_SEAL`: compact JSON of LaminarDB's `CheckpointSeal`
 * (version 8), read with `decode_seal`'s checks and then
 * `CheckpointSeal::validate`'s: the identity of its writer, the vnode roster
 * and one attestation per vnode (assignment version, digest, lineage, a
 * writer the certificate names), the descriptor keys sorted and covered by
 * attestations under one leader term. The seal's bytes need not be
 * canonical and unknown fields are ignored, as in Rust.
 *
 * @module
 */

import { compareKeys } from "../../store/keys.ts";
import type { DescriptorAttestation, DescriptorWriter } from "./descriptor-header.ts";
import type { Fault } from "./fault.ts";
import {
  type AssignmentFence,
  certifies,
  fenceDigest,
  isCanonicalFence,
  isCanonicalLeader,
  type LeaderProof,
  readFence,
  readLeaderProof,
  readParticipant,
  sameLeader,
} from "./fence.ts";
import { field, hexDigest, optional, SchemaError, seq, str, struct, u32, u64, uuid } from "./fields.ts";
import { equalBytes, isDigestHex, isZero } from "./ids.ts";
import { isJsonObject, type Json, JsonSyntaxError, parseJson } from "./json.ts";
import { type Attempt, isCanonicalAttempt } from "./keys.ts";
import { type Lineage, lineageProblem } from "./lineage.ts";
import type { PartialAttestation, VnodeWriter } from "./partial-header.ts";

/** `CHECKPOINT_SEAL_VERSION` of the layout read here (Core Cycle 9 and later). */
export const SEAL_VERSION = 8;
/** `MAX_CHECKPOINT_SEAL_BYTES`: LaminarDB refuses a larger seal before reading it. */
export const MAX_SEAL_BYTES = 64 * 1024 * 1024;

/** A decoded seal. */
export interface Seal {
  version: number;
  attempt: Attempt;
  instanceId: string;
  /** The writing process's execution (fresh per backend construction), lowercase hyphenated. */
  executionId: Uint8Array;
  assignmentFence: AssignmentFence | null;
  assignmentVersion: bigint;
  requiredVnodes: number[];
  sealedPartials: PartialAttestation[];
  requiredDescriptors: string[];
  sealedDescriptors: DescriptorAttestation[];
}

function readAttempt(v: Json, what: string): Attempt {
  const f = struct(v, what, ["epoch", "checkpoint_id"]);
  return {
    epoch: u64(field(f, "epoch", what), `${what}.epoch`),
    checkpointId: u64(field(f, "checkpoint_id", what), `${what}.checkpoint_id`),
  };
}

function readLineage(v: Json, what: string): Lineage {
  const f = struct(v, what, ["parent", "total_payload_bytes", "artifact_count"]);
  return {
    parent: optional(f, "parent", (p) => readAttempt(p, `${what}.parent`)),
    totalPayloadBytes: u64(field(f, "total_payload_bytes", what), `${what}.total_payload_bytes`),
    artifactCount: u32(field(f, "artifact_count", what), `${what}.artifact_count`),
  };
}

function readVnodeWriter(v: Json, what: string): VnodeWriter {
  const f = struct(v, what, ["node_id", "boot_incarnation", "assignment_certificate_digest"]);
  return {
    nodeId: u64(field(f, "node_id", what), `${what}.node_id`),
    bootIncarnation: uuid(field(f, "boot_incarnation", what), `${what}.boot_incarnation`),
    certificateDigest: hexDigest(
      field(f, "assignment_certificate_digest", what),
      `${what}.assignment_certificate_digest`,
    ),
  };
}

function readPartialEntry(v: Json, what: string): PartialAttestation {
  const f = struct(v, what, [
    "vnode",
    "assignment_version",
    "writer",
    "payload_len",
    "payload_sha256",
    "lineage",
  ]);
  return {
    vnode: u32(field(f, "vnode", what), `${what}.vnode`),
    assignmentVersion: u64(field(f, "assignment_version", what), `${what}.assignment_version`),
    writer: optional(f, "writer", (w) => readVnodeWriter(w, `${what}.writer`)),
    payloadLen: u64(field(f, "payload_len", what), `${what}.payload_len`),
    payloadSha256: str(field(f, "payload_sha256", what), `${what}.payload_sha256`),
    lineage: readLineage(field(f, "lineage", what), `${what}.lineage`),
  };
}

function readDescriptorWriter(v: Json, what: string): DescriptorWriter {
  const f = struct(v, what, ["participant", "assignment_certificate_digest", "leader_proof"]);
  const p = readParticipant(field(f, "participant", what), `${what}.participant`);
  return {
    participantNodeId: p.nodeId,
    participantBootIncarnation: p.bootIncarnation,
    certificateDigest: hexDigest(
      field(f, "assignment_certificate_digest", what),
      `${what}.assignment_certificate_digest`,
    ),
    leader: readLeaderProof(field(f, "leader_proof", what), `${what}.leader_proof`),
  };
}

function readDescriptorEntry(v: Json, what: string): DescriptorAttestation {
  const f = struct(v, what, ["key", "assignment_version", "writer", "payload_len", "payload_sha256"]);
  return {
    key: str(field(f, "key", what), `${what}.key`),
    assignmentVersion: u64(field(f, "assignment_version", what), `${what}.assignment_version`),
    writer: optional(f, "writer", (w) => readDescriptorWriter(w, `${what}.writer`)),
    payloadLen: u64(field(f, "payload_len", what), `${what}.payload_len`),
    payloadSha256: str(field(f, "payload_sha256", what), `${what}.payload_sha256`),
  };
}

const SEAL_FIELDS = [
  "version",
  "attempt",
  "instance_id",
  "execution_id",
  "assignment_fence",
  "assignment_version",
  "required_vnodes",
  "sealed_partials",
  "required_descriptors",
  "sealed_descriptors",
];

/** The seal's JSON as serde reads it into `CheckpointSeal` (no rule checked yet). */
function readSeal(v: Json): Seal {
  const f = struct(v, "CheckpointSeal", SEAL_FIELDS);
  const w = "seal";
  return {
    version: u32(field(f, "version", w), "version"),
    attempt: readAttempt(field(f, "attempt", w), "attempt"),
    instanceId: str(field(f, "instance_id", w), "instance_id"),
    executionId: uuid(field(f, "execution_id", w), "execution_id"),
    // A fence that is not canonical fails serde's `try_from` (an error of the document).
    assignmentFence: optional(f, "assignment_fence", (x) => {
      const fence = readFence(x);
      if (!isCanonicalFence(fence))
        throw new SchemaError("checkpoint assignment certificate is not canonical");
      return fence;
    }),
    assignmentVersion: u64(field(f, "assignment_version", w), "assignment_version"),
    requiredVnodes: seq(field(f, "required_vnodes", w), "required_vnodes", (x, i) =>
      u32(x, `required_vnodes[${i}]`),
    ),
    sealedPartials: seq(field(f, "sealed_partials", w), "sealed_partials", (x, i) =>
      readPartialEntry(x, `sealed_partials[${i}]`),
    ),
    requiredDescriptors: seq(field(f, "required_descriptors", w), "required_descriptors", (x, i) =>
      str(x, `required_descriptors[${i}]`),
    ),
    sealedDescriptors: seq(field(f, "sealed_descriptors", w), "sealed_descriptors", (x, i) =>
      readDescriptorEntry(x, `sealed_descriptors[${i}]`),
    ),
  };
}

/** Whether `w` is the exact process and certificate `fence` names (`SealedVnodeWriter::matches_fence`). */
export function vnodeWriterMatches(w: VnodeWriter, fence: AssignmentFence): boolean {
  return certifies(fence, w.nodeId, w.bootIncarnation) && equalBytes(w.certificateDigest, fenceDigest(fence));
}

/** `SealedCommitDescriptorWriter::matches_fence`: the writer, the digest and the leader all certified. */
export function descriptorWriterMatches(w: DescriptorWriter, fence: AssignmentFence): boolean {
  return (
    certifies(fence, w.participantNodeId, w.participantBootIncarnation) &&
    equalBytes(w.certificateDigest, fenceDigest(fence)) &&
    isCanonicalLeader(w.leader) &&
    certifies(fence, w.leader.ownerNodeId, w.leader.ownerBootId)
  );
}

/** Why a decoded seal is not valid (`CheckpointSeal::validate`), or `undefined`. */
export function sealProblem(s: Seal): string | undefined {
  if (s.instanceId === "" || isZero(s.executionId)) return "checkpoint seal has an empty writer identity";
  if (!isCanonicalAttempt(s.attempt)) {
    return "checkpoint seal inventory must use one nonzero canonical checkpoint ID";
  }
  const fence = s.assignmentFence;
  if (fence && fence.assignmentVersion !== s.assignmentVersion) {
    return "checkpoint seal inventory assignment version does not match its certificate";
  }
  const vnodes = s.requiredVnodes;
  for (let i = 1; i < vnodes.length; i++) {
    if ((vnodes[i - 1] as number) >= (vnodes[i] as number)) {
      return "checkpoint seal inventory vnode roster is not canonical";
    }
  }
  if (s.sealedPartials.length !== vnodes.length || s.sealedPartials.some((p, i) => p.vnode !== vnodes[i])) {
    return "checkpoint seal partial attestations do not exactly cover its vnodes";
  }
  for (const p of s.sealedPartials) {
    if (p.assignmentVersion !== s.assignmentVersion || !isDigestHex(p.payloadSha256)) {
      return `checkpoint seal has invalid provenance for vnode ${p.vnode}`;
    }
    const why = lineageProblem(p.lineage, s.attempt, p.payloadLen);
    if (why !== undefined) return `checkpoint seal has invalid lineage for vnode ${p.vnode}: ${why}`;
    const writerOk = fence ? p.writer !== null && vnodeWriterMatches(p.writer, fence) : p.writer === null;
    if (!writerOk) return `checkpoint seal has invalid writer certificate for vnode ${p.vnode}`;
  }
  const keys = s.requiredDescriptors;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === "" || (i > 0 && compareKeys(keys[i - 1] as string, keys[i] as string) >= 0)) {
      return "checkpoint seal descriptor inventory is not canonical";
    }
  }
  const ds = s.sealedDescriptors;
  if (ds.length !== keys.length || ds.some((d, i) => d.key !== keys[i])) {
    return "checkpoint seal descriptor attestations do not exactly cover its keys";
  }
  let authority: LeaderProof | undefined;
  for (const d of ds) {
    if (!isDigestHex(d.payloadSha256)) return `checkpoint seal has invalid descriptor digest for '${d.key}'`;
    if (
      fence &&
      d.writer &&
      d.assignmentVersion === fence.assignmentVersion &&
      descriptorWriterMatches(d.writer, fence)
    ) {
      if (authority && !sameLeader(authority, d.writer.leader)) {
        return "checkpoint seal descriptors name different leader terms";
      }
      authority = d.writer.leader;
    } else if (!(fence === null && d.writer === null && d.assignmentVersion === 0n)) {
      return `checkpoint seal has invalid writer certificate for descriptor '${d.key}'`;
    }
  }
  return undefined;
}

/**
 * Decodes `bytes` as the `_SEAL` of `attempt`: the JSON (`seal-json`), its
 * version (`seal-version`; 7 is LaminarDB's previous layout), the attempt it
 * names against the key (`seal-attempt`), then `validate` (`seal-invalid`).
 */
export function decodeSeal(bytes: Uint8Array, attempt: Attempt): Seal | Fault {
  let seal: Seal;
  try {
    const doc = parseJson(bytes);
    // The version first: a seal of another layout is named as such, whatever else it holds.
    if (isJsonObject(doc)) {
      const version = doc.fields.get("version");
      if (typeof version === "bigint" && version !== BigInt(SEAL_VERSION) && !doc.duplicates.has("version")) {
        return {
          rule: "seal-version",
          message:
            version === 7n
              ? "a seal of version 7 (LaminarDB before Core Cycle 9): its current reader refuses it (a state reset is needed)"
              : `unsupported checkpoint seal version ${version}; expected ${SEAL_VERSION}`,
        };
      }
    }
    seal = readSeal(doc);
  } catch (e) {
    if (e instanceof JsonSyntaxError || e instanceof SchemaError) {
      return { rule: "seal-json", message: `invalid checkpoint seal: ${e.message}` };
    }
    throw e;
  }
  if (seal.attempt.epoch !== attempt.epoch || seal.attempt.checkpointId !== attempt.checkpointId) {
    return {
      rule: "seal-attempt",
      message: `the seal names attempt (${seal.attempt.epoch}, ${seal.attempt.checkpointId}); its key names (${attempt.epoch}, ${attempt.checkpointId})`,
    };
  }
  const why = sealProblem(seal);
  return why === undefined ? seal : { rule: "seal-invalid", message: `invalid checkpoint seal: ${why}` };
}

/** Whether two vnode attestations are equal (`SealedVnodePartial: PartialEq`); else what differs. */
export function partialDifference(a: PartialAttestation, b: PartialAttestation): string | undefined {
  if (a.vnode !== b.vnode) return "vnode";
  if (a.assignmentVersion !== b.assignmentVersion) return "assignment_version";
  if ((a.writer === null) !== (b.writer === null)) return "writer";
  if (a.writer && b.writer) {
    if (
      a.writer.nodeId !== b.writer.nodeId ||
      !equalBytes(a.writer.bootIncarnation, b.writer.bootIncarnation) ||
      !equalBytes(a.writer.certificateDigest, b.writer.certificateDigest)
    ) {
      return "writer";
    }
  }
  if (a.payloadLen !== b.payloadLen) return "payload_len";
  if (a.payloadSha256 !== b.payloadSha256) return "payload_sha256";
  const [x, y] = [a.lineage, b.lineage];
  if (
    (x.parent === null) !== (y.parent === null) ||
    (x.parent &&
      y.parent &&
      (x.parent.epoch !== y.parent.epoch || x.parent.checkpointId !== y.parent.checkpointId)) ||
    x.totalPayloadBytes !== y.totalPayloadBytes ||
    x.artifactCount !== y.artifactCount
  ) {
    return "lineage";
  }
  return undefined;
}

/** Whether two descriptor attestations are equal (`SealedCommitDescriptor: PartialEq`); else what differs. */
export function descriptorDifference(a: DescriptorAttestation, b: DescriptorAttestation): string | undefined {
  if (a.key !== b.key) return "key";
  if (a.assignmentVersion !== b.assignmentVersion) return "assignment_version";
  if ((a.writer === null) !== (b.writer === null)) return "writer";
  if (a.writer && b.writer) {
    const [x, y] = [a.writer, b.writer];
    if (
      x.participantNodeId !== y.participantNodeId ||
      !equalBytes(x.participantBootIncarnation, y.participantBootIncarnation) ||
      !equalBytes(x.certificateDigest, y.certificateDigest) ||
      !sameLeader(x.leader, y.leader)
    ) {
      return "writer";
    }
  }
  if (a.payloadLen !== b.payloadLen) return "payload_len";
  if (a.payloadSha256 !== b.payloadSha256) return "payload_sha256";
  return undefined;
}
