/**
 * The history-integrity simulation: a model-based test (fast-check's
 * `fc.commands` + `fc.asyncModelRun`) that drives three tables (two
 * object-store tables written by `Catalog`s, one merutable primary in the
 * posix layout written as merutable's catalog writes it), their writers, an
 * expirer, four mirrors (one of them a mirror of a mirror, one aimed at
 * another table's target, one of the posix primary), restores of the posix
 * primary (or of its mirror) into a directory that merutable keeps
 * committing to, and readers through random command sequences with faults,
 * and checks after every command:
 *
 * 1. no reader of any mirror or restored table sees a manifest whose files
 *    are missing or hold other bytes than the source's;
 * 2. every acknowledged commit is visible to a fresh reader until expire
 *    removes it by policy (or a rollback of the posix primary discards it;
 *    merutable's commits to the restored table are never dropped);
 * 3. no version number is used twice (by acknowledgements, or by what any
 *    reader of any store sees) in the object-store tables (the posix
 *    primary is rolled back and then reuses numbers: 6 holds for it);
 * 4. a mirror that is behind never reports `caughtUp` or lag 0;
 * 5. no byte of another table appears in a mirror's view;
 * 6. no mixed history on any mirror or restored table: walking a chain from
 *    its HEAD, each manifest of the posix primary's family is one merutable
 *    wrote (on the primary, or on the restored directory), built on the very
 *    manifest below it;
 * 7. retention: on a mirror with a retention policy every version inside its
 *    window (by an oracle of every version ever published there and when)
 *    stays readable with all its files, no manifest at or above its boundary
 *    misses a file, and a reader racing the expiry of the version it reads
 *    gets the whole version or the expired error, never a half-read one;
 * 8. no reader of an Apache Iceberg view sees a snapshot with a missing
 *    file: three mirrors (two instances racing on one target, and the posix
 *    primary's) also write a view of their target (the `iceberg` option,
 *    its latest metadata listing 3 or 2 snapshots, more than their retention
 *    keeps, so the view's hold on retention decides); after every command,
 *    and in the middle of ticks, a reader follows `version-hint.text` and
 *    the latest `v{N}.metadata.json` to their current snapshot and to every
 *    snapshot the latest lists (time travel), and finds its manifest list,
 *    manifests, data files (the very files the table wrote) and
 *    position-delete files there, at the sizes the manifests say;
 * 9. the rows an Iceberg reader computes at each snapshot it reads (data
 *    files less the position deletes that apply) are the table's logical
 *    rows at that version (from the oracle's own rows of the version's
 *    files: per key the newest row, unless a tombstone).
 *
 * The data files are real merutable data files (test/support/sim-files.ts):
 * one row each, a few keys, so newer files shadow older rows and some are
 * tombstones, and the views write position deletes.
 *
 * Faults: a crash at a request (every request from there fails), a lost
 * response, a pause at a request (a stalled writer, a reader racing an
 * expire, a restore racing merutable's commits), per-key refusals of bulk
 * deletes, writer clocks hours off, a target switched under saved progress,
 * a wiped target, files deleted by the primary's garbage collector, a path
 * re-used with new bytes, the posix primary rolled back to an earlier
 * version (a file-system snapshot restored) and committing the same numbers
 * again, merutable's commit cut between its manifest and its hint; retention
 * passes on four mirrors (a window by count and by age, a mirror of a mirror
 * with a longer window whose target keeps Object Lock retentions, a shorter
 * one on the posix primary's mirror, a second instance racing the first on
 * its target) with deletes the target refuses and faults at their requests.
 *
 * Used by test/node/simulation.test.ts (`npm test`) and scripts/sim.ts
 * (`npm run sim`, the soak).
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import type { DataFileInput } from "../../src/catalog/commit.ts";
import { manifestKey, parseManifestKey, RETENTION_KEY } from "../../src/catalog/layout.ts";
import {
  parsePosixManifestKey,
  posixManifestKey,
  readVersionHint,
  VERSION_HINT_KEY,
} from "../../src/catalog/posix.ts";
import { decodeAvroFile } from "../../src/iceberg/avro.ts";
import { decodeDeleteFile } from "../../src/iceberg/deletes.ts";
import {
  Catalog,
  decodeManifest,
  encodeManifest,
  type Manifest,
  MemoryStore,
  Mirror,
  type MirrorOptions,
  type MirrorProgress,
  type MirrorProgressStore,
  type ObjectStore,
  openMirror,
  referencedFiles,
  retrying,
  TidemarkError,
  verifyMirror,
  wrapperOf,
} from "../../src/index.ts";
import { restore } from "../../src/restore/restore.ts";
import { nextPosixManifest } from "./posix-fixture.ts";
import { SIM_SCHEMA, simDataFile, simFileBytes, simRow } from "./sim-files.ts";

// ---------------------------------------------------------------------------
// The clock and the stores

/** Simulated time: every store request takes 1 ms; commands let time pass. */
class Clock {
  ms = 1_800_000_000_000;
  now = (): number => this.ms;
}

/**
 * A raw store that advances the clock per request and remembers whether it
 * changed; `onPut` hears of every successful put (the retention oracle's log
 * of manifests written to a target).
 */
function timed(
  store: ObjectStore,
  clock: Clock,
  onWrite: () => void,
  onPut: (key: string) => Promise<void> = async () => {},
): ObjectStore {
  const read = <T>(op: () => T): T => {
    clock.ms += 1;
    return op();
  };
  const write = <T>(op: () => T): T => {
    onWrite();
    return read(op);
  };
  return {
    ...wrapperOf(store),
    get: (k, o) => read(() => store.get(k, o)),
    head: (k) => read(() => store.head(k)),
    put: async (k, b, o) => {
      const r = await write(() => store.put(k, b, o));
      await onPut(k);
      return r;
    },
    delete: (k) => write(() => store.delete(k)),
    deleteMany: (ks, o) => write(() => store.deleteMany(ks, o)),
    list: (p, o) => read(() => store.list(p, o)),
  };
}

/** A fault to inject into an actor's next operation: at its `at`-th request. */
export interface Fault {
  kind: "none" | "crash" | "lose" | "pause";
  at: number;
}

/**
 * One actor's view of a store: the fault of its current operation applied
 * (a crash from request `at`, a lost response at `at`, a pause before `at`
 * until released), and bulk-delete refusals.
 */
class Gate {
  readonly clock: Clock;
  fault: Fault = { kind: "none", at: 0 };
  refuse = new Set<string>();
  /** An observer that acts right before request `at` (a reader of the store in the middle of an operation). */
  peek: { at: number; act: () => Promise<void> } | undefined;
  #n = 0;
  #release: (() => void) | undefined;
  #reached: (() => void) | undefined;
  reached: Promise<void> = Promise.resolve();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  arm(fault: Fault): void {
    this.fault = fault;
    this.#n = 0;
    this.reached = new Promise<void>((r) => {
      this.#reached = r;
    });
  }

  release(): void {
    this.fault = { kind: "none", at: 0 };
    this.#release?.();
    this.#release = undefined;
  }

  clear(): void {
    this.release();
    this.refuse = new Set();
    this.peek = undefined;
  }

  async #enter(): Promise<"ok" | "lose"> {
    const i = ++this.#n;
    if (this.peek?.at === i) await this.peek.act();
    // A request takes time, even one that fails.
    this.clock.ms += 1;
    const f = this.fault;
    if (f.kind === "crash" && i >= f.at) throw new TidemarkError("Transient", `sim: crash at request ${i}`);
    if (f.kind === "pause" && i === f.at) {
      const gate = new Promise<void>((r) => {
        this.#release = r;
      });
      this.#reached?.();
      await gate;
    }
    return f.kind === "lose" && i === f.at ? "lose" : "ok";
  }

  wrap(store: ObjectStore): ObjectStore {
    const run = async <T>(op: () => Promise<T>): Promise<T> => {
      const fate = await this.#enter();
      const r = await op();
      if (fate === "lose") {
        const body = (r as { body?: unknown } | undefined)?.body;
        if (body instanceof ReadableStream) await body.cancel().catch(() => {});
        throw new TidemarkError("Transient", "sim: lost response");
      }
      return r;
    };
    const gate = this;
    return {
      ...wrapperOf(store),
      get: (k, o) => run(() => store.get(k, o)),
      head: (k) => run(() => store.head(k)),
      put: (k, b, o) => run(() => store.put(k, b, o)),
      delete: (k) => run(() => store.delete(k)),
      deleteMany: (ks, o) =>
        run(async () => {
          const all: string[] = [];
          for await (const k of ks) all.push(k);
          const r = await store.deleteMany(
            all.filter((k) => !gate.refuse.has(k)),
            o,
          );
          const refused = all.filter((k) => gate.refuse.has(k));
          return {
            deleted: r.deleted,
            errors: [...r.errors, ...refused.map((key) => ({ key, code: "AccessDenied", message: "sim" }))],
          };
        }),
      list(p, o) {
        return (async function* () {
          await gate.#enter();
          yield* store.list(p, o);
        })();
      },
    };
  }
}

