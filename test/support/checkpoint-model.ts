/**
 * What the checkpoint mirror's model-based tests share (one per layout:
 * test/node/checkpoint-mirror-model.test.ts, legacy-mirror-model.test.ts):
 * a world of a source, a target reached through a switchable wire (a faulty
 * wrapper for one tick), saved progress and the mirror; and the commands
 * that tick the mirror (maybe under faults, then the layout's checks) and
 * restart it (with or without its progress).
 */
import * as fc from "fast-check";
import { CheckpointMirror } from "../../src/checkpoint/mirror.ts";
import type { CheckpointMirrorProgress } from "../../src/checkpoint/mirror-progress.ts";
import { faulty } from "../../src/store/faulty.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import type { ObjectStore } from "../../src/store/types.ts";

/** A store that forwards to `current` (the target, or a faulty wrapper of it for one tick). */
function switchable(base: ObjectStore): ObjectStore & { current: ObjectStore } {
  const s = {
    current: base,
    name: base.name,
    id: base.name,
    get: (k: string, o?: Parameters<ObjectStore["get"]>[1]) => s.current.get(k, o),
    head: (k: string) => s.current.head(k),
    put: (k: string, b: Parameters<ObjectStore["put"]>[1], o?: Parameters<ObjectStore["put"]>[2]) =>
      s.current.put(k, b, o),
    delete: (k: string) => s.current.delete(k),
    deleteMany: (ks: Parameters<ObjectStore["deleteMany"]>[0]) => s.current.deleteMany(ks),
    list: (p: string, o?: Parameters<ObjectStore["list"]>[1]) => s.current.list(p, o),
  };
  return s;
}

/** A source, a target, the mirror between them and its saved progress. */
export class MirrorWorld {
  readonly source = new MemoryStore();
  readonly target = new MemoryStore();
  readonly wire = switchable(this.target);
  saved: CheckpointMirrorProgress | undefined;
  readonly progress = {
    load: async () => this.saved,
    save: async (p: CheckpointMirrorProgress) => {
      this.saved = p;
    },
  };
  mirror = this.fresh();

  /** A new mirror process (with the saved progress, if any). */
  fresh(): CheckpointMirror {
    return new CheckpointMirror({ source: this.source, target: this.wire, progress: this.progress });
  }
}

type Fault = { kind: "none" } | { kind: "fail"; seed: number } | { kind: "lost"; seed: number };

/** A mirror tick, maybe with the target failing some requests or losing responses; then `after`. */
class Tick<M extends object, W extends MirrorWorld> implements fc.AsyncCommand<M, W> {
  readonly fault: Fault;
  readonly after: (m: M, w: W, label: string) => Promise<void>;
  constructor(fault: Fault, after: (m: M, w: W, label: string) => Promise<void>) {
    this.fault = fault;
    this.after = after;
  }
  check = () => true;
  async run(m: M, w: W): Promise<void> {
    if (this.fault.kind === "fail")
      w.wire.current = faulty(w.target, { failRate: 0.3, seed: this.fault.seed });
    if (this.fault.kind === "lost") {
      w.wire.current = faulty(w.target, {
        lostResponseRate: 0.5,
        kinds: ["create", "put"],
        seed: this.fault.seed,
      });
    }
    try {
      await w.mirror.tick();
    } finally {
      w.wire.current = w.target;
    }
    await this.after(m, w, `after ${this}`);
  }
  toString = () => `tick${this.fault.kind === "none" ? "" : `(${this.fault.kind} ${this.fault.seed})`}`;
}

/** The mirror process restarts, with its saved progress or without it. */
class Restart<M extends object, W extends MirrorWorld> implements fc.AsyncCommand<M, W> {
  readonly keepProgress: boolean;
  constructor(keepProgress: boolean) {
    this.keepProgress = keepProgress;
  }
  check = () => true;
  async run(_m: M, w: W): Promise<void> {
    await w.mirror.shutdown();
    if (!this.keepProgress) w.saved = undefined;
    w.mirror = w.fresh();
  }
  toString = () => `restart(${this.keepProgress ? "progress" : "none"})`;
}

/**
 * The mirror's commands, weighted by repetition (fc.commands picks
 * uniformly): three plain ticks, one failing, one lossy, a restart; `after`
 * checks the target after each tick.
 */
export function mirrorCommands<M extends object, W extends MirrorWorld>(
  after: (m: M, w: W, label: string) => Promise<void>,
): Array<fc.Arbitrary<fc.AsyncCommand<M, W>>> {
  const seed = fc.integer({ min: 1, max: 1_000_000 });
  return [
    fc.constant(new Tick<M, W>({ kind: "none" }, after)),
    fc.constant(new Tick<M, W>({ kind: "none" }, after)),
    fc.constant(new Tick<M, W>({ kind: "none" }, after)),
    seed.map((s) => new Tick<M, W>({ kind: "fail", seed: s }, after)),
    seed.map((s) => new Tick<M, W>({ kind: "lost", seed: s }, after)),
    fc.boolean().map((k) => new Restart<M, W>(k)),
  ];
}
