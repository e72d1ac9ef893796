/**
 * The `state-v2` side of a checkpoint mirror's target (the checks of
 * `CheckpointTarget`, `../mirror-target.ts`): the target must hold the
 * source's `_NAMESPACE`, byte for byte, or nothing yet; a seal is
 * `_SEAL`; read from scratch, the target says what it holds by its seals
 * (and their lineage) and its floor. A target that holds another
 * deployment's state, or state-v2 objects without a namespace, is refused
 * before anything is written.
 *
 * @module
 */

import { TidemarkError } from "../../errors.ts";
import { sameBytes } from "../../store/body.ts";
import { bytesIfExists, exists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import { byEpoch, type CheckpointMirrorProgress } from "../mirror-progress.ts";
import { newestOf, type TargetLayout } from "../mirror-target.ts";
import { isFault } from "./fault.ts";
import { attemptOf, NAMESPACE_KEY, parseStateKey, STATE_V2_PREFIX, sealKey } from "./keys.ts";
import { readTargetFloor } from "./mirror-floor.ts";
import { decodeSeal, type Seal } from "./seal.ts";

/** The parent epochs a seal's lineage names, distinct, ascending. */
export function parentsOf(seal: Seal): string[] {
  const out = new Set<string>();
  for (const p of seal.sealedPartials) if (p.lineage.parent) out.add(String(p.lineage.parent.epoch));
  return [...out].sort(byEpoch);
}

/** The state-v2 checks of `store` as a mirror's target; `C` is the source's namespace bytes. */
export function stateV2Target(store: ObjectStore): TargetLayout<Uint8Array> {
  const sameNamespace = (onTarget: Uint8Array, source: Uint8Array): void => {
    if (!sameBytes(onTarget, source)) {
      throw new TidemarkError(
        "SplitBrain",
        `the target ${store.name} holds another state namespace than the source's: another deployment's checkpoints are mirrored there`,
        { key: NAMESPACE_KEY },
      );
    }
  };
  return {
    layout: "state-v2",
    sealKey: (epoch) => sealKey(attemptOf(BigInt(epoch))),
    async holds(p, namespace) {
      if (!p.namespace) return true;
      const got = await bytesIfExists(store, NAMESPACE_KEY);
      if (got === undefined) return false;
      sameNamespace(got, namespace);
      return true;
    },
    believedEmpty: async (p) => !p.namespace || (await exists(store, NAMESPACE_KEY)),
    /** Reads the target: its namespace, seals (and their parents) and floor. */
    async derive(p: CheckpointMirrorProgress, namespace: Uint8Array) {
      const seals: string[] = [];
      let hasNamespace = false;
      let objects = 0;
      for await (const m of store.list(STATE_V2_PREFIX)) {
        objects++;
        const k = parseStateKey(m.key);
        if (k.kind === "namespace") hasNamespace = true;
        else if (k.kind === "seal") seals.push(m.key);
      }
      if (hasNamespace) {
        const got = await bytesIfExists(store, NAMESPACE_KEY);
        if (got !== undefined) sameNamespace(got, namespace);
        p.namespace = got !== undefined;
      } else if (objects > 0) {
        throw new TidemarkError(
          "NotSupported",
          `the target ${store.name} holds state-v2 objects but no namespace marker: not a mirror of this source (LaminarDB refuses such a root too)`,
          { key: NAMESPACE_KEY },
        );
      }
      for (const key of seals) {
        const k = parseStateKey(key);
        if (k.kind !== "seal") continue;
        const bytes = await bytesIfExists(store, key);
        if (bytes === undefined) continue;
        const seal = decodeSeal(bytes, k.attempt);
        if (isFault(seal)) {
          throw new TidemarkError("Corrupt", `a seal on the target does not decode: ${seal.message}`, {
            key,
          });
        }
        p.attempts[String(k.attempt.epoch)] = parentsOf(seal);
      }
      p.through = newestOf(p.attempts) ?? null;
      const floor = await readTargetFloor(store);
      if (floor) {
        p.floor = String(floor.floor.beforeEpoch);
        p.prunePending = true;
      }
    },
  };
}