function memoryProgress(): MirrorProgressStore {
  let saved: string | undefined;
  return {
    load: async () => (saved === undefined ? undefined : (JSON.parse(saved) as MirrorProgress)),
    save: async (p) => {
      saved = JSON.stringify(p);
    },
  };
}

const noSleep = async () => {};

// ---------------------------------------------------------------------------
// The world

type TableName = "A" | "B" | "C";
const TABLES = ["A", "B", "C"] as const;
const UUID: Record<TableName, string> = {
  A: "00000000-0000-4000-8000-00000000000a",
  B: "00000000-0000-4000-8000-00000000000b",
  C: "00000000-0000-4000-8000-00000000000c",
};
/** Table C is merutable's primary: the posix layout (`version-hint.text`, `v{N}.metadata.pb`). */
const isPosix = (name: string) => name === "C";
/** The key of version `v`'s manifest on the store `name`, in its layout. */
const manifestKeyOf = (name: string, v: number) => (isPosix(name) ? posixManifestKey(v) : manifestKey(v));
const TARGETS = ["T1", "T2", "T3", "T4", "T5"] as const;
type TargetName = (typeof TARGETS)[number];
/** The directory table C is restored into (from C or from its mirror T5), where merutable then commits. */
const RESTORED = "R";
type StoreName = TableName | TargetName | typeof RESTORED;

/** A manifest's identity in the lineage oracle: its bytes. */
const keyOf = (b: Uint8Array) => Buffer.from(b).toString("base64");

interface Writer {
  table: TableName;
  gate: Gate;
  skewMs: number;
  catalog: Catalog | undefined;
  pending: Promise<number> | undefined;
  pendingFiles: string[];
}

/**
 * Every manifest merutable ever wrote for table C (on C, or on the restored
 * directory R): its version and the manifest it was built on. A view of C's
 * history (C itself, its mirror, the restored table) must follow these links.
 */
interface Lineage {
  version: number;
  /** The key of the manifest it was built on (`undefined`: v1). */
  parent: string | undefined;
}

/** A restore of C (or of its mirror) into R that pauses at a request of R. */
interface PendingRestore {
  gate: Gate;
  done: Promise<unknown>;
}

interface MirrorActor {
  /** The mirror's source: a table's primary, or a target (a mirror of a mirror). */
  from: TableName | TargetName;
  to: TargetName;
  sourceGate: Gate;
  targetGate: Gate;
  progress: MirrorProgressStore;
  mirror: Mirror | undefined;
  /** Its retention policy (and Object Lock), if any. */
  policy?: Pick<MirrorOptions, "retention" | "lock">;
  /** It writes an Iceberg view of its target, whose latest metadata lists this many snapshots. */
  viewSnapshots?: number;
}

/** An hour of simulated time. */
const HOUR = 3_600_000;
/**
 * The retention of the mirrors that have one: M0 (and M4, a second instance
 * racing it on the same target) by count and by age; M1, a mirror of a
 * mirror with a longer window, on a target that keeps Object Lock
 * retentions, locking what it writes for 2 hours; M3 on the posix primary's
 * mirror, a shorter window.
 */
const POLICIES: Array<MirrorActor["policy"]> = [
  { retention: { keepVersions: 2, keepDays: 1 / 24, graceMs: HOUR } },
  { retention: { keepVersions: 3, graceMs: HOUR }, lock: { mode: "compliance", days: 2 / 24 } },
  undefined,
  { retention: { keepVersions: 1, graceMs: HOUR / 2 } },
  { retention: { keepVersions: 2, keepDays: 1 / 24, graceMs: HOUR } },
];
/**
 * The mirrors that also write an Iceberg view of their target (the `iceberg`
 * option), by how many snapshots the view's latest metadata lists: M0 and M4
 * (racing on T1, switched to T2, wiped there), M3 (the posix primary's,
 * rolled back, its target wiped). Fewer snapshots than the default 100, and
 * more than their retention keeps, so the view's hold on retention
 * (`holdFrom`) decides what stays.
 */
const VIEW_SNAPSHOTS: Array<number | undefined> = [3, undefined, undefined, 2, 3];
/** The location a target's view is written for (its data files' absolute paths start with it). */
const viewLocation = (t: TargetName) => `s3://sim/${t}`;
/** The target that keeps Object Lock retentions (M1's). */
const LOCKING_TARGET: TargetName = "T3";

/** A file a view reader read: its ETag, bytes, and what was decoded of them. */
interface ReadFile {
  etag: string;
  bytes: Uint8Array;
  decoded?: unknown[];
}

/** What one table's history is known to be (the oracle). */
interface History {
  /** Versions acknowledged by `commit`, with the manifest bytes acknowledged. */
  acked: Map<number, Uint8Array>;
  /** The bytes of each version as first seen by a reader (or acknowledged). */
  seen: Map<number, Uint8Array>;
  /** The bytes of each file a version named, as the source had them when the version was first seen. */
  files: Map<number, Map<string, Uint8Array>>;
  /** Versions below this may be gone: expire's policy removed them. */
  policyBoundary: number;
  /** Files written so far, by table-local number. */
  nextFile: number;
}

export class World {
  readonly clock = new Clock();
  readonly raw: Record<StoreName, MemoryStore>;
  readonly stores: Record<StoreName, ObjectStore>;
  readonly dirty = new Set<string>();
  readonly writers: Writer[];
  readonly expirer = new Gate(this.clock);
  /** merutable's engine writing table C (it rebuilds its state from the hint after a crash). */
  readonly posixWriter = new Gate(this.clock);
  readonly mirrors: MirrorActor[];
  readonly history: Record<TableName, History>;
  /** merutable's engine on the restored directory R (it reopens at R's hint each time). */
  readonly restoredWriter = new Gate(this.clock);
  /** Restores into R: their gate on R (faults, pauses). */
  readonly restorer = new Gate(this.clock);
  pendingRestore: PendingRestore | undefined;
  /** The lineage oracle of table C (see {@link Lineage}), by manifest key. */
  readonly lineage = new Map<string, Lineage>();
  /** merutable's acknowledged commits on R: version to manifest key (never dropped from R's history). */
  readonly restoredAcked = new Map<number, string>();
  /** Files written on R by merutable, by number. */
  restoredFiles = 0;
  reader: { gate: Gate; pending: Promise<number>; atLeast: number } | undefined;
  /** A reader of a mirror's version, paused mid-read while retention goes on. */
  mirrorReader: { gate: Gate; version: number; pending: Promise<unknown> } | undefined;
  /**
   * The retention oracle: every manifest ever written to each target, when,
   * and whether it was written at or above the target's retention boundary
   * of that moment (an instance that fell behind can write one below it:
   * readers refuse it, the next pass deletes it); cleared when the target is
   * wiped. Logged as the writes happen, so a version written and wrongly
   * expired within one command is still known.
   */
  readonly written = new Map<
    TargetName,
    Map<number, { at: number; aboveBoundary: boolean; table: string }>
  >();
  /** What view readers read (see `readOnce`), by target and key. */
  readonly viewFiles = new Map<string, ReadFile>();
  /** View snapshots whose rows were checked (invariant 9), by what they hold. */
  readonly viewRowsChecked = new Set<string>();
  log: string[] = [];
  readonly verbose: boolean;

  constructor(verbose = false, serverSideCopy = false) {
    this.verbose = verbose;
    const names = [...TABLES, ...TARGETS, RESTORED] as const;
    // Stores keep the simulated time (retention's windows and locks read it).
    this.raw = Object.fromEntries(
      names.map((n) => [
        n,
        new MemoryStore({ name: n, serverSideCopy, now: this.clock.now, objectLock: n === LOCKING_TARGET }),
      ]),
    ) as World["raw"];
    const logManifest = (n: (typeof names)[number]) => async (key: string) => {
      const v = parseManifestKey(key);
      if (v === undefined || !(TARGETS as readonly string[]).includes(n)) return;
      const log = this.written.get(n as TargetName) ?? new Map();
      this.written.set(n as TargetName, log);
      const raw = this.raw[n];
      const boundary = Number(
        (await rawBytes(raw, RETENTION_KEY).then((b) => b && new TextDecoder().decode(b))) ?? 0,
      );
      const stored = await raw.get(key);
      const table = decodeManifest(await stored.bytes()).tableUuid;
      log.set(v, { at: stored.lastModified?.getTime() ?? 0, aboveBoundary: v >= boundary, table });
    };
    this.stores = Object.fromEntries(
      names.map((n) => [n, timed(this.raw[n], this.clock, () => this.dirty.add(n), logManifest(n))]),
    ) as World["stores"];
    for (const n of names) this.dirty.add(n);
    const writer = (table: TableName): Writer => ({
      table,
      gate: new Gate(this.clock),
      skewMs: 0,
      catalog: undefined,
      pending: undefined,
      pendingFiles: [],
    });
    this.writers = [writer("A"), writer("A"), writer("B")];
    const mirror = (from: MirrorActor["from"], to: TargetName, i: number): MirrorActor => {
      const policy = POLICIES[i];
      const viewSnapshots = VIEW_SNAPSHOTS[i];
      return {
        from,
        to,
        sourceGate: new Gate(this.clock),
        targetGate: new Gate(this.clock),
        progress: memoryProgress(),
        mirror: undefined,
        ...(policy ? { policy } : {}),
        ...(viewSnapshots ? { viewSnapshots } : {}),
      };
    };
    // M0: A → T1 (switchable to T2); M1: T1 → T3, a mirror of a mirror; M2: B → T4, or aimed at T1;
    // M3: the posix primary C → T5; M4: A → T1, a second instance racing M0 (a Durable Object's overlap).
    this.mirrors = [
      mirror("A", "T1", 0),
      mirror("T1", "T3", 1),
      mirror("B", "T4", 2),
      mirror("C", "T5", 3),
      mirror("A", "T1", 4),
    ];
    const history = (): History => ({
      acked: new Map(),
      seen: new Map(),
      files: new Map(),
      policyBoundary: 0,
      nextFile: 0,
    });
    this.history = { A: history(), B: history(), C: history() };
  }

