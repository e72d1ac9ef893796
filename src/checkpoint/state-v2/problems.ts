/**
 * What a checkpoint verification finds, named by key and rule. The rules
 * are LaminarDB's reader's checks (each rule says which), plus the
 * restorability of the newest sealed attempt; the same names are used by the
 * independent fixture generator (test/support/laminardb_state_v2.py).
 *
 * @module
 */

/** A rule a checkpoint object (or the root) can break. */
export type CheckpointRule =
  // _NAMESPACE (`decode_namespace_marker`, `StateNamespaceBinding::try_new`)
  | "namespace-missing"
  | "namespace-invalid"
  | "namespace-noncanonical"
  | "namespace-mismatch"
  // _PRUNE_FLOOR (`read_prune_floor`)
  | "floor-invalid"
  | "floor-noncanonical"
  // vnode partials (`parse_partial_header`, `decode_partial_with_attestation`)
  | "partial-magic"
  | "partial-version"
  | "partial-identity"
  | "partial-writer"
  | "partial-lineage"
  | "partial-size"
  | "partial-sha256"
  // commit descriptors (`parse_commit_descriptor_header`, `decode_commit_descriptor_with_attestation`)
  | "descriptor-magic"
  | "descriptor-version"
  | "descriptor-identity"
  | "descriptor-writer"
  | "descriptor-size"
  | "descriptor-sha256"
  // _SEAL (`decode_seal`, `CheckpointSeal::validate`, `checkpoint_seal_inventory`,
  // `read_sealed_partial_bounded`, `verify_checkpoint_artifact_metadata`)
  | "seal-size"
  | "seal-json"
  | "seal-version"
  | "seal-attempt"
  | "seal-invalid"
  | "seal-missing"
  | "seal-inventory"
  // lineage across seals (laminar-db's `vnode_restore_lineage`)
  | "lineage-parent"
  | "ancestor-missing"
  | "ancestor-unsealed"
  | "ancestor-below-floor"
  // objects LaminarDB never reads (warnings)
  | "below-floor"
  | "noncanonical-attempt"
  | "stray-key"
  | "legacy-layout"
  // the layout LaminarDB wrote before state-v2
  | "commit-marker";

/** One finding: the object (by key), the rule, and what is wrong, in words. */
export interface CheckpointProblem {
  /** The object's key (relative to the checkpoint root), or a prefix for a whole attempt. */
  key: string;
  rule: CheckpointRule;
  message: string;
}

/** A list of findings with no (key, rule) twice. */
export class Findings {
  readonly #seen = new Set<string>();
  readonly list: CheckpointProblem[] = [];

  add(key: string, rule: CheckpointRule, message: string): void {
    const id = `${rule}\u0000${key}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.list.push({ key, rule, message });
  }

  has(key: string, rule: CheckpointRule): boolean {
    return this.#seen.has(`${rule}\u0000${key}`);
  }

  /** Findings in key order, then rule. */
  sorted(): CheckpointProblem[] {
    return [...this.list].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0,
    );
  }
}
