/**
 * The LaminarDB checkpoint roots that test/support/laminardb_state_v2.py
 * writes (from the documented layout, with Python's struct, hashlib and
 * json: no code shared with tidemark's decoder) into
 * test/fixtures/laminardb-state-v2.json. Each runtime reads the file its own
 * way and hands the text to {@link parseBundle}.
 */
import type { ObjectStore } from "../../src/store/types.ts";

/** A run of bytes: base64, UTF-8 text, or a hex pattern repeated. */
export type Segment = { b64: string } | { text: string } | { repeat: string; count: number };

/** A finding as the generator expects it. */
export interface ExpectedFinding {
  key: string;
  rule: string;
}

/** A root and what a verifier must say of it. */
export interface FixtureCase {
  description: string;
  layout: "state-v2" | "legacy";
  /** The root is this base with `objects` put over it and `delete` removed. */
  base?: string;
  delete?: string[];
  objects: Record<string, Segment[]>;
  expect: {
    ok: boolean;
    problems: ExpectedFinding[];
    warnings: ExpectedFinding[];
    candidate: string | null;
    restorable: boolean | null;
  };
}

/** A source root changing step by step, and what a mirror of it holds after each step. */
export interface FixtureTimeline {
  description: string;
  steps: Array<{
    put: Record<string, Segment[]>;
    delete: string[];
    expect: { floor: string | null; sealed: string[] };
  }>;
}

/** Attempts to publish in any order LaminarDB could (a model-based test), with the floors it may publish. */
export interface FixturePool {
  namespace: Record<string, Segment[]>;
  /** By epoch: the parent its lineage names, its objects, and its seal (apart). */
  attempts: Record<
    string,
    { parent: string | null; objects: Record<string, Segment[]>; seal: Record<string, Segment[]> }
  >;
  /** By `before/swept`. */
  floors: Record<string, Segment[]>;
}

/** The whole bundle. */
export interface FixtureBundle {
  bases: Record<string, Record<string, Segment[]>>;
  cases: Record<string, FixtureCase>;
  timelines: Record<string, FixtureTimeline>;
  pools?: Record<string, FixturePool>;
}

/** The bundle from its JSON text. */
export function parseBundle(text: string): FixtureBundle {
  return JSON.parse(text) as FixtureBundle;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The bytes of an object given as segments. */
export function bytesOf(segments: Segment[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of segments) {
    if ("b64" in s) parts.push(fromBase64(s.b64));
    else if ("text" in s) parts.push(new TextEncoder().encode(s.text));
    else {
      const unit = new Uint8Array(s.repeat.length / 2);
      for (let i = 0; i < unit.length; i++) unit[i] = Number.parseInt(s.repeat.slice(i * 2, i * 2 + 2), 16);
      const run = new Uint8Array(unit.length * s.count);
      for (let i = 0; i < s.count; i++) run.set(unit, i * unit.length);
      parts.push(run);
    }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A case's root: key → bytes. */
export function rootOf(bundle: FixtureBundle, c: FixtureCase): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (c.base !== undefined) {
    const base = bundle.bases[c.base];
    if (!base) throw new Error(`no base ${c.base}`);
    for (const [k, v] of Object.entries(base)) out.set(k, bytesOf(v));
  }
  for (const k of c.delete ?? []) out.delete(k);
  for (const [k, v] of Object.entries(c.objects)) out.set(k, bytesOf(v));
  return out;
}

/** Writes `objects` into `store` (8 at once). */
export async function writeRoot(store: ObjectStore, objects: Map<string, Uint8Array>): Promise<void> {
  const entries = [...objects];
  for (let i = 0; i < entries.length; i += 8) {
    await Promise.all(entries.slice(i, i + 8).map(([k, v]) => store.put(k, v)));
  }
}

/** Applies one step of a timeline to `store`: its puts, then its deletes. */
export async function applyStep(store: ObjectStore, step: FixtureTimeline["steps"][number]): Promise<void> {
  await writeRoot(store, new Map(Object.entries(step.put).map(([k, v]) => [k, bytesOf(v)])));
  if (step.delete.length > 0) await store.deleteMany(step.delete);
}