  async catalogOf(w: Writer): Promise<Catalog> {
    w.catalog ??= await Catalog.open(
      retrying(w.gate.wrap(this.stores[w.table]), { maxAttempts: 3, sleep: noSleep }),
      {
        now: () => this.clock.now() + w.skewMs,
        newTableUuid: () => UUID[w.table],
        // merutable's schema on table A's manifests: its mirrors' Iceberg views read the rows by it.
        ...(w.table === "A" ? { schema: SIM_SCHEMA } : {}),
        backoff: { sleep: noSleep },
        maxCommitAttempts: 8,
      },
    );
    return w.catalog;
  }

  mirrorOf(m: MirrorActor, budget: number): Mirror {
    if (m.mirror === undefined) {
      m.mirror = new Mirror({
        source: m.sourceGate.wrap(this.stores[m.from]),
        target: m.targetGate.wrap(this.stores[m.to]),
        progress: m.progress,
        now: this.clock.now,
        lagAlertSecs: 0,
        listThreshold: 4,
        parallelism: 2,
        ...(budget > 0 ? { budget: { requests: budget } } : {}),
        ...m.policy,
        ...(m.viewSnapshots
          ? { iceberg: { location: viewLocation(m.to), maxSnapshots: m.viewSnapshots } }
          : {}),
      });
    }
    return m.mirror;
  }

  /**
   * The bytes a file of table C's family must hold, from its name: C's
   * `data/f{n}.parquet`, merutable's own on R `data/r{n}.parquet`.
   */
  familyFileBytes(path: string): Uint8Array | undefined {
    const m = /^data\/([fr])([0-9]+)\.parquet$/.exec(path);
    if (!m) return undefined;
    return this.fileBytes(m[1] === "f" ? "C" : RESTORED, Number(m[2]));
  }

  /**
   * Table-local file contents: real merutable data files (test/support/sim-files.ts), the same
   * names and sizes in every table, other bytes.
   */
  fileBytes(table: TableName | typeof RESTORED, n: number): Uint8Array {
    return simFileBytes(table, n);
  }
}

// ---------------------------------------------------------------------------
// Invariants

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

async function rawBytes(store: ObjectStore, key: string): Promise<Uint8Array | undefined> {
  try {
    return await (await store.get(key)).bytes();
  } catch {
    return undefined;
  }
}

/** The highest manifest version on `store` (a listing: the oracle's view, not a reader's). */
async function maxVersion(store: ObjectStore): Promise<number> {
  let max = 0;
  for await (const m of store.list("metadata/v")) max = Math.max(max, parseManifestKey(m.key) ?? 0);
  return max;
}

/** Version `name`'s HEAD as the oracle sees it: the hint of a posix table, else the highest manifest. */
async function headOf(w: World, name: TableName): Promise<number> {
  return isPosix(name) ? ((await readVersionHint(w.raw[name]))?.version ?? 0) : maxVersion(w.raw[name]);
}

/**
 * The HEAD a reader of `store` can find, computed independently of
 * `discoverHead`: the last of the versions that follow on from low_water
 * (missing: 1) without a hole. A manifest above a hole is not published yet
 * (a mirror writes low_water after the first version past a gap).
 */
async function visibleHead(store: ObjectStore): Promise<number> {
  const hint = await readVersionHint(store);
  if (hint !== undefined) return hint.version; // a posix table: what its hint names
  const versions = new Set<number>();
  for await (const m of store.list("metadata/v")) {
    const v = parseManifestKey(m.key);
    if (v !== undefined) versions.add(v);
  }
  const lw = Number(
    (await rawBytes(store, "metadata/low_water.txt").then((b) => (b ? new TextDecoder().decode(b) : "0"))) ||
      0,
  );
  let head = 0;
  for (let v = Math.max(1, lw); versions.has(v); v++) head = v;
  return head;
}

function tableOf(m: Manifest): TableName | undefined {
  return TABLES.find((t) => UUID[t] === m.tableUuid);
}

/** Records (or checks against) what a reader saw of `table`'s version `v`. */
async function see(w: World, table: TableName, v: number, bytes: Uint8Array, where: string): Promise<void> {
  const h = w.history[table];
  const known = h.seen.get(v);
  if (known !== undefined) {
    assert.ok(sameBytes(known, bytes), `invariant 3: ${where} shows table ${table}'s v${v} with other bytes`);
    return;
  }
  h.seen.set(v, bytes);
}

/**
 * 6. A view of table C's history (C itself, its mirror T5, the restored
 * directory R), walked from its HEAD: every manifest is one merutable wrote
 * (on C, or on R), each built on the very manifest below it, and every file
 * it names is there (on C, unless its garbage collector deleted it) with the
 * bytes merutable wrote. Returns the versions
 * walked, with their manifest keys.
 */
async function checkLineage(
  w: World,
  name: StoreName,
  layout: "posix" | "object-store",
): Promise<Map<number, string>> {
  // The primary's older versions lose files to its garbage collector; a copy of them never does.
  const gcd = name === "C";
  const store = w.raw[name];
  const walked = new Map<number, string>();
  let later: { version: number; key: string } | undefined;
  for await (const s of openMirror(store).snapshots()) {
    const bytes = (await rawBytes(
      store,
      layout === "posix" ? posixManifestKey(s.version) : manifestKey(s.version),
    )) as Uint8Array;
    const key = keyOf(bytes);
    const known = w.lineage.get(key);
    assert.ok(known !== undefined, `invariant 6: ${name} v${s.version} is a manifest merutable never wrote`);
    assert.equal(
      known.version,
      s.version,
      `invariant 6: ${name} holds merutable's v${known.version} as v${s.version}`,
    );
    if (later !== undefined) {
      assert.equal(
        w.lineage.get(later.key)?.parent,
        key,
        `invariant 6: ${name}'s v${later.version} is not built on its v${s.version}: two histories are mixed`,
      );
    }
    later = { version: s.version, key };
    walked.set(s.version, key);
    for (const f of referencedFiles(s.manifest)) {
      const got = await rawBytes(store, f.path);
      if (got === undefined && gcd) continue;
      assert.ok(got !== undefined, `invariant 1: ${name} v${s.version} names ${f.path}, which is missing`);
      const want = w.familyFileBytes(f.path);
      assert.ok(
        want !== undefined && sameBytes(got, want),
        `invariant 1/5: ${name} v${s.version}'s ${f.path} holds other bytes than merutable wrote`,
      );
    }
  }
  return walked;
}

/** The restored table R, as merutable would open it: one history, merutable's own commits never dropped. */
async function checkRestored(w: World): Promise<void> {
  // Without a hint merutable does not open it (an interrupted restore, resumed by the next one).
  if ((await readVersionHint(w.raw[RESTORED])) === undefined) {
    assert.equal(
      w.restoredAcked.size,
      0,
      "invariant 2: R lost its version-hint.text under merutable's commits",
    );
    return;
  }
  const walked = await checkLineage(w, RESTORED, "posix");
  for (const [v, key] of w.restoredAcked) {
    assert.equal(
      walked.get(v),
      key,
      `invariant 2: merutable's acknowledged v${v} on R dropped out of its history`,
    );
  }
}

/** Readers of each primary: record first sightings and their files; acknowledged commits stay visible. */
async function checkPrimary(w: World, table: TableName): Promise<void> {
  if (isPosix(table)) return checkPosixPrimary(w, table);
  const store = w.raw[table];
  const h = w.history[table];
  const walked = new Set<number>();
  for await (const s of openMirror(store).snapshots()) {
    walked.add(s.version);
    const bytes = (await rawBytes(store, manifestKeyOf(table, s.version))) as Uint8Array;
    await see(w, table, s.version, bytes, `the primary ${table}`);
    if (!h.files.has(s.version)) {
      const files = new Map<string, Uint8Array>();
      for (const f of referencedFiles(s.manifest)) {
        const b = await rawBytes(store, f.path);
        if (b !== undefined) files.set(f.path, b);
      }
      h.files.set(s.version, files);
    }
  }
  // 2: every acknowledged commit not yet expired by policy is in the table's retained history.
  const retained = new Set<number>();
  for await (const s of (await Catalog.open(store)).snapshots()) retained.add(s.version);
  for (const [v, bytes] of h.acked) {
    if (v < h.policyBoundary) continue;
    assert.ok(
      retained.has(v) && walked.has(v),
      `invariant 2: acknowledged ${table} v${v} is not visible to a fresh reader`,
    );
    assert.ok(
      sameBytes(h.seen.get(v) as Uint8Array, bytes),
      `invariant 3: ${table} v${v} is not what was acknowledged`,
    );
  }
}

