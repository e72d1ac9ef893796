/**
 * Helpers of the mirror suites: a primary table built with `Catalog` on a
 * source store (deterministic bytes, injectable clock), and checks of what a
 * reader of the target can see.
 */
import assert from "node:assert/strict";
import { LOW_WATER_KEY, parseManifestKey } from "../../src/catalog/layout.ts";
import {
  Catalog,
  decodeManifest,
  liveFileInfo,
  type MirrorProgress,
  type MirrorProgressStore,
  type ObjectStore,
  type TableSchema,
  TidemarkError,
} from "../../src/index.ts";
import { referencedFiles } from "../../src/manifest/live.ts";
import { CHECKSUMS_PREFIX, checksumsKey, decodeChecksums } from "../../src/mirror/checksums.ts";
import { sha256Hex } from "../../src/store/checksum.ts";
import { collect } from "./harness.ts";

/** Deterministic bytes for a file: `size` bytes derived from `label`. */
export function fileBytes(label: string, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let h = 2166136261;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  for (let i = 0; i < size; i++) {
    h = Math.imul(h ^ i, 16777619);
    b[i] = h >>> 24;
  }
  return b;
}

/** A file to add: its bytes are written to the source before the commit. */
export interface FileSpec {
  path: string;
  size: number;
  /** A deletion vector for this data file: written too, referenced as `dv_path`. */
  dv?: { path: string; size: number };
  /** Seed of the bytes (default: the path). */
  seed?: string;
}

/** A primary table on `store`: writes files, then commits them. */
export class Primary {
  readonly store: ObjectStore;
  readonly catalog: Catalog;

  private constructor(store: ObjectStore, catalog: Catalog) {
    this.store = store;
    this.catalog = catalog;
  }

  static async open(
    store: ObjectStore,
    opts: { now?: () => number; uuid?: string; schema?: TableSchema } = {},
  ): Promise<Primary> {
    const uuid = opts.uuid ?? "00000000-0000-4000-8000-000000000001";
    const catalog = await Catalog.open(store, {
      now: opts.now ?? (() => 1_700_000_000_000),
      newTableUuid: () => uuid,
      ...(opts.schema ? { schema: opts.schema } : {}),
    });
    return new Primary(store, catalog);
  }

  /** Writes `add`'s files (and dvs), then commits them and removes `remove`. Returns the new version. */
  async commit(add: FileSpec[], remove: string[] = []): Promise<number> {
    for (const f of add) {
      await this.store.put(f.path, fileBytes(f.seed ?? f.path, f.size));
      if (f.dv) await this.store.put(f.dv.path, fileBytes(f.dv.path, f.dv.size));
    }
    return this.catalog.commit({
      add: add.map((f) => ({
        path: f.path,
        fileSize: f.size,
        numRows: 1,
        ...(f.dv ? { dvPath: f.dv.path, dvOffset: 0, dvLength: f.dv.size } : {}),
      })),
      remove,
    });
  }

  /** Commits `n` snapshots of `perSnapshot` new files each (sizes 1..`maxSize`). */
  async commitMany(n: number, perSnapshot: number, maxSize = 64, label = "f"): Promise<number> {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const add: FileSpec[] = [];
      for (let j = 0; j < perSnapshot; j++) {
        const path = `data/${label}-${i}-${j}.parquet`;
        add.push({ path, size: 1 + ((i * 31 + j * 7) % maxSize) });
      }
      v = await this.commit(add);
    }
    return v;
  }
}

/** Every key of `store` with its bytes (a test helper: lists). */
export async function contents(store: ObjectStore, except: string[] = []): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const m of await collect(store.list(""))) {
    if (except.includes(m.key)) continue;
    out.set(m.key, await (await store.get(m.key)).bytes());
  }
  return out;
}

/**
 * What a reader of `target` may rely on: every manifest present names only
 * files that are present with the source's bytes. (Lists the target: tests only.)
 * Returns the versions found.
 */
export async function assertReadable(target: ObjectStore, source: ObjectStore): Promise<number[]> {
  const versions: number[] = [];
  for (const m of await collect(target.list("metadata/"))) {
    const v = parseManifestKey(m.key);
    if (v === undefined) continue;
    versions.push(v);
    const bytes = await (await target.get(m.key)).bytes();
    const manifest = decodeManifest(bytes);
    for (const f of liveFileInfo(manifest)) {
      const got = await (await target.get(f.path)).bytes();
      const want = await (await source.get(f.path)).bytes();
      assert.deepEqual(got, want, `v${v}: ${f.path} differs from the source`);
    }
  }
  return versions.sort((a, b) => a - b);
}

