/**
 * Whether a sealed attempt can be restored from what the root holds: every
 * vnode's chain of partials, walked from the attempt's seal back through the
 * parents its lineage names to a root, must reach only attempts that are
 * present, sealed, above the prune floor and undamaged, and each link must
 * be LaminarDB's `VnodePartialLineage::extend` of the parent seal's entry
 * for the same vnode (the checks of laminar-db's `vnode_restore_lineage`,
 * made before any payload is read).
 *
 * This is the root's answer only. LaminarDB restores the attempt its
 * decision store names as committed (`checkpoint-decisions/…/head`), which
 * may be older than the newest sealed one (a sealed attempt can still be
 * aborted) and which tidemark does not read.
 *
 * @module
 */

import { type Attempt, attemptOf, sealKey } from "./keys.ts";
import { describeLineage, extendLineage, sameLineage } from "./lineage.ts";
import type { CheckpointRule } from "./problems.ts";
import type { Seal } from "./seal.ts";

/** What the chain walk needs to know of one attempt. */
export interface AttemptFacts {
  attempt: Attempt;
  /** Its epoch is below the prune floor's `before_epoch`. */
  belowFloor: boolean;
  /** A `_SEAL` object exists (valid or not). */
  hasSeal: boolean;
  /** The seal, when it decoded and validated. */
  seal: Seal | undefined;
  /** A problem was found in one of its objects (partials, descriptors, seal, inventory). */
  damaged: boolean;
}

/** A link of a chain that does not hold. */
export interface Break {
  /** The key the problem is named by: the ancestor's `_SEAL`, or the child's for bad arithmetic. */
  key: string;
  rule: CheckpointRule;
  message: string;
}

/** The verdict on one sealed attempt. */
export interface Restorability {
  attempt: Attempt;
  restorable: boolean;
  /** Every attempt its chains reach, itself included, newest first. */
  chain: bigint[];
  /** The links that do not hold, anywhere in its chains. */
  breaks: Break[];
  /** Why it is or is not restorable, in words. */
  why: string;
}

/**
 * The links of `a`'s own seal (not its ancestors'): one per vnode with a
 * parent. Missing, unsealed and below-floor parents are breaks; a parent
 * whose seal lacks the vnode, or whose entry the child's lineage does not
 * extend, is a `lineage-parent` break of the child.
 */
export function linksOf(
  a: AttemptFacts,
  facts: Map<bigint, AttemptFacts>,
): { parents: bigint[]; breaks: Break[] } {
  const parents = new Set<bigint>();
  const breaks: Break[] = [];
  if (!a.seal) return { parents: [], breaks };
  for (const p of a.seal.sealedPartials) {
    const parent = p.lineage.parent;
    if (parent === null) continue;
    const pf = facts.get(parent.epoch);
    const key = sealKey(attemptOf(parent.epoch));
    const of = `vnode ${p.vnode} of attempt ${a.attempt.epoch} is a child of attempt ${parent.epoch}`;
    if (pf?.belowFloor ?? false) {
      breaks.push({
        key,
        rule: "ancestor-below-floor",
        message: `${of}, which is below the prune floor (LaminarDB reads it as gone)`,
      });
    } else if (pf === undefined) {
      breaks.push({ key, rule: "ancestor-missing", message: `${of}, which is not in the root` });
    } else if (!pf.hasSeal) {
      breaks.push({ key, rule: "ancestor-unsealed", message: `${of}, which has no _SEAL` });
    } else if (pf.seal) {
      parents.add(parent.epoch);
      const entry = pf.seal.sealedPartials.find((e) => e.vnode === p.vnode);
      const childKey = sealKey(a.attempt);
      if (entry === undefined) {
        breaks.push({
          key: childKey,
          rule: "lineage-parent",
          message: `${of}, whose seal has no vnode ${p.vnode}`,
        });
        continue;
      }
      const expected = extendLineage(parent, entry.lineage, p.payloadLen);
      if (typeof expected === "string") {
        breaks.push({ key: childKey, rule: "lineage-parent", message: `${of}: ${expected}` });
      } else if (!sameLineage(expected, p.lineage)) {
        breaks.push({
          key: childKey,
          rule: "lineage-parent",
          message: `${of}: its lineage is ${describeLineage(p.lineage)}, extending the parent's entry gives ${describeLineage(expected)}`,
        });
      }
    } else {
      // The parent's seal exists but is damaged: already a problem of its own.
      parents.add(parent.epoch);
    }
  }
  return { parents: [...parents], breaks };
}

/** The verdict on sealed attempt `epoch` (its seal must be in `facts`). */
export function restorability(epoch: bigint, facts: Map<bigint, AttemptFacts>): Restorability {
  const chain: bigint[] = [];
  const breaks: Break[] = [];
  const damaged: bigint[] = [];
  const seen = new Set<bigint>();
  const visit = (e: bigint) => {
    if (seen.has(e)) return;
    seen.add(e);
    chain.push(e);
    const f = facts.get(e);
    if (!f) return;
    if (f.damaged || !f.seal) damaged.push(e);
    const links = linksOf(f, facts);
    breaks.push(...links.breaks);
    for (const p of links.parents) visit(p);
  };
  visit(epoch);
  chain.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  damaged.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  const restorable = breaks.length === 0 && damaged.length === 0;
  const path = chain.join(" ← ");
  let why: string;
  if (restorable) {
    why = `every vnode's chain (${path}) is present, sealed, above the prune floor and intact`;
  } else {
    // One reason per broken link (its vnodes counted), not one per vnode.
    const byLink = new Map<string, { message: string; n: number }>();
    for (const b of breaks) {
      const id = `${b.rule} ${b.key}`;
      const seen = byLink.get(id);
      if (seen) seen.n++;
      else byLink.set(id, { message: b.message, n: 1 });
    }
    const reasons = [
      ...damaged.map((e) => `attempt ${e} is damaged`),
      ...[...byLink.values()].map((r) =>
        r.n > 1 ? `${r.message} (and ${r.n - 1} more vnode(s) alike)` : r.message,
      ),
    ];
    why = `not restorable: ${reasons.join("; ")}`;
  }
  return { attempt: attemptOf(epoch), restorable, chain, breaks, why };
}