/**
 * The posix primary C: its own history is one lineage (6), and every
 * acknowledged commit not discarded by a rollback is in it with the bytes
 * acknowledged (2).
 */
async function checkPosixPrimary(w: World, table: TableName): Promise<void> {
  const walked = await checkLineage(w, table, "posix");
  for (const [v, bytes] of w.history[table].acked) {
    assert.equal(
      walked.get(v),
      keyOf(bytes),
      `invariant 2: acknowledged ${table} v${v} is not in its history`,
    );
  }
}

/** Readers of each target: complete snapshots of one table, with that table's bytes. */
async function checkTarget(w: World, t: TargetName): Promise<void> {
  const store = w.raw[t];
  let table: TableName | undefined;
  for await (const s of openMirror(store).snapshots()) {
    const owner = tableOf(s.manifest);
    assert.ok(owner !== undefined, `${t} v${s.version} belongs to no table of the simulation`);
    table ??= owner;
    assert.equal(owner, table, `invariant 5: ${t}'s history mixes tables`);
    // The posix primary's history is checked by its lineage (it is rolled back and reuses numbers).
    if (isPosix(owner)) {
      await checkLineage(w, t, "object-store");
      return;
    }
    const bytes = (await rawBytes(store, manifestKey(s.version))) as Uint8Array;
    await see(w, owner, s.version, bytes, `mirror ${t}`);
    const truth = w.history[owner].files.get(s.version);
    assert.ok(
      truth !== undefined,
      `invariant 3: ${t} holds ${owner} v${s.version}, which no reader of the primary saw`,
    );
    for (const f of referencedFiles(s.manifest)) {
      const got = await rawBytes(store, f.path);
      assert.ok(got !== undefined, `invariant 1: ${t} v${s.version} names ${f.path}, which is missing`);
      const want = truth.get(f.path);
      assert.ok(
        want !== undefined && sameBytes(got, want),
        `invariant 1/5: ${t} v${s.version}'s ${f.path} holds other bytes than table ${owner}'s`,
      );
    }
  }
}

/** After a tick: a mirror that is behind says so (4). */
async function checkMirrorStatus(w: World, m: MirrorActor): Promise<void> {
  const mirror = m.mirror;
  if (!mirror) return;
  const source = await visibleHead(w.raw[m.from]);
  const target = await visibleHead(w.raw[m.to]);
  if (source <= target) return;
  const s = mirror.status();
  assert.ok(!s.caughtUp, `invariant 4: ${m.from}→${m.to} reports caughtUp at v${target} behind v${source}`);
  assert.ok(
    s.lagSeconds !== null && s.lagSeconds > 0,
    `invariant 4: ${m.from}→${m.to} is behind (v${target} < v${source}) with lag ${s.lagSeconds}`,
  );
}

/** What `--verbose` prints after each command: the stores' manifests and the mirrors' status. */
async function describeWorld(w: World): Promise<void> {
  for (const n of [...TABLES, ...TARGETS, RESTORED] as const) {
    const versions: string[] = [];
    if (isPosix(n) || n === RESTORED)
      versions.push(`hint=${(await readVersionHint(w.raw[n]))?.version ?? "-"}`);
    for await (const o of w.raw[n].list("metadata/")) {
      const v = parseManifestKey(o.key) ?? parsePosixManifestKey(o.key)?.version;
      if (v === undefined) {
        versions.push(`lw=${await (await w.raw[n].get(o.key)).text()}`);
        continue;
      }
      const bytes = (await rawBytes(w.raw[n], o.key)) as Uint8Array;
      versions.push(`v${v}:${tableOf(decodeManifest(bytes)) ?? "?"}`);
    }
    console.log(`    ${n}: ${versions.join(" ")}`);
  }
  for (const m of w.mirrors) {
    const s = m.mirror?.status();
    if (!s) continue;
    const { counters: _c, ...rest } = s;
    console.log(`    ${m.from}->${m.to}: ${JSON.stringify(rest)}`);
  }
}

/** The retention policy of the mirrors that write target `t` (T1: M0 and M4; T2: M0; T3: M1; T5: M3). */
const TARGET_POLICY: Partial<Record<TargetName, number>> = { T1: 0, T2: 0, T3: 1, T5: 3 };

/**
 * 7. A target under retention: no manifest at or above its boundary misses a
 * file (below it, readers refuse to go), and every version of the window
 * (computed from the oracle of every version ever published there, not from
 * what retention decided) is still there, at or above the boundary, with its
 * files.
 */
async function checkRetention(w: World, t: TargetName): Promise<void> {
  const store = w.raw[t];
  const boundary = Number(
    (await rawBytes(store, RETENTION_KEY).then((b) => b && new TextDecoder().decode(b))) ?? 0,
  );
  const head = await visibleHead(store);
  const present = new Map<number, number | undefined>();
  for await (const m of store.list("metadata/v")) {
    const v = parseManifestKey(m.key);
    if (v !== undefined) present.set(v, m.lastModified?.getTime());
  }
  // Published: a manifest written at or above the boundary of its moment, now at or below the HEAD
  // a reader finds, of HEAD's table (a mirror aimed at a target another one filled since it last
  // looked can leave a manifest of its own table below HEAD, which no reader reaches). Its arrival
  // is when it was first written (a racing mirror's identical copy is no new arrival).
  const headBytes = head > 0 ? await rawBytes(store, manifestKey(head)) : undefined;
  const table = headBytes && decodeManifest(headBytes).tableUuid;
  const published = new Map<number, number>();
  for (const [v, entry] of w.written.get(t) ?? []) {
    if (v <= head && entry.aboveBoundary && entry.table === table) published.set(v, entry.at);
  }
  const filesOf = async (v: number): Promise<string[]> => {
    const bytes = await rawBytes(store, manifestKey(v));
    assert.ok(bytes !== undefined, `invariant 7: ${t} v${v} (in its window) is gone`);
    return referencedFiles(decodeManifest(bytes)).map((f) => f.path);
  };
  for (const v of present.keys()) {
    if (v < boundary) continue;
    for (const p of await filesOf(v)) {
      assert.ok(
        (await rawBytes(store, p)) !== undefined,
        `invariant 7: ${t} v${v} names ${p}, which is gone`,
      );
    }
  }
  const i = TARGET_POLICY[t];
  const retention = i === undefined ? undefined : POLICIES[i]?.retention;
  if (retention === undefined || head === 0) return;
  const versions = [...published.keys()].filter((v) => v <= head).sort((a, b) => a - b);
  // Either rule keeps a version; HEAD always.
  const window = new Set([head]);
  if (retention.keepVersions !== undefined) {
    for (const v of versions.slice(-retention.keepVersions)) window.add(v);
  }
  if (retention.keepDays !== undefined) {
    const cutoff = w.clock.now() - retention.keepDays * 86_400_000;
    versions.forEach((v, k) => {
      const next = versions[k + 1];
      if (next !== undefined && (published.get(next) ?? 0) > cutoff) window.add(v);
    });
  }
  for (const v of window) {
    assert.ok(v >= boundary, `invariant 7: ${t} v${v} is in its window, below the boundary v${boundary}`);
    for (const p of await filesOf(v)) {
      assert.ok(
        (await rawBytes(store, p)) !== undefined,
        `invariant 7: ${t} v${v} (in its window) misses ${p}`,
      );
    }
  }
}

/**
 * What the Iceberg view readers did, over every sequence run in this process
 * (the soak prints it: a reader that never met a snapshot proves nothing).
 */
export const viewReads = { snapshots: 0, timeTravel: 0, midTick: 0, rowsChecked: 0, positionDeletes: 0 };

/** The view's files under a target (the mirrors' default prefix). */
const VIEW_PREFIX = "iceberg/";
const VIEW_HINT = `${VIEW_PREFIX}metadata/version-hint.text`;
const VIEW_METADATA = /^iceberg\/metadata\/v([1-9][0-9]*)\.metadata\.json$/;

/** What an Iceberg reader finds in one snapshot of a view. */
interface ViewSnapshot {
  /** Live data files (target keys): the simulation's data file each must be, and its data sequence number. */
  data: Map<string, { records: number; seq: number }>;
  /** Position deletes: data file key, position, and the delete file's sequence number. */
  deletes: Array<{ key: string; pos: number; seq: number }>;
}