/**
 * The target holds exactly the source's keys and bytes (low_water aside,
 * which differs by design), plus the mirror's checksum record of each of its
 * manifests (see {@link assertChecksumRecords}).
 */
export async function assertSameTable(target: ObjectStore, source: ObjectStore): Promise<void> {
  const t = await contents(target, [LOW_WATER_KEY]);
  const s = await contents(source, [LOW_WATER_KEY]);
  for (const k of await assertChecksumRecords(t)) if (!s.has(k)) t.delete(k);
  assert.deepEqual([...t.keys()].sort(), [...s.keys()].sort(), "target and source keys differ");
  for (const [k, v] of s) assert.deepEqual(t.get(k), v, `${k} differs`);
}

/**
 * Every manifest in `objects` (a mirror's keys and bytes) has its checksum
 * record (`_tidemark/checksums/v{N}.sha256`), naming every file the manifest
 * references and the manifest itself with the SHA-256 of the bytes there; a
 * record with no manifest (a crash between the two) names only files there.
 * Returns the records' keys.
 */
export async function assertChecksumRecords(objects: Map<string, Uint8Array>): Promise<string[]> {
  const records: string[] = [];
  for (const key of objects.keys()) if (key.startsWith(CHECKSUMS_PREFIX)) records.push(key);
  for (const [key, bytes] of objects) {
    const v = parseManifestKey(key);
    if (v === undefined) continue;
    const record = objects.get(checksumsKey(v));
    assert.ok(record, `${key} has no checksum record`);
    const sums = decodeChecksums(record, checksumsKey(v));
    const want = [key, ...referencedFiles(decodeManifest(bytes)).map((f) => f.path)].sort();
    assert.deepEqual([...sums.keys()].sort(), want, `${checksumsKey(v)} names the files of ${key}`);
  }
  for (const key of records) {
    for (const [path, hex] of decodeChecksums(objects.get(key) as Uint8Array, key)) {
      const bytes = objects.get(path);
      if (bytes === undefined && parseManifestKey(path) !== undefined) continue; // its manifest is not written yet
      assert.ok(bytes, `${key} names ${path}, which is not there`);
      assert.equal(hex, await sha256Hex(bytes), `${key}: ${path}`);
    }
  }
  return records;
}

/** An in-memory {@link MirrorProgressStore} that round-trips through JSON, as the Durable Object does. */
export function memoryProgress(): MirrorProgressStore & { saved: MirrorProgress | undefined; saves: number } {
  const p = {
    saved: undefined as MirrorProgress | undefined,
    saves: 0,
    load: async () => (p.saved ? (JSON.parse(JSON.stringify(p.saved)) as MirrorProgress) : undefined),
    save: async (x: MirrorProgress) => {
      p.saves++;
      p.saved = JSON.parse(JSON.stringify(x)) as MirrorProgress;
    },
  };
  return p;
}

/** A manual clock. */
export function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/**
 * A wrapper that records successful writes per key and fails any list or
 * write when `readOnly` (as `HttpStore` does).
 */
export function recording(
  store: ObjectStore,
  opts: { readOnly?: boolean } = {},
): ObjectStore & { writes: Map<string, number>; heads: string[] } {
  const writes = new Map<string, number>();
  const heads: string[] = [];
  const denied = async (what: string): Promise<never> => {
    throw new TidemarkError("NotSupported", `${what} on a read-only store`);
  };
  return {
    name: store.name,
    writes,
    heads,
    capabilities: opts.readOnly ? { write: false, list: false } : (store.capabilities ?? {}),
    get: (k, o) => store.get(k, o),
    head: (k) => {
      heads.push(k);
      return store.head(k);
    },
    async put(k, b, o) {
      if (opts.readOnly) return denied("put");
      const r = await store.put(k, b, o);
      writes.set(k, (writes.get(k) ?? 0) + 1);
      return r;
    },
    delete: (k) => (opts.readOnly ? denied("delete") : store.delete(k)),
    deleteMany: (ks) => (opts.readOnly ? denied("deleteMany") : store.deleteMany(ks)),
    list(prefix, o) {
      if (opts.readOnly) {
        return (async function* (): AsyncGenerator<never> {
          yield* [];
          await denied("list");
        })();
      }
      return store.list(prefix, o);
    },
  };
}
