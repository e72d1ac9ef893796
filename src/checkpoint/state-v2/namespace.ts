/**
 * The two root documents of the `state-v2` layout, read with LaminarDB's
 * checks (`decode_namespace_marker` and `StateNamespaceBinding::try_new`;
 * `read_prune_floor`). Both must be 1 to 512 bytes and exactly the bytes
 * `serde_json::to_vec` writes for what they hold.
 *
 * ```
 * state-v2/_NAMESPACE    {"version":1,"deployment_id":"<uuid>","pipeline_identity":{"canonical_version":6,"sha256":"<hex>"}}
 * state-v2/_PRUNE_FLOOR  {"version":1,"before_epoch":12,"swept_before_epoch":9}
 * ```
 *
 * `before_epoch` is the correctness fence: every attempt with a lower epoch
 * is dead (readers return nothing, writes fail). `swept_before_epoch` is a
 * repair cursor only (every epoch below it has been deleted).
 *
 * @module
 */

import type { Fault } from "./fault.ts";
import { field, SchemaError, str, struct, u16, u32, u64 } from "./fields.ts";
import { equalBytes, formatUuid, isDigestHex, isZero, parseUuid } from "./ids.ts";
import { JsonSyntaxError, parseJson, writeJson } from "./json.ts";

/** The largest `_NAMESPACE` and `_PRUNE_FLOOR` LaminarDB reads. */
export const ROOT_DOCUMENT_MAX_BYTES = 512;

/** A state namespace binding. */
export interface StateNamespace {
  deploymentId: string;
  pipelineIdentity: { canonicalVersion: number; sha256: string };
}

/** A prune floor. */
export interface PruneFloor {
  beforeEpoch: bigint;
  sweptBeforeEpoch: bigint;
}

/** What a caller expects of the namespace (anything given must match). */
export interface NamespaceExpectation {
  deploymentId?: string;
  pipelineSha256?: string;
  /** LaminarDB's `PIPELINE_IDENTITY_VERSION` of the build that reads the root (6 in the revision read here). */
  pipelineIdentityVersion?: number;
}

const encoder = new TextEncoder();

function parsed<T>(
  bytes: Uint8Array,
  rule: "namespace-invalid" | "floor-invalid",
  what: string,
  read: (b: Uint8Array) => T,
): T | Fault {
  if (bytes.length === 0 || bytes.length > ROOT_DOCUMENT_MAX_BYTES) {
    return { rule, message: `${what} is ${bytes.length} bytes; expected 1..=${ROOT_DOCUMENT_MAX_BYTES}` };
  }
  try {
    return read(bytes);
  } catch (e) {
    if (e instanceof JsonSyntaxError || e instanceof SchemaError)
      return { rule, message: `${what} is malformed: ${e.message}` };
    throw e;
  }
}

/**
 * Decodes `_NAMESPACE` bytes: `namespace-invalid` (size, JSON, unknown
 * fields, version, a deployment id that is not a canonical non-nil UUID, a
 * pipeline digest that is not 64 lowercase hex), `namespace-noncanonical`
 * (other bytes than serde's), `namespace-mismatch` (not what `expect` says).
 */