/**
 * 8. A reader of a target's Iceberg view, as an Iceberg reader reads it:
 * `version-hint.text` (the folder's latest, for icebird and DuckDB) and the
 * highest `v{N}.metadata.json` (a catalog's or a listing reader's latest);
 * each one's current snapshot, and every snapshot the latest lists (time
 * travel); the snapshot's manifest list, its manifests (at the length the
 * list says), and the data and position-delete files they list: each must be
 * there, at the size its manifest entry says, and readable (a data file is
 * the very file the table wrote, a delete file decodes and names positions
 * inside its data files). `when`: where in the sequence the reader acts.
 */
async function checkIcebergView(w: World, t: TargetName, when: string): Promise<void> {
  const store = w.raw[t];
  let latest = 0;
  let hinted = false;
  for await (const o of store.list(`${VIEW_PREFIX}metadata/v`)) {
    latest = Math.max(latest, Number(VIEW_METADATA.exec(o.key)?.[1] ?? 0));
    hinted ||= o.key === VIEW_HINT;
  }
  if (!hinted && latest === 0) return;
  const hintText = hinted
    ? await rawBytes(store, VIEW_HINT).then((b) => b && new TextDecoder().decode(b))
    : undefined;
  const hint = hintText === undefined ? undefined : Number(hintText);
  const reads: Array<{ version: number; travel: boolean; how: string }> = [];
  if (hint !== undefined) reads.push({ version: hint, travel: hint === latest, how: "version-hint.text" });
  if (latest > 0 && latest !== hint)
    reads.push({ version: latest, travel: true, how: "the latest metadata file" });
  for (const r of reads) {
    const where = `${t}'s Iceberg view (${when}), through ${r.how}`;
    const bytes = await rawBytes(store, `${VIEW_PREFIX}metadata/v${r.version}.metadata.json`);
    assert.ok(bytes !== undefined, `invariant 8: ${where}: v${r.version}.metadata.json is missing`);
    const md = JSON.parse(new TextDecoder().decode(bytes)) as {
      "current-snapshot-id": number;
      snapshots: Array<{ "snapshot-id": number; "manifest-list": string }>;
      properties: Record<string, string>;
    };
    const owner = TABLES.find((x) => UUID[x] === md.properties["tidemark.table-uuid"]);
    assert.ok(owner !== undefined, `invariant 8: ${where}: a view of no table of the simulation`);
    const current = md["current-snapshot-id"];
    for (const snap of md.snapshots) {
      const id = snap["snapshot-id"];
      if (!r.travel && id !== current) continue;
      const label = `${where}, snapshot ${id}${id === current ? "" : " (time travel)"}`;
      const s = await readViewSnapshot(w, t, snap["manifest-list"], owner, label);
      viewReads.snapshots++;
      if (id !== current) viewReads.timeTravel++;
      if (when.startsWith("mid-tick")) viewReads.midTick++;
      await checkViewRows(w, t, id, s, label);
    }
  }
}

/**
 * The object `key` of `t` as a view reader reads it (`undefined`: missing):
 * a HEAD every time, the bytes (and what was decoded of them) once per
 * version of the object (its ETag), within one sequence.
 */
async function readOnce(w: World, t: TargetName, key: string): Promise<ReadFile | undefined> {
  let etag: string;
  try {
    etag = (await w.raw[t].head(key)).etag;
  } catch {
    return undefined;
  }
  const id = `${t}\u0000${key}`;
  const known = w.viewFiles.get(id);
  if (known?.etag === etag) return known;
  const bytes = await rawBytes(w.raw[t], key);
  if (bytes === undefined) return undefined;
  const read: ReadFile = { etag, bytes };
  w.viewFiles.set(id, read);
  return read;
}

/** One snapshot of `t`'s view, read from its manifest list; every file checked (8). */
async function readViewSnapshot(
  w: World,
  t: TargetName,
  listPath: string,
  owner: TableName,
  label: string,
): Promise<ViewSnapshot> {
  const base = `${viewLocation(t)}/`;
  const keyIn = (path: string): string => {
    assert.ok(path.startsWith(base), `invariant 8: ${label} names ${path}, outside its location ${base}`);
    return path.slice(base.length);
  };
  const avro = async (key: string, size?: number): Promise<Record<string, unknown>[]> => {
    const read = await readOnce(w, t, key);
    assert.ok(read !== undefined, `invariant 8: ${label} names ${key}, which is missing`);
    if (size !== undefined)
      assert.equal(read.bytes.length, size, `invariant 8: ${label}: ${key} is not its length`);
    read.decoded ??= decodeAvroFile(read.bytes, key).records;
    return read.decoded as Record<string, unknown>[];
  };
  const s: ViewSnapshot = { data: new Map(), deletes: [] };
  for (const mf of await avro(keyIn(listPath))) {
    const listSeq = Number(mf.sequence_number);
    const entries = await avro(keyIn(String(mf.manifest_path)), Number(mf.manifest_length));
    for (const e of entries) {
      if (e.status === 2) continue; // deleted: not in the snapshot
      const f = e.data_file as {
        content: number;
        file_path: string;
        file_size_in_bytes: bigint | number;
        record_count: bigint | number;
      };
      const key = keyIn(f.file_path);
      const read = await readOnce(w, t, key);
      assert.ok(read !== undefined, `invariant 8: ${label} names ${key}, which is missing`);
      const got = read.bytes;
      assert.equal(
        got.length,
        Number(f.file_size_in_bytes),
        `invariant 8: ${label}: ${key} is not the size its manifest says`,
      );
      // A new entry inherits the manifest's sequence number (the spec's inheritance).
      const seq =
        e.sequence_number === null || e.sequence_number === undefined ? listSeq : Number(e.sequence_number);
      if (f.content === 0) {
        const m = /^data\/([fr])([0-9]+)\.parquet$/.exec(key);
        const table = m?.[1] === "r" ? RESTORED : owner;
        assert.ok(
          m !== null && sameBytes(got, w.fileBytes(table, Number(m[2]))),
          `invariant 8: ${label}: data file ${key} is not the file table ${table} wrote`,
        );
        s.data.set(key, { records: Number(f.record_count), seq });
      } else {
        read.decoded ??= await decodeDeleteFile(got, key);
        const rows = read.decoded as Awaited<ReturnType<typeof decodeDeleteFile>>;
        assert.equal(
          rows.length,
          Number(f.record_count),
          `invariant 8: ${label}: ${key} holds another count`,
        );
        for (const d of rows) s.deletes.push({ key: keyIn(d.path), pos: d.pos, seq });
      }
    }
  }
  for (const d of s.deletes) {
    const target = s.data.get(d.key);
    if (target === undefined) continue; // a delete file outlives some of the data files it names
    assert.ok(d.pos < target.records, `invariant 8: ${label} deletes row ${d.pos} of ${d.key}, past its end`);
  }
  return s;
}

/**
 * 9. The rows an Iceberg reader computes at a snapshot (its data files'
 * rows, less the position deletes that apply: a delete file's sequence
 * number at or above the data file's) are the table's logical rows at that
 * version, computed from the oracle's own rows of the version's files on the
 * mirror (per key the newest row, unless it is a tombstone); and the
 * snapshot's data files are the version's.
 */
async function checkViewRows(
  w: World,
  t: TargetName,
  v: number,
  s: ViewSnapshot,
  label: string,
): Promise<void> {
  const manifest = await rawBytes(w.raw[t], manifestKey(v));
  // Only a version retention expired has no manifest; its files were just checked.
  if (manifest === undefined) return;
  const id = [
    t,
    v,
    keyOf(manifest),
    ...[...s.data].map(([k, d]) => `${k}@${d.seq}`),
    ...s.deletes.map((d) => `${d.key}:${d.pos}@${d.seq}`),
  ].join("\u0000");
  if (w.viewRowsChecked.has(id)) return;
  const m = decodeManifest(manifest);
  const owner = tableOf(m);
  assert.ok(owner !== undefined, `invariant 9: ${label}: the mirror's v${v} is of no table`);
  const live = referencedFiles(m).map((f) => f.path);
  assert.deepEqual(
    [...s.data.keys()].sort(),
    [...live].sort(),
    `invariant 9: ${label}: its data files are not the mirror's v${v}'s`,
  );
  for (const [k, d] of s.data) {
    assert.equal(d.records, 1, `invariant 9: ${label}: ${k} holds one row, not ${d.records}`);
  }
  const rowOf = (key: string) => {
    const f = /^data\/([fr])([0-9]+)\.parquet$/.exec(key) as RegExpExecArray;
    return simRow(f[1] === "r" ? RESTORED : owner, Number(f[2]));
  };
  const deleted = new Set(
    s.deletes
      .filter((d) => (s.data.get(d.key)?.seq ?? Number.POSITIVE_INFINITY) <= d.seq)
      .map((d) => `${d.key}\u0000${d.pos}`),
  );
  const show = (r: { id: bigint; payload: string }) => `${r.id}=${r.payload}`;
  // Each file's one row is at position 0.
  const iceberg = live.filter((k) => !deleted.has(`${k}\u00000`)).map((k) => show(rowOf(k)));
  const newest = new Map<bigint, ReturnType<typeof simRow>>();
  for (const k of live) {
    const r = rowOf(k);
    const seen = newest.get(r.id);
    if (seen === undefined || r.seq > seen.seq) newest.set(r.id, r);
  }
  const logical = [...newest.values()].filter((r) => r.op === 1).map(show);
  viewReads.rowsChecked++;
  viewReads.positionDeletes += deleted.size;
  assert.deepEqual(
    iceberg.sort(),
    logical.sort(),
    `invariant 9: ${label}: an Iceberg reader's rows are not the table's v${v}`,
  );
  w.viewRowsChecked.add(id);
}

