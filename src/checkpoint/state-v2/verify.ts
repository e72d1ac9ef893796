/**
 * Verifies a `state-v2` checkpoint root: every object LaminarDB's reader
 * would read, with the checks it makes, each failure named by key and rule;
 * then the question its users ask (laminardb#288, "checkpoint files exist but
 * recovery restores nothing"): is the newest sealed attempt above the prune
 * floor restorable?
 *
 * Cost: one listing of `state-v2/` (a request per 1,000 keys), one of the
 * root's `epoch=` keys (does the previous layout linger?), a GET of the
 * namespace, the floor and each seal, and a GET of every partial and
 * descriptor above the floor, streamed and hashed (with `hashes: false`, a
 * ranged GET of its header instead). Attempts below the floor are dead to
 * LaminarDB and are only listed.
 *
 * @module
 */

import { option } from "../../options.ts";
import { forEachLimit } from "../../store/batch.ts";
import { bytesIfExists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import { DESCRIPTOR_HEADER_LEN, type DescriptorAttestation } from "./descriptor-header.ts";
import { isFault } from "./fault.ts";
import { formatUuid } from "./ids.ts";
import { descriptorKey, NAMESPACE_KEY, PRUNE_FLOOR_KEY, partialKey } from "./keys.ts";
import {
  type AttemptListing,
  hasAny,
  type ListedObject,
  listStateRoot,
  type RootListing,
} from "./listing.ts";
import {
  decodeNamespace,
  decodePruneFloor,
  type NamespaceExpectation,
  type PruneFloor,
  type StateNamespace,
} from "./namespace.ts";
import { checkDescriptor, checkPartial } from "./objects.ts";
import { PARTIAL_HEADER_LEN, type PartialAttestation } from "./partial-header.ts";
import { type CheckpointProblem, Findings } from "./problems.ts";
import { type AttemptFacts, linksOf, type Restorability, restorability } from "./restorable.ts";
import { decodeSeal, descriptorDifference, MAX_SEAL_BYTES, partialDifference, type Seal } from "./seal.ts";

/** Why the candidate is only a candidate (printed with every report). */
export const DECISION_STORE_NOTE =
  "LaminarDB restores the attempt its decision store names as committed (checkpoint-decisions/deployment={id}/head), " +
  "which tidemark does not read: the candidate is the newest sealed attempt above the prune floor; a sealed attempt " +
  "that was later aborted, or is not decided yet, is not restored by LaminarDB.";

/** Options of {@link verifyStateV2}. */
export interface VerifyStateV2Options {
  /** Read every payload and check its SHA-256 (default true); false: headers and sizes only. */
  hashes?: boolean;
  /**
   * Read the partials and descriptors at all (default true). False: only the
   * listing, the namespace, the floor and the seals (each object checked
   * against its seal by presence and listed size, as LaminarDB's
   * `verify_checkpoint_artifact_metadata` does): what `checkpoint ls` shows.
   */
  objects?: boolean;
  /** What the namespace must say (a mismatch is `namespace-mismatch`). */
  expect?: NamespaceExpectation;
  /** Objects read at once (default 8). */
  parallelism?: number;
  /** Called as objects are checked. */
  onProgress?: (checked: number, total: number) => void;
}

/** What an attempt is. */
export type AttemptState = "sealed" | "unsealed" | "abandoned" | "below-floor";

/** One attempt, as the report shows it. */
export interface AttemptReport {
  epoch: bigint;
  checkpointId: bigint;
  /**
   * `sealed`: it has a `_SEAL`; `unsealed`: no seal, newer than every sealed
   * attempt (in progress, or the last one failed); `abandoned`: no seal and
   * a newer attempt is sealed; `below-floor`: below the prune floor, dead to
   * LaminarDB (a leftover the sweep has not deleted yet).
   */
  state: AttemptState;
  partials: number;
  descriptors: number;
  /** Bytes of its objects. */
  bytes: number;
  /** From its seal, when it decoded. */
  seal: SealSummary | null;
  /** Whether it could be restored from this root (sealed attempts above the floor only). */
  restorable: boolean | null;
  /** Problems named under its prefix. */
  problems: number;
}

/** What a seal says, in short. */
export interface SealSummary {
  instanceId: string;
  executionId: string;
  assignmentVersion: bigint;
  /** A cluster seal (with an assignment certificate) rather than a local one. */
  cluster: boolean;
  vnodes: number;
  descriptors: number;
  /** Vnodes whose partial is a root, and the distinct parents of the others. */
  roots: number;
  parents: bigint[];
  /** Bytes of the payloads of every chain, as the lineage totals say. */
  chainBytes: bigint;
}

/** The verdict of {@link verifyStateV2}. */
export interface StateV2Report {
  layout: "state-v2";
  /** No problem found (warnings aside). */
  ok: boolean;
  namespace: StateNamespace | null;
  floor: PruneFloor | null;
  attempts: AttemptReport[];
  /**
   * The newest sealed attempt above the floor, and whether it can be
   * restored from this root (see {@link DECISION_STORE_NOTE}).
   */
  candidate: (Restorability & { epoch: bigint }) | null;
  /** `candidate?.restorable`, and the namespace and floor are readable. */
  restorable: boolean;
  /** What LaminarDB's reader would refuse, by key. */
  problems: CheckpointProblem[];
  /** What LaminarDB never reads (leftovers, strays), by key. */
  warnings: CheckpointProblem[];
  note: string;
  /** Objects listed, payloads hashed, bytes read. */
  checked: { objects: number; hashed: number; bytes: number };
}

/** The seal of an attempt, read and decoded (a fault becomes a problem). */
async function readSealOf(
  store: ObjectStore,
  a: AttemptListing,
  o: ListedObject,
  found: Findings,
): Promise<Seal | undefined> {
  if (o.size > MAX_SEAL_BYTES) {
    found.add(o.key, "seal-size", `checkpoint seal is ${o.size} bytes; maximum is ${MAX_SEAL_BYTES}`);
    return undefined;
  }
  const bytes = await bytesIfExists(store, o.key);
  if (bytes === undefined) return undefined;
  const s = decodeSeal(bytes, a.attempt);
  if (isFault(s)) {
    found.add(o.key, s.rule, s.message);
    return undefined;
  }
  return s;
}

function summarise(s: Seal): SealSummary {
  const parents = new Set<bigint>();
  let roots = 0;
  let chainBytes = 0n;
  for (const p of s.sealedPartials) {
    if (p.lineage.parent === null) roots++;
    else parents.add(p.lineage.parent.epoch);
    chainBytes += p.lineage.totalPayloadBytes;
  }
  return {
    instanceId: s.instanceId,
    executionId: formatUuid(s.executionId),
    assignmentVersion: s.assignmentVersion,
    cluster: s.assignmentFence !== null,
    vnodes: s.requiredVnodes.length,
    descriptors: s.requiredDescriptors.length,
    roots,
    parents: [...parents].sort((a, b) => (a < b ? -1 : 1)),
    chainBytes,
  };
}

/** The seal's inventory against the objects' headers: present, and equal to what each header attests. */
function checkInventory(
  a: AttemptListing,
  seal: Seal,
  partials: Map<number, PartialAttestation | "bad" | null>,
  descriptors: Map<string, DescriptorAttestation | "bad" | null>,
  found: Findings,
): void {
  const what = `the seal of attempt ${a.attempt.epoch}`;
  for (const entry of seal.sealedPartials) {
    const key = partialKey(a.attempt, entry.vnode);
    const got = partials.get(entry.vnode);
    if (got === undefined || got === null) {
      found.add(key, "seal-missing", `${what} names vnode ${entry.vnode}, whose partial is missing`);
    } else if (got !== "bad") {
      const field = partialDifference(got, entry);
      if (field !== undefined) {
        found.add(key, "seal-inventory", `the partial's header differs from ${what} in ${field}`);
      }
    }
  }
  for (const entry of seal.sealedDescriptors) {
    const key = descriptorKey(a.attempt, entry.key);
    const got = descriptors.get(entry.key);
    if (got === undefined || got === null) {
      found.add(
        key,
        "seal-missing",
        `${what} names descriptor ${JSON.stringify(entry.key)}, which is missing`,
      );
    } else if (got !== "bad") {
      const field = descriptorDifference(got, entry);
      if (field !== undefined) {
        found.add(key, "seal-inventory", `the descriptor's header differs from ${what} in ${field}`);
      }
    }
  }
}

/** The seal's inventory against the listing only: each object present with the size its entry implies. */
function checkListedSizes(a: AttemptListing, seal: Seal, found: Findings): void {
  const what = `the seal of attempt ${a.attempt.epoch}`;
  const check = (key: string, o: ListedObject | undefined, size: bigint) => {
    if (o === undefined) found.add(key, "seal-missing", `${what} names ${key}, which is missing`);
    else if (BigInt(o.size) !== size) {
      found.add(
        key,
        "seal-inventory",
        `the object is ${o.size} bytes in the listing; ${what} implies ${size}`,
      );
    }
  };
  for (const e of seal.sealedPartials) {
    check(partialKey(a.attempt, e.vnode), a.partials.get(e.vnode), BigInt(PARTIAL_HEADER_LEN) + e.payloadLen);
  }
  for (const e of seal.sealedDescriptors) {
    check(
      descriptorKey(a.attempt, e.key),
      a.descriptors.get(e.key),
      BigInt(DESCRIPTOR_HEADER_LEN) + e.payloadLen,
    );
  }
}

/**
 * Verifies the `state-v2` root of `store` (see the module). Never throws for
 * what it finds: damage is in `problems` (`ok: false`).
 *
 * @throws TidemarkError `InvalidArgument` for a bad option; `NotSupported`
 *   on a store that cannot list; store errors (`Transient`, `PermissionDenied`).
 */
export async function verifyStateV2(
  store: ObjectStore,
  opts: VerifyStateV2Options = {},
): Promise<StateV2Report> {
  const parallelism = option("parallelism", opts.parallelism);
  const hashes = opts.hashes ?? true;
  const listing = await listStateRoot(store);
  const found = new Findings();
  const warnings = new Findings();
  noteStrays(listing, warnings);
  if (await hasAny(store, "epoch=")) {
    warnings.add(
      "epoch=",
      "legacy-layout",
      "the root also holds the layout LaminarDB wrote before state-v2 (epoch={E}/...): its current reader ignores it",
    );
  }

  let namespace: StateNamespace | null = null;
  if (listing.namespace) {
    const ns = decodeNamespace(await (await store.get(NAMESPACE_KEY)).bytes(), opts.expect);
    if (isFault(ns)) found.add(NAMESPACE_KEY, ns.rule, ns.message);
    else namespace = ns;
  } else if (listing.objects > 0) {
    found.add(
      NAMESPACE_KEY,
      "namespace-missing",
      "the root holds state-v2 objects but no namespace marker: LaminarDB refuses to bind an unbound root",
    );
  }
  let floor: PruneFloor | null = null;
  if (listing.floor) {
    const f = decodePruneFloor(await (await store.get(PRUNE_FLOOR_KEY)).bytes());
    if (isFault(f)) found.add(PRUNE_FLOOR_KEY, f.rule, f.message);
    else floor = f;
  }
  // Only the namespace and the floor were checked so far: LaminarDB cannot bind or read a root either fails.
  const rootReadable = found.list.length === 0;

  const below = (e: bigint) => floor !== null && e < floor.beforeEpoch;
  const live = listing.attempts.filter((a) => !below(a.attempt.epoch));
  for (const a of listing.attempts) {
    if (below(a.attempt.epoch)) {
      warnings.add(
        a.prefix,
        "below-floor",
        `attempt ${a.attempt.epoch} is below the prune floor (${floor?.beforeEpoch}): dead to LaminarDB, left for the sweep to delete`,
      );
    }
  }

  // Every object of every live attempt, checked at once (bounded).
  const partials = new Map<bigint, Map<number, PartialAttestation | "bad" | null>>();
  const descriptors = new Map<bigint, Map<string, DescriptorAttestation | "bad" | null>>();
  type Job = () => Promise<void>;
  const jobs: Job[] = [];
  let hashed = 0;
  let bytes = 0;
  for (const a of live) {
    const ps = new Map<number, PartialAttestation | "bad" | null>();
    const ds = new Map<string, DescriptorAttestation | "bad" | null>();
    partials.set(a.attempt.epoch, ps);
    descriptors.set(a.attempt.epoch, ds);
    if (opts.objects === false) continue;
    for (const [vnode, o] of a.partials) {
      jobs.push(async () => {
        const r = await checkPartial(store, o, a.attempt, vnode, hashes);
        if (r !== null && isFault(r)) {
          found.add(o.key, r.rule, r.message);
          ps.set(vnode, "bad");
        } else ps.set(vnode, r);
        bytes += hashes ? o.size : 0;
        if (hashes && r !== null) hashed++;
      });
    }
    for (const [key, o] of a.descriptors) {
      jobs.push(async () => {
        const r = await checkDescriptor(store, o, a.attempt, key, hashes);
        if (r !== null && isFault(r)) {
          found.add(o.key, r.rule, r.message);
          ds.set(key, "bad");
        } else ds.set(key, r);
        bytes += hashes ? o.size : 0;
        if (hashes && r !== null) hashed++;
      });
    }
  }
  const seals = new Map<bigint, Seal>();
  for (const a of live) {
    const o = a.seal;
    if (o) {
      jobs.push(async () => {
        const s = await readSealOf(store, a, o, found);
        if (s) seals.set(a.attempt.epoch, s);
      });
    }
  }
  let done = 0;
  await forEachLimit(jobs, parallelism, async (job) => {
    await job();
    opts.onProgress?.(++done, jobs.length);
  });
  for (const a of live) {
    const s = seals.get(a.attempt.epoch);
    const ps = partials.get(a.attempt.epoch);
    const ds = descriptors.get(a.attempt.epoch);
    if (s && opts.objects === false) checkListedSizes(a, s, found);
    else if (s && ps && ds) checkInventory(a, s, ps, ds, found);
  }

  // Lineage: every link of every live seal, then each sealed attempt's chains.
  const facts = new Map<bigint, AttemptFacts>();
  const damagedUnder = (prefix: string) => found.list.some((p) => p.key.startsWith(prefix));
  for (const a of listing.attempts) {
    facts.set(a.attempt.epoch, {
      attempt: a.attempt,
      belowFloor: below(a.attempt.epoch),
      hasSeal: a.seal !== undefined,
      seal: seals.get(a.attempt.epoch),
      damaged: false,
    });
  }
  // Damaged objects first: a bad link is a break of the chain, not damage of its attempt's objects.
  for (const a of listing.attempts) {
    const f = facts.get(a.attempt.epoch);
    if (f) f.damaged = damagedUnder(a.prefix);
  }
  for (const f of facts.values()) {
    for (const b of linksOf(f, facts).breaks) {
      if (b.rule === "lineage-parent") found.add(b.key, b.rule, b.message);
    }
  }
  const sealedLive = live.filter((a) => a.seal !== undefined);
  const newest = sealedLive.at(-1);
  let candidate: StateV2Report["candidate"] = null;
  const verdicts = new Map<bigint, Restorability>();
  for (const a of sealedLive) verdicts.set(a.attempt.epoch, restorability(a.attempt.epoch, facts));
  if (newest) {
    const v = verdicts.get(newest.attempt.epoch) as Restorability;
    for (const b of v.breaks) found.add(b.key, b.rule, b.message);
    candidate = { ...v, epoch: newest.attempt.epoch };
  }
  // The chains of older sealed attempts: warnings (one may have been aborted, and never needed again).
  for (const v of verdicts.values()) {
    for (const b of v.breaks) if (!found.has(b.key, b.rule)) warnings.add(b.key, b.rule, b.message);
  }
  if (candidate && !rootReadable) {
    candidate.restorable = false;
    candidate.why = `not restorable: LaminarDB cannot read this root's ${found.list
      .filter((p) => p.key === NAMESPACE_KEY || p.key === PRUNE_FLOOR_KEY)
      .map((p) => p.key)
      .join(" and ")}; ${candidate.why}`;
  }

  const newestSealed = newest?.attempt.epoch ?? -1n;
  const attempts: AttemptReport[] = listing.attempts.map((a) => {
    const e = a.attempt.epoch;
    const s = seals.get(e);
    let objectBytes = 0;
    for (const o of [
      ...a.partials.values(),
      ...a.descriptors.values(),
      ...(a.seal ? [a.seal] : []),
      ...a.others,
    ]) {
      objectBytes += o.size;
    }
    const state: AttemptState = below(e)
      ? "below-floor"
      : a.seal
        ? "sealed"
        : e < newestSealed
          ? "abandoned"
          : "unsealed";
    return {
      epoch: e,
      checkpointId: a.attempt.checkpointId,
      state,
      partials: a.partials.size,
      descriptors: a.descriptors.size,
      bytes: objectBytes,
      seal: s ? summarise(s) : null,
      restorable: state === "sealed" ? (verdicts.get(e)?.restorable ?? false) && rootReadable : null,
      problems: found.list.filter((p) => p.key.startsWith(a.prefix)).length,
    };
  });
  const problems = found.sorted();
  return {
    layout: "state-v2",
    ok: problems.length === 0,
    namespace,
    floor,
    attempts,
    candidate,
    restorable: candidate?.restorable ?? false,
    problems,
    warnings: warnings.sorted(),
    note: DECISION_STORE_NOTE,
    checked: { objects: listing.objects, hashed, bytes },
  };
}

/** Warnings for what LaminarDB never reads: attempts of another shape, unknown keys. */
function noteStrays(listing: RootListing, warnings: Findings): void {
  for (const [prefix, objects] of listing.noncanonical) {
    warnings.add(
      prefix,
      "noncanonical-attempt",
      `${objects.length} object(s) under an attempt LaminarDB never addresses (its epoch and checkpoint must be equal and non-zero)`,
    );
  }
  for (const o of listing.strays) {
    warnings.add(o.key, "stray-key", "a key of no shape the state-v2 layout has: LaminarDB never reads it");
  }
  for (const a of listing.attempts) {
    for (const o of a.others) {
      warnings.add(
        o.key,
        "stray-key",
        o.key.slice(a.prefix.length).startsWith("srcoff/")
          ? "a source-offset object of early state-v2 (V1): LaminarDB no longer writes or reads it"
          : "an object LaminarDB does not write under an attempt: never read",
      );
    }
  }
}