export function decodeNamespace(
  bytes: Uint8Array,
  expect: NamespaceExpectation = {},
): StateNamespace | Fault {
  const what = "the state namespace marker";
  const r = parsed(bytes, "namespace-invalid", what, (b) => {
    const f = struct(
      parseJson(b),
      "StateNamespaceMarker",
      ["version", "deployment_id", "pipeline_identity"],
      true,
    );
    const p = struct(
      field(f, "pipeline_identity", what),
      "PipelineIdentity",
      ["canonical_version", "sha256"],
      true,
    );
    return {
      version: u32(field(f, "version", what), "version"),
      deploymentId: str(field(f, "deployment_id", what), "deployment_id"),
      pipelineIdentity: {
        canonicalVersion: u16(field(p, "canonical_version", what), "canonical_version"),
        sha256: str(field(p, "sha256", what), "sha256"),
      },
    };
  });
  if ("rule" in r) return r;
  if (r.version !== 1) {
    return {
      rule: "namespace-invalid",
      message: `state namespace marker version ${r.version} is unsupported; expected 1`,
    };
  }
  const canonical = writeJson({
    version: r.version,
    deployment_id: r.deploymentId,
    pipeline_identity: {
      canonical_version: r.pipelineIdentity.canonicalVersion,
      sha256: r.pipelineIdentity.sha256,
    },
  });
  if (!equalBytes(encoder.encode(canonical), bytes)) {
    return {
      rule: "namespace-noncanonical",
      message: `state namespace marker is not canonical: expected ${canonical}`,
    };
  }
  const uuid = parseUuid(r.deploymentId);
  if (uuid === undefined || isZero(uuid) || formatUuid(uuid) !== r.deploymentId) {
    return {
      rule: "namespace-invalid",
      message: "deployment ID must be a canonical non-nil UUID (lowercase, hyphenated)",
    };
  }
  if (!isDigestHex(r.pipelineIdentity.sha256)) {
    return {
      rule: "namespace-invalid",
      message: "pipeline identity is not canonical: sha256 must be 64 lowercase hex characters",
    };
  }
  const ns: StateNamespace = { deploymentId: r.deploymentId, pipelineIdentity: r.pipelineIdentity };
  const differs: string[] = [];
  if (expect.deploymentId !== undefined && expect.deploymentId !== ns.deploymentId) {
    differs.push(`deployment ${ns.deploymentId}, expected ${expect.deploymentId}`);
  }
  if (expect.pipelineSha256 !== undefined && expect.pipelineSha256 !== ns.pipelineIdentity.sha256) {
    differs.push(`pipeline identity ${ns.pipelineIdentity.sha256}, expected ${expect.pipelineSha256}`);
  }
  if (
    expect.pipelineIdentityVersion !== undefined &&
    expect.pipelineIdentityVersion !== ns.pipelineIdentity.canonicalVersion
  ) {
    differs.push(
      `pipeline identity version ${ns.pipelineIdentity.canonicalVersion}, expected ${expect.pipelineIdentityVersion}`,
    );
  }
  if (differs.length > 0)
    return { rule: "namespace-mismatch", message: `the state root belongs to ${differs.join("; ")}` };
  return ns;
}

/**
 * Decodes `_PRUNE_FLOOR` bytes: `floor-invalid` (size, JSON, version,
 * `before_epoch` 0, a sweep cursor above the floor), `floor-noncanonical`.
 */
export function decodePruneFloor(bytes: Uint8Array): PruneFloor | Fault {
  const what = "the state prune floor";
  const r = parsed(bytes, "floor-invalid", what, (b) => {
    const f = struct(parseJson(b), "StatePruneFloor", ["version", "before_epoch", "swept_before_epoch"]);
    return {
      version: u32(field(f, "version", what), "version"),
      beforeEpoch: u64(field(f, "before_epoch", what), "before_epoch"),
      sweptBeforeEpoch: u64(field(f, "swept_before_epoch", what), "swept_before_epoch"),
    };
  });
  if ("rule" in r) return r;
  if (r.version !== 1 || r.beforeEpoch === 0n || r.sweptBeforeEpoch > r.beforeEpoch) {
    return { rule: "floor-invalid", message: "state prune floor has a non-canonical version or horizon" };
  }
  const canonical = writeJson({
    version: r.version,
    before_epoch: r.beforeEpoch,
    swept_before_epoch: r.sweptBeforeEpoch,
  });
  if (!equalBytes(encoder.encode(canonical), bytes)) {
    return {
      rule: "floor-noncanonical",
      message: `state prune floor does not use its canonical body: expected ${canonical}`,
    };
  }
  return { beforeEpoch: r.beforeEpoch, sweptBeforeEpoch: r.sweptBeforeEpoch };
}