export async function checkAll(w: World): Promise<void> {
  for (const t of TABLES) if (w.dirty.has(t)) await checkPrimary(w, t);
  for (const t of TARGETS) {
    if (!w.dirty.has(t)) continue;
    await checkTarget(w, t);
    await checkRetention(w, t);
    await checkIcebergView(w, t, "after the command");
  }
  if (w.dirty.has(RESTORED)) await checkRestored(w);
  w.dirty.clear();
}

// ---------------------------------------------------------------------------
// Commands

type Model = {
  pendingWriters: Set<number>;
  pendingReader: boolean;
  pendingRestore: boolean;
  pendingMirrorReader: boolean;
};

const OK_CODES = new Set(["Transient", "PreconditionFailed", "SplitBrain", "NotFound"]);

/**
 * An operation's error must be one a caller can act on, never a bug's. A
 * restore may also meet a newer table on R (`AlreadyExists`: restoring it
 * would roll merutable back).
 */
function expectedFailure(e: unknown, what: string, also: readonly string[] = []): void {
  const code = (e as { code?: string }).code;
  if (e instanceof TidemarkError || (e as Error).name === "TidemarkError") {
    if (code !== undefined && (OK_CODES.has(code) || also.includes(code))) return;
  }
  throw new Error(`${what} failed unexpectedly: ${String(e)}`);
}

/** The sources a restore into R reads: merutable's primary, or its mirror. */
type RestoreSource = "C" | "T5";

/** A restore of `from` into R through `gate` (faults, a pause), as `tidemark restore` runs it. */
function restoreIntoR(w: World, from: RestoreSource, gate: Gate): Promise<unknown> {
  return restore({ from: w.stores[from], to: gate.wrap(w.stores[RESTORED]), parallelism: 2 });
}

/**
 * merutable commits to a posix table (`name`: C, or the restored R) as its
 * catalog does: it reopens at the manifest the hint names, writes its files,
 * then `v{N}.metadata.pb`, then `version-hint.text` (a fault between them
 * leaves a manifest no hint names, which its next commit overwrites). Every
 * manifest it writes is recorded in the lineage oracle. Returns the version
 * acknowledged, or `undefined` (a fault, or no table to open).
 */
async function merutableCommit(
  w: World,
  name: "C" | typeof RESTORED,
  gate: Gate,
  adds: number,
  remove: boolean,
  fault: Fault,
): Promise<number | undefined> {
  const raw = w.raw[name];
  const hint = await readVersionHint(raw);
  const baseBytes = hint && (await rawBytes(raw, posixManifestKey(hint.version)));
  // merutable opens a directory with manifests only through its hint (R holds none before a restore).
  if (name === RESTORED && baseBytes === undefined) return undefined;
  const base = baseBytes ? decodeManifest(baseBytes) : undefined;
  const add = Array.from({ length: adds }, () => {
    const n = name === RESTORED ? ++w.restoredFiles : ++w.history.C.nextFile;
    const bytes = w.fileBytes(name, n);
    return { path: `data/${name === RESTORED ? "r" : "f"}${n}.parquet`, size: bytes.length, bytes };
  });
  for (const f of add) await w.stores[name].put(f.path, f.bytes);
  const drop =
    remove && base
      ? referencedFiles(base)
          .slice(0, 1)
          .map((f) => f.path)
      : [];
  const m = nextPosixManifest(base, add, drop, UUID.C, w.clock.now());
  const v = Number(m.snapshotId);
  const bytes = encodeManifest(m);
  w.lineage.set(keyOf(bytes), { version: v, parent: baseBytes ? keyOf(baseBytes) : undefined });
  // No fault in C's first commit: a v1 manifest without a hint is a directory merutable itself
  // refuses to open again (and so does every reader: Corrupt).
  gate.arm(v === 1 ? { kind: "none", at: 0 } : fault);
  const s = gate.wrap(w.stores[name]);
  try {
    await s.put(posixManifestKey(v), bytes);
    await s.put(VERSION_HINT_KEY, String(v));
    return v;
  } catch (e) {
    expectedFailure(e, `merutable's commit to ${name}`);
    return undefined;
  } finally {
    gate.release();
  }
}

class Cmd implements fc.AsyncCommand<Model, World> {
  readonly name: string;
  readonly applies: (m: Readonly<Model>) => boolean;
  readonly act: (m: Model, w: World) => Promise<void>;
  constructor(name: string, applies: Cmd["applies"], act: Cmd["act"]) {
    this.name = name;
    this.applies = applies;
    this.act = act;
  }
  check(m: Readonly<Model>): boolean {
    return this.applies(m);
  }
  async run(m: Model, w: World): Promise<void> {
    w.log.push(this.name);
    if (w.verbose) console.log(`> ${this.name}`);
    await this.act(m, w);
    if (w.verbose) await describeWorld(w);
    await checkAll(w);
  }
  toString(): string {
    return this.name;
  }
}

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Fault>({ kind: "none", at: 0 }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant<"crash">("crash"), at: fc.integer({ min: 1, max: 12 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant<"lose">("lose"), at: fc.integer({ min: 1, max: 12 }) }),
  },
);

const show = (f: Fault) => (f.kind === "none" ? "" : ` [${f.kind}@${f.at}]`);

/**
 * Opens the writer's catalog and uploads the files of a commit (no faults
 * there); returns the commit itself, to run under a fault.
 */
async function prepareCommit(
  w: World,
  i: number,
  adds: number,
  remove: boolean,
): Promise<(fault: Fault) => Promise<number>> {
  const writer = w.writers[i] as Writer;
  const store = w.stores[writer.table];
  const h = w.history[writer.table];
  const catalog = await w.catalogOf(writer);
  const add: DataFileInput[] = [];
  for (let k = 0; k < adds; k++) {
    const f = simDataFile(writer.table, ++h.nextFile);
    await store.put(f.entry.path, f.bytes); // files before the commit
    add.push(f.entry);
  }
  let removePaths: string[] = [];
  if (remove) {
    const head = await maxVersion(w.raw[writer.table]);
    const m = head > 0 ? await rawBytes(w.raw[writer.table], manifestKey(head)) : undefined;
    removePaths = m
      ? referencedFiles(decodeManifest(m))
          .map((f) => f.path)
          .slice(0, 1)
      : [];
  }
  return (fault) => {
    writer.gate.arm(fault);
    return catalog.commit({ add, remove: removePaths });
  };
}

async function acked(w: World, table: TableName, v: number): Promise<void> {
  const h = w.history[table];
  assert.ok(!h.acked.has(v), `invariant 3: ${table} v${v} acknowledged twice`);
  const bytes = await rawBytes(w.raw[table], manifestKeyOf(table, v));
  assert.ok(bytes !== undefined, `invariant 2: acknowledged ${table} v${v} is not on the store`);
  h.acked.set(v, bytes);
}

/**
 * The command arbitraries, weighted by repetition (fc.commands picks among
 * them uniformly): commits and mirror ticks are most of the traffic.
 */
export function commandArbs(): fc.Arbitrary<fc.AsyncCommand<Model, World>>[] {
  const [commit, stall, resume, expire, tick, posixCommit, restoreCmd, restoredCommit, rollback, ...rest] =
    commandKinds();
  const weighted = (a: fc.Arbitrary<fc.AsyncCommand<Model, World>> | undefined, n: number) =>
    a === undefined ? [] : Array.from({ length: n }, () => a);
  return [
    ...weighted(commit, 6),
    ...weighted(stall, 1),
    ...weighted(resume, 2),
    ...weighted(expire, 2),
    ...weighted(tick, 6),
    ...weighted(posixCommit, 3),
    ...weighted(restoreCmd, 2),
    ...weighted(restoredCommit, 2),
    ...weighted(rollback, 2),
    ...rest,
  ];
}

