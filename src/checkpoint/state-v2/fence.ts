/**
 * The assignment certificate a cluster seal carries (LaminarDB's
 * `CheckpointAssignmentFence`, crates/laminar-core/src/checkpoint/assignment.rs)
 * and the writer proofs checked against it: a vnode writer and a descriptor
 * writer must be a participant of the roster with its exact boot
 * incarnation, and carry the certificate's digest.
 *
 * Two revisions of the certificate exist: the newest has
 * `partitioning_abi_version` (which must be 1) and a digest tagged
 * `laminardb-checkpoint-assignment-v3`; the one before has neither and a digest
 * tagged `-v2`. A certificate is read in the shape it is written in.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { byteArray32, field, seq, struct, u16, u32, u64, uuid } from "./fields.ts";
import { equalBytes, isZero } from "./ids.ts";
import type { Json } from "./json.ts";

/** One process of the roster. */
export interface Participant {
  nodeId: bigint;
  bootIncarnation: Uint8Array;
}

/** An assignment certificate. */
export interface AssignmentFence {
  assignmentVersion: bigint;
  /** `null` in the revision before the partitioning ABI was recorded. */
  partitioningAbiVersion: number | null;
  vnodeCount: number;
  assignmentDigest: Uint8Array;
  participants: Participant[];
}

/** A leader term (LaminarDB's `LeaderProof`). */
export interface LeaderProof {
  ownerNodeId: bigint;
  ownerBootId: Uint8Array;
  processTerm: bigint;
  fencingToken: bigint;
}

// LaminarDB's limits: the participants one shuffle can connect, and `MAX_KEY_GROUP_COUNT`.
const MAX_PARTICIPANTS = 129;
const MAX_KEY_GROUP_COUNT = 65_535;

/** Reads a participant (`deny_unknown_fields`). */
export function readParticipant(v: Json, what: string): Participant {
  const f = struct(v, what, ["node_id", "boot_incarnation"], true);
  return {
    nodeId: u64(field(f, "node_id", what), `${what}.node_id`),
    bootIncarnation: uuid(field(f, "boot_incarnation", what), `${what}.boot_incarnation`),
  };
}

/**
 * Reads a certificate in either revision's shape; `undefined` for a shape
 * neither revision has.
 *
 * @throws SchemaError as serde would.
 */
export function readFence(v: Json): AssignmentFence {
  const what = "assignment_fence";
  const withAbi = struct(v, what, []).has("partitioning_abi_version");
  const known = withAbi
    ? ["assignment_version", "partitioning_abi_version", "vnode_count", "assignment_digest", "participants"]
    : ["assignment_version", "vnode_count", "assignment_digest", "participants"];
  // The newest revision denies unknown fields; the one before did not.
  const f = struct(v, what, known, withAbi);
  return {
    assignmentVersion: u64(field(f, "assignment_version", what), `${what}.assignment_version`),
    partitioningAbiVersion: withAbi
      ? u16(field(f, "partitioning_abi_version", what), `${what}.partitioning_abi_version`)
      : null,
    vnodeCount: u32(field(f, "vnode_count", what), `${what}.vnode_count`),
    assignmentDigest: byteArray32(field(f, "assignment_digest", what), `${what}.assignment_digest`),
    participants: seq(field(f, "participants", what), `${what}.participants`, (p, i) =>
      readParticipant(p, `${what}.participants[${i}]`),
    ),
  };
}

/** Reads a leader proof. */
export function readLeaderProof(v: Json, what: string): LeaderProof {
  const f = struct(v, what, ["owner", "fencing_token"]);
  const o = struct(field(f, "owner", what), `${what}.owner`, ["node_id", "boot_id", "process_term"]);
  return {
    ownerNodeId: u64(field(o, "node_id", `${what}.owner`), `${what}.owner.node_id`),
    ownerBootId: uuid(field(o, "boot_id", `${what}.owner`), `${what}.owner.boot_id`),
    processTerm: u64(field(o, "process_term", `${what}.owner`), `${what}.owner.process_term`),
    fencingToken: u64(field(f, "fencing_token", what), `${what}.fencing_token`),
  };
}

/** Whether the certificate has its canonical production shape (`is_canonical`). */
export function isCanonicalFence(f: AssignmentFence): boolean {
  const countOk =
    f.partitioningAbiVersion === null
      ? f.vnodeCount !== 0
      : f.partitioningAbiVersion === 1 && f.vnodeCount >= 1 && f.vnodeCount <= MAX_KEY_GROUP_COUNT;
  if (f.assignmentVersion === 0n || !countOk || isZero(f.assignmentDigest)) return false;
  const ps = f.participants;
  if (ps.length === 0 || ps.length > MAX_PARTICIPANTS) return false;
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as Participant;
    if (p.nodeId === 0n || isZero(p.bootIncarnation)) return false;
    if (i > 0 && (ps[i - 1] as Participant).nodeId >= p.nodeId) return false;
  }
  return true;
}

function le(n: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = n;
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const encoder = new TextEncoder();

/** The certificate's digest (`CheckpointAssignmentFence::digest`), in its revision's form. */
export function fenceDigest(f: AssignmentFence): Uint8Array {
  const h = sha256.create();
  if (f.partitioningAbiVersion === null) {
    h.update(encoder.encode("laminardb-checkpoint-assignment-v2\0"));
    h.update(le(f.assignmentVersion, 8));
  } else {
    h.update(encoder.encode("laminardb-checkpoint-assignment-v3\0"));
    h.update(le(f.assignmentVersion, 8));
    h.update(le(BigInt(f.partitioningAbiVersion), 2));
  }
  h.update(le(BigInt(f.vnodeCount), 4));
  h.update(f.assignmentDigest);
  h.update(le(BigInt(f.participants.length), 8));
  for (const p of f.participants) {
    h.update(le(p.nodeId, 8));
    h.update(p.bootIncarnation);
  }
  return h.digest();
}

/** The boot incarnation the roster certifies for `nodeId`, if it is a participant. */
export function incarnationOf(f: AssignmentFence, nodeId: bigint): Uint8Array | undefined {
  return f.participants.find((p) => p.nodeId === nodeId)?.bootIncarnation;
}

/** Whether `node` with `boot` is the exact process the roster certifies. */
export function certifies(f: AssignmentFence, node: bigint, boot: Uint8Array): boolean {
  const b = incarnationOf(f, node);
  return node !== 0n && !isZero(boot) && b !== undefined && equalBytes(b, boot);
}

/** Whether a leader proof has canonical values (`LeaderProof::is_canonical`). */
export function isCanonicalLeader(l: LeaderProof): boolean {
  return l.ownerNodeId !== 0n && !isZero(l.ownerBootId) && l.processTerm !== 0n && l.fencingToken !== 0n;
}

/** Whether two leader proofs are the same term. */
export function sameLeader(a: LeaderProof, b: LeaderProof): boolean {
  return (
    a.ownerNodeId === b.ownerNodeId &&
    equalBytes(a.ownerBootId, b.ownerBootId) &&
    a.processTerm === b.processTerm &&
    a.fencingToken === b.fencingToken
  );
}
