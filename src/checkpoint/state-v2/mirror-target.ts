/**
 * What a checkpoint mirror instance knows of its target, and how it checks
 * it before trusting it (as `MirrorTarget` does for tables): saved progress
 * is used only when bound to this source and target and the target still
 * holds the source's namespace and the newest attempt progress says it
 * copied; otherwise the target itself says what it holds (its seals, their
 * lineage, its floor). A target that holds another deployment's state, or
 * state-v2 objects without a namespace, is refused before anything is written.
 *
 * @module
 */

import { TidemarkError } from "../../errors.ts";
import { boundTo } from "../../mirror/progress.ts";
import { sameBytes } from "../../store/body.ts";
import { bytesIfExists, exists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import { isFault } from "./fault.ts";
import { attemptOf, NAMESPACE_KEY, parseStateKey, STATE_V2_PREFIX, sealKey } from "./keys.ts";
import { readTargetFloor } from "./mirror-floor.ts";
import {
  byEpoch,
  type CheckpointMirrorProgress,
  type CheckpointMirrorProgressStore,
  cloneCheckpointProgress,
  freshCheckpointProgress,
} from "./mirror-progress.ts";
import { decodeSeal, type Seal } from "./seal.ts";

/** The parent epochs a seal's lineage names, distinct, ascending. */
export function parentsOf(seal: Seal): string[] {
  const out = new Set<string>();
  for (const p of seal.sealedPartials) if (p.lineage.parent) out.add(String(p.lineage.parent.epoch));
  return [...out].sort(byEpoch);
}

/** The newest epoch of `attempts`, or `undefined`. */
export function newestOf(attempts: Record<string, unknown>): string | undefined {
  return Object.keys(attempts).sort(byEpoch).at(-1);
}

/** A checkpoint mirror's view of its target. */
export class CheckpointTarget {
  readonly #store: ObjectStore;
  readonly #binding: { source: string; target: string };
  readonly #saved: CheckpointMirrorProgressStore | undefined;
  progress: CheckpointMirrorProgress;
  /** `init()` ran: `progress` is what the target was checked to hold. */
  initialised = false;
  /** `progress` was read from the target, not saved progress: what the mirror passed unsealed is unknown. */
  derived = false;

  constructor(
    store: ObjectStore,
    binding: { source: string; target: string },
    saved: CheckpointMirrorProgressStore | undefined,
  ) {
    this.#store = store;
    this.#binding = binding;
    this.#saved = saved;
    this.progress = freshCheckpointProgress(binding);
  }

  /**
   * Loads saved progress once, trusted only when bound to this pair and the
   * target holds the source's namespace (`namespace`: its bytes) and the
   * newest attempt progress names; else reads the target.
   *
   * @throws TidemarkError `SplitBrain` when the target holds another
   *   namespace; `NotSupported` for a target holding unbound state-v2 objects;
   *   `Corrupt` for a seal on the target that does not decode.
   */
  async init(namespace: Uint8Array): Promise<void> {
    if (this.initialised) return;
    const saved = await this.#saved?.load();
    if (saved && boundTo(saved, this.#binding) && (await this.#holds(saved, namespace))) {
      this.progress = cloneCheckpointProgress(saved);
      this.progress.unsealed ??= [];
    } else {
      await this.#derive(namespace, saved);
    }
    this.initialised = true;
  }

  async #holds(p: CheckpointMirrorProgress, namespace: Uint8Array): Promise<boolean> {
    if (p.namespace) {
      const got = await bytesIfExists(this.#store, NAMESPACE_KEY);
      if (got === undefined) return false;
      this.#sameNamespace(got, namespace);
    }
    const newest = newestOf(p.attempts);
    return newest === undefined || (await exists(this.#store, sealKey(attemptOf(BigInt(newest)))));
  }

  /** Before a tick of an instance that ticked before: one HEAD of the newest seal copied (or the namespace). */
  async asBelieved(): Promise<boolean> {
    const newest = newestOf(this.progress.attempts);
    if (newest !== undefined) return exists(this.#store, sealKey(attemptOf(BigInt(newest))));
    return !this.progress.namespace || (await exists(this.#store, NAMESPACE_KEY));
  }

  /** Drops what this instance believed; the target says what it holds. */
  async forget(namespace: Uint8Array): Promise<void> {
    await this.#derive(namespace, this.progress);
  }

  /** Reads the target: its namespace, seals (and their parents) and floor. */
  async #derive(namespace: Uint8Array, previous: CheckpointMirrorProgress | undefined): Promise<void> {
    this.derived = true;
    const p = freshCheckpointProgress(this.#binding);
    // The running totals describe this mirror, not the target: keep them.
    if (previous) p.counters = cloneCheckpointProgress(previous).counters;
    const seals: string[] = [];
    let hasNamespace = false;
    let objects = 0;
    for await (const m of this.#store.list(STATE_V2_PREFIX)) {
      objects++;
      const k = parseStateKey(m.key);
      if (k.kind === "namespace") hasNamespace = true;
      else if (k.kind === "seal") seals.push(m.key);
    }
    if (hasNamespace) {
      const got = await bytesIfExists(this.#store, NAMESPACE_KEY);
      if (got !== undefined) this.#sameNamespace(got, namespace);
      p.namespace = got !== undefined;
    } else if (objects > 0) {
      throw new TidemarkError(
        "NotSupported",
        `the target ${this.#store.name} holds state-v2 objects but no namespace marker: not a mirror of this source (LaminarDB refuses such a root too)`,
        { key: NAMESPACE_KEY },
      );
    }
    for (const key of seals) {
      const k = parseStateKey(key);
      if (k.kind !== "seal") continue;
      const bytes = await bytesIfExists(this.#store, key);
      if (bytes === undefined) continue;
      const seal = decodeSeal(bytes, k.attempt);
      if (isFault(seal)) {
        throw new TidemarkError("Corrupt", `a seal on the target does not decode: ${seal.message}`, { key });
      }
      p.attempts[String(k.attempt.epoch)] = parentsOf(seal);
    }
    p.through = newestOf(p.attempts) ?? null;
    const floor = await readTargetFloor(this.#store);
    if (floor) {
      p.floor = String(floor.floor.beforeEpoch);
      p.prunePending = true;
    }
    this.progress = p;
  }

  #sameNamespace(onTarget: Uint8Array, source: Uint8Array): void {
    if (!sameBytes(onTarget, source)) {
      throw new TidemarkError(
        "SplitBrain",
        `the target ${this.#store.name} holds another state namespace than the source's: another deployment's checkpoints are mirrored there`,
        { key: NAMESPACE_KEY },
      );
    }
  }
}