function commandKinds(): fc.Arbitrary<fc.AsyncCommand<Model, World>>[] {
  const writerIdx = fc.integer({ min: 0, max: 2 });
  return [
    // Commits, some with a fault.
    fc.tuple(writerIdx, fc.integer({ min: 1, max: 3 }), fc.boolean(), faultArb).map(
      ([i, adds, remove, fault]) =>
        new Cmd(
          `commit(w${i}, +${adds}${remove ? ", -1" : ""})${show(fault)}`,
          (m) => !m.pendingWriters.has(i),
          async (_m, w) => {
            const writer = w.writers[i] as Writer;
            try {
              const commit = await prepareCommit(w, i, adds, remove);
              await acked(w, writer.table, await commit(fault));
            } catch (e) {
              expectedFailure(e, "commit");
            } finally {
              writer.gate.release();
            }
          },
        ),
    ),
    // A writer that reads HEAD, then stalls right before its commit point.
    fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 6 })).map(
      ([i, at]) =>
        new Cmd(
          `stall(w${i}) at request ${at}`,
          (m) => !m.pendingWriters.has(i),
          async (m, w) => {
            const writer = w.writers[i] as Writer;
            let done: Promise<number>;
            try {
              done = (await prepareCommit(w, i, 1, false))({ kind: "pause", at });
            } catch (e) {
              expectedFailure(e, "open");
              return;
            }
            // Wait until it is paused, or finished (it made fewer requests than `at`).
            await Promise.race([writer.gate.reached, done.catch(() => {})]);
            writer.pending = done;
            m.pendingWriters.add(i);
          },
        ),
    ),
    fc.integer({ min: 0, max: 1 }).map(
      (i) =>
        new Cmd(
          `resume(w${i})`,
          (m) => m.pendingWriters.has(i),
          async (m, w) => {
            const writer = w.writers[i] as Writer;
            m.pendingWriters.delete(i);
            writer.gate.release();
            const p = writer.pending as Promise<number>;
            writer.pending = undefined;
            try {
              await acked(w, writer.table, await p);
            } catch (e) {
              expectedFailure(e, "stalled commit");
            }
          },
        ),
    ),
    // Expire table A, with some keys the store refuses to delete.
    fc
      .tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 3 }),
        fc.boolean(),
        faultArb,
      )
      .map(
        ([keepLast, refuse, refuseFiles, fault]) =>
          new Cmd(
            `expire(keep ${keepLast}${refuse.length ? `, refuse v${refuse.join(",v")}${refuseFiles ? " and files" : ""}` : ""})${show(fault)}`,
            () => true,
            async (_m, w) => {
              const head = await maxVersion(w.raw.A);
              const h = w.history.A;
              h.policyBoundary = Math.max(h.policyBoundary, head - keepLast + 1);
              w.expirer.refuse = new Set(
                refuse.flatMap((v) => [manifestKey(v), ...(refuseFiles ? [`data/f${v}.parquet`] : [])]),
              );
              w.expirer.arm(fault);
              try {
                const c = await Catalog.open(w.expirer.wrap(w.stores.A));
                await c.expire({ keepLast });
              } catch (e) {
                expectedFailure(e, "expire");
              } finally {
                w.expirer.clear();
              }
            },
          ),
      ),
    // Mirror ticks (retention passes among them), with a budget, faults on either side, and the
    // target refusing to delete some versions' manifests and files.
    fc
      .tuple(
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom(0, 0, 6, 12),
        faultArb,
        faultArb,
        fc.oneof(
          { weight: 3, arbitrary: fc.constant<number[]>([]) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 3 }) },
        ),
        // A reader of the target's Iceberg view acting in the middle of the tick, before its k-th request.
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
      )
      .map(
        ([i, budget, sf, tf, refuse, peek]) =>
          new Cmd(
            `tick(m${i}${budget ? `, budget ${budget}` : ""}${refuse.length ? `, refusing deletes of v${refuse.join(",v")}` : ""}${peek && VIEW_SNAPSHOTS[i] ? `, a view reader at request ${peek}` : ""})${show(sf)}${show(tf)}`,
            () => true,
            async (_m, w) => {
              const m = w.mirrors[i] as MirrorActor;
              const mirror = w.mirrorOf(m, budget);
              let readerFailed: unknown;
              m.sourceGate.arm(sf);
              m.targetGate.arm(tf);
              m.targetGate.refuse = new Set(refuse.flatMap((v) => [manifestKey(v), `data/f${v}.parquet`]));
              if (peek && m.viewSnapshots) {
                const t = m.to;
                // The tick swallows errors: what the reader found is kept, and thrown after it.
                m.targetGate.peek = {
                  at: peek,
                  act: () =>
                    checkIcebergView(w, t, `mid-tick, before request ${peek}`).catch((e: unknown) => {
                      readerFailed ??= e;
                    }),
                };
              }
              await mirror.tick(); // never throws
              m.sourceGate.release();
              m.targetGate.clear();
              if (readerFailed !== undefined) throw readerFailed;
              w.dirty.add(m.to);
              await checkMirrorStatus(w, m);
            },
          ),
      ),
    // merutable commits to table C: its files, then v{N}.metadata.pb, then version-hint.text (a
    // fault between them leaves a manifest no hint names, which its next commit overwrites).
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean(), faultArb).map(
      ([adds, remove, fault]) =>
        new Cmd(
          `merutable commits C (+${adds}${remove ? ", -1" : ""})${show(fault)}`,
          () => true,
          async (_m, w) => {
            const v = await merutableCommit(w, "C", w.posixWriter, adds, remove, fault);
            if (v !== undefined) await acked(w, "C", v);
          },
        ),
    ),
    // A restore of C, or of its mirror T5, into the directory R (which merutable may have committed to).
    fc.tuple(fc.constantFrom<RestoreSource>("C", "T5"), faultArb).map(
      ([from, fault]) =>
        new Cmd(
          `restore ${from} into R${show(fault)}`,
          (m) => !m.pendingRestore,
          async (_m, w) => {
            w.restorer.arm(fault);
            try {
              await restoreIntoR(w, from, w.restorer);
            } catch (e) {
              expectedFailure(e, "restore", ["AlreadyExists"]);
            } finally {
              w.restorer.release();
            }
          },
        ),
    ),
    // merutable keeps committing to the restored table R: files, manifest, hint.
    fc.tuple(fc.integer({ min: 1, max: 2 }), fc.boolean(), faultArb).map(
      ([adds, remove, fault]) =>
        new Cmd(
          `merutable commits R (+${adds}${remove ? ", -1" : ""})${show(fault)}`,
          () => true,
          async (_m, w) => {
            const v = await merutableCommit(w, RESTORED, w.restoredWriter, adds, remove, fault);
            if (v !== undefined) {
              const bytes = (await rawBytes(w.raw[RESTORED], posixManifestKey(v))) as Uint8Array;
              w.restoredAcked.set(v, keyOf(bytes));
            }
          },
        ),
    ),
    // merutable's primary C rolled back (a file-system snapshot or a backup restored): the
    // manifests after v{k} are gone, v{k}'s files are back, the hint names k, and its next
    // commits reuse the numbers after k with other bytes.
    fc.integer({ min: 1, max: 3 }).map(
      (back) =>
        new Cmd(
          `roll C back by ${back}`,
          () => true,
          async (_m, w) => {
            const raw = w.raw.C;
            const hint = await readVersionHint(raw);
            if (hint === undefined || hint.version - back < 1) return;
            const k = hint.version - back;
            for await (const o of raw.list("metadata/")) {
              const p = parsePosixManifestKey(o.key);
              if (p !== undefined && p.version > k) await w.stores.C.delete(o.key);
            }
            const kept = decodeManifest((await rawBytes(raw, posixManifestKey(k))) as Uint8Array);
            for (const f of referencedFiles(kept)) {
              await w.stores.C.put(f.path, w.familyFileBytes(f.path) as Uint8Array);
            }
            await w.stores.C.put(VERSION_HINT_KEY, String(k));
            for (const v of [...w.history.C.acked.keys()]) if (v > k) w.history.C.acked.delete(v);
          },
        ),
    ),
    // A restore that pauses at a request of R, while merutable (and everything else) goes on.
    fc.tuple(fc.constantFrom<RestoreSource>("C", "T5"), fc.integer({ min: 1, max: 16 })).map(
      ([from, at]) =>
        new Cmd(
          `restore ${from} into R pauses at request ${at}`,
          (m) => !m.pendingRestore,
          async (m, w) => {
            const gate = new Gate(w.clock);
            gate.arm({ kind: "pause", at });
            const done = restoreIntoR(w, from, gate).then(
              () => undefined,
              (e: unknown) => e,
            );
            await Promise.race([gate.reached, done]);
            w.pendingRestore = { gate, done };
            m.pendingRestore = true;
          },
        ),
    ),
    fc.constant(
      new Cmd(
        "restore resumes",
        (m) => m.pendingRestore,
        async (m, w) => {
          m.pendingRestore = false;
          const r = w.pendingRestore as PendingRestore;
          w.pendingRestore = undefined;
          r.gate.release();
          const failed = await r.done;
          if (failed !== undefined) expectedFailure(failed, "paused restore", ["AlreadyExists"]);
          w.dirty.add(RESTORED);
        },
      ),
    ),
    fc.constant(
      new Cmd(
        "wipe R (a fresh directory to restore into)",
        (m) => !m.pendingRestore,
        async (_m, w) => {
          for await (const o of w.raw[RESTORED].list("")) await w.raw[RESTORED].delete(o.key);
          w.restoredAcked.clear();
          w.dirty.add(RESTORED);
        },
      ),
    ),
    fc.integer({ min: 0, max: 4 }).map(
      (i) =>
        new Cmd(
          `restart(m${i})`,
          () => true,
          async (_m, w) => {
            const m = w.mirrors[i] as MirrorActor;
            await m.mirror?.shutdown();
            m.mirror = undefined;
          },
        ),
    ),
    // The first mirror's target changes under its saved progress.
    fc.constant(
      new Cmd(
        "switch m0's target (T1 <-> T2)",
        () => true,
        async (_m, w) => {
          const m = w.mirrors[0] as MirrorActor;
          await m.mirror?.shutdown();
          m.mirror = undefined;
          m.to = m.to === "T1" ? "T2" : "T1";
        },
      ),
    ),
    // The third mirror (table B) is aimed at the first mirror's target, or back at its own.
    fc.constant(
      new Cmd(
        "aim m2 at T1 <-> T4",
        () => true,
        async (_m, w) => {
          const m = w.mirrors[2] as MirrorActor;
          await m.mirror?.shutdown();
          m.mirror = undefined;
          m.to = m.to === "T4" ? "T1" : "T4";
        },
      ),
    ),
    // T5: the documented recovery of a mirror stopped by the posix primary's rewritten history.
    fc.constantFrom<TargetName>("T2", "T4", "T5").map(
      (t) =>
        new Cmd(
          `wipe ${t}`,
          () => true,
          async (_m, w) => {
            for await (const o of w.raw[t].list("")) await w.raw[t].delete(o.key);
            w.written.delete(t);
            w.dirty.add(t);
          },
        ),
    ),
    // merutable's garbage collector: files no longer in HEAD go, manifests stay.
    fc.constantFrom<TableName>("A", "C").map(
      (t) =>
        new Cmd(
          `gc table ${t}'s files not in HEAD`,
          () => true,
          async (_m, w) => {
            const head = await headOf(w, t);
            if (head === 0) return;
            const bytes = await rawBytes(w.raw[t], manifestKeyOf(t, head));
            if (!bytes) return;
            const live = new Set(referencedFiles(decodeManifest(bytes)).map((f) => f.path));
            for await (const o of w.raw[t].list("data/")) if (!live.has(o.key)) await w.raw[t].delete(o.key);
            w.dirty.add(t);
          },
        ),
    ),
    // A reader racing the other commands: it pauses mid-discovery.
    fc.integer({ min: 1, max: 5 }).map(
      (at) =>
        new Cmd(
          `reader pauses at request ${at}`,
          (m) => !m.pendingReader,
          async (m, w) => {
            const gate = new Gate(w.clock);
            gate.arm({ kind: "pause", at });
            const atLeast = Math.max(0, ...[...w.history.A.acked.keys()]);
            w.reader = { gate, pending: openMirror(gate.wrap(w.raw.A)).head(), atLeast };
            await Promise.race([gate.reached, w.reader.pending.catch(() => {})]);
            m.pendingReader = true;
          },
        ),
    ),
    fc.constant(
      new Cmd(
        "reader resumes",
        (m) => m.pendingReader,
        async (m, w) => {
          m.pendingReader = false;
          const r = w.reader as NonNullable<World["reader"]>;
          w.reader = undefined;
          r.gate.release();
          const head = await r.pending;
          const max = await maxVersion(w.raw.A);
          assert.ok(
            head >= r.atLeast,
            `invariant 2: a reader racing the others saw HEAD v${head} below acknowledged v${r.atLeast}`,
          );
          assert.ok(head <= max, `a reader saw HEAD v${head} above the highest version v${max}`);
        },
      ),
    ),
    // A reader of T1's oldest retained version (the next to expire), paused mid-read (after its
    // manifest, between its files) while retention goes on.
    fc.integer({ min: 1, max: 4 }).map(
      (at) =>
        new Cmd(
          `mirror reader of T1's oldest version pauses at request ${at}`,
          (m) => !m.pendingMirrorReader,
          async (m, w) => {
            const oldest = await openMirror(w.raw.T1).retentionBoundary();
            let version = oldest;
            if (version === 0) {
              for await (const o of w.raw.T1.list("metadata/v")) {
                const v = parseManifestKey(o.key);
                if (v !== undefined && (version === 0 || v < version)) version = v;
              }
            }
            if (version === 0 || (await visibleHead(w.raw.T1)) < version) return;
            const gate = new Gate(w.clock);
            gate.arm({ kind: "pause", at });
            const pending = verifyMirror(gate.wrap(w.raw.T1), version).then(
              (r) => r,
              (e: unknown) => e,
            );
            await Promise.race([gate.reached, pending]);
            w.mirrorReader = { gate, version, pending };
            m.pendingMirrorReader = true;
          },
        ),
    ),
    fc.constant(
      new Cmd(
        "mirror reader resumes",
        (m) => m.pendingMirrorReader,
        async (m, w) => {
          m.pendingMirrorReader = false;
          const r = w.mirrorReader as NonNullable<World["mirrorReader"]>;
          w.mirrorReader = undefined;
          r.gate.release();
          const got = await r.pending;
          if (got instanceof Error) {
            // Only an expiry may take a version from under its reader, and it says so.
            assert.match(
              got.message,
              /^\[NotFound\] snapshot v\d+ of T1 has expired: the oldest version retained is v\d+/,
              `invariant 7: a reader of T1 v${r.version} racing retention failed otherwise`,
            );
            return;
          }
          const v = got as Awaited<ReturnType<typeof verifyMirror>>;
          assert.ok(
            v.ok,
            `invariant 7: a reader of T1 v${r.version} racing retention read it half: ${JSON.stringify(v)}`,
          );
        },
      ),
    ),
    // Time passes; writer clocks drift.
    fc.integer({ min: 1, max: 7_200_000 }).map(
      (ms) =>
        new Cmd(
          `wait ${ms} ms`,
          () => true,
          async (_m, w) => {
            w.clock.ms += ms;
          },
        ),
    ),
    fc.tuple(writerIdx, fc.constantFrom(0, 2 * 3_600_000, -86_400_000)).map(
      ([i, skew]) =>
        new Cmd(
          `clock of w${i} off by ${skew} ms`,
          (m) => !m.pendingWriters.has(i),
          async (_m, w) => {
            const writer = w.writers[i] as Writer;
            writer.skewMs = skew;
            writer.catalog = undefined;
          },
        ),
    ),
  ];
}

/** Options of {@link simulationProperty}. */
export interface SimulationOptions {
  /** Print each command, the stores' manifests and the mirrors' status after it. */
  verbose?: boolean;
  /** Called after each sequence (progress of a soak). */
  onRun?: () => void;
  /** Fewest commands in a sequence (default 30). */
  minCommands?: number;
  /** Most commands in a sequence (default 60). */
  maxCommands?: number;
  replayPath?: string;
  /** Every store copies server-side (`MemoryStore` `serverSideCopy`): the mirror's copy path. */
  serverSideCopy?: boolean;
}

/**
 * `inner`'s values that satisfy `ok` when generated, while shrinking goes
 * through `inner` unfiltered: a failing sequence of 30 commands shrinks to
 * the few that matter (`Arbitrary.filter` would keep every shrink at 30).
 */
class GeneratedAtLeast<T> extends fc.Arbitrary<T> {
  readonly #inner: fc.Arbitrary<T>;
  readonly #ok: (t: T) => boolean;
  constructor(inner: fc.Arbitrary<T>, ok: (t: T) => boolean) {
    super();
    this.#inner = inner;
    this.#ok = ok;
  }
  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T> {
    for (;;) {
      const v = this.#inner.generate(mrng, biasFactor);
      if (this.#ok(v.value)) return v;
    }
  }
  canShrinkWithoutContext(value: unknown): value is T {
    return this.#inner.canShrinkWithoutContext(value);
  }
  shrink(value: T, context: unknown): fc.Stream<fc.Value<T>> {
    return this.#inner.shrink(value, context);
  }
}

/** The property: any command sequence keeps the nine invariants. */
export function simulationProperty(
  opts: SimulationOptions = {},
): fc.IAsyncProperty<[Iterable<fc.AsyncCommand<Model, World>>]> {
  const min = opts.minCommands ?? 30;
  const cmds = new GeneratedAtLeast(
    fc.commands(commandArbs(), {
      maxCommands: opts.maxCommands ?? 60,
      size: "max",
      ...(opts.replayPath !== undefined ? { replayPath: opts.replayPath } : {}),
    }),
    (c) => [...c].length >= min,
  );
  return fc.asyncProperty(cmds, async (c) => {
    const world = new World(opts.verbose, opts.serverSideCopy);
    const setup = () => ({
      model: {
        pendingWriters: new Set<number>(),
        pendingReader: false,
        pendingRestore: false,
        pendingMirrorReader: false,
      },
      real: world,
    });
    try {
      await fc.asyncModelRun(setup, c);
    } finally {
      // Let paused operations finish, so nothing outlives the run.
      for (const w of world.writers) w.gate.release();
      world.reader?.gate.release();
      world.mirrorReader?.gate.release();
      world.pendingRestore?.gate.release();
      await Promise.allSettled([
        ...world.writers.map((w) => w.pending),
        world.reader?.pending,
        world.mirrorReader?.pending,
        world.pendingRestore?.done,
      ]);
      for (const m of world.mirrors) await m.mirror?.shutdown();
      opts.onRun?.();
    }
  });
}
