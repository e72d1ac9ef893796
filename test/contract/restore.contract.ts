/**
 * The restore suite: `restore` writes merutable's posix layout (files, then
 * `metadata/v{N}.metadata.pb` verbatim, then `version-hint.text` last) from
 * a mirror or a posix primary, refuses targets that hold another table,
 * continues an earlier restore of the same table, and resumes after a crash
 * without ever leaving a hint that points at missing files.
 */
import assert from "node:assert/strict";
import { LOW_WATER_KEY, manifestKey } from "../../src/catalog/layout.ts";
import { posixManifestKey, readVersionHint, VERSION_HINT_KEY } from "../../src/catalog/posix.ts";
import {
  encodeManifest,
  Mirror,
  metered,
  type ObjectStore,
  openTable,
  referencedFiles,
  restore,
  type TableSchema,
} from "../../src/index.ts";
import { locate, wrapperOf } from "../../src/store/types.ts";
import { faulty } from "../../src/testing/index.ts";
import { assertRejectsOption, codeOf, collect, type Harness } from "../support/harness.ts";
import { contents, fileBytes, Primary } from "../support/mirror-fixture.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

export interface RestoreContractOptions {
  skip?: Record<string, string>;
  /** Run the crash sweep (a crash at every request): memory only, it makes thousands of requests. */
  exhaustive?: boolean;
  timeoutMs?: number;
}

/** A source and an empty target of one kind, and more of them on demand. */
export interface RestorePair {
  source: ObjectStore;
  target: ObjectStore;
  another(): ObjectStore;
}

export const EVENTS_SCHEMA: TableSchema = {
  table_name: "events",
  columns: [
    { name: "id", col_type: "Int64", nullable: false },
    { name: "payload", col_type: "ByteArray", nullable: true },
  ],
  primary_key: [0],
};

/**
 * What merutable relies on when it opens `target`: `version-hint.text` names
 * a version whose manifest is there, and every file that manifest (and each
 * older manifest present) references is there with `source`'s bytes.
 * Returns the hint's version (0: no hint).
 */
export async function assertOpenable(target: ObjectStore, source: ObjectStore): Promise<number> {
  const hint = await readVersionHint(target);
  if (hint === undefined) return 0;
  const t = await openTable(target);
  assert.equal(t.layout, "posix");
  for (const m of await collect(target.list("metadata/"))) {
    const v = /^metadata\/v(\d+)\.metadata\.pb$/.exec(m.key)?.[1];
    if (v === undefined || Number(v) > hint.version) continue;
    for (const f of referencedFiles(await t.manifest(Number(v)))) {
      const got = await (await target.get(f.path)).bytes();
      assert.deepEqual(got, await (await source.get(f.path)).bytes(), `v${v}: ${f.path}`);
    }
  }
  return hint.version;
}

export function restoreContract(
  h: Harness,
  makePair: () => RestorePair | Promise<RestorePair>,
  opts: RestoreContractOptions = {},
): void {
  const test = (name: string, fn: (p: RestorePair) => Promise<void>, o: { exhaustive?: boolean } = {}) => {
    const reason =
      opts.skip?.[name] ?? (o.exhaustive && !opts.exhaustive ? "exhaustive: memory only" : undefined);
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makePair()), { timeoutMs: opts.timeoutMs ?? 60_000 });
  };

  /** A mirror (object-store layout) of a 3-version table created with a schema. */
  const mirrored = async ({ source, another }: RestorePair): Promise<ObjectStore> => {
    const primary = await Primary.open(source, { schema: EVENTS_SCHEMA });
    await primary.commit([{ path: "data/L0/a.parquet", size: 7 }]);
    await primary.commit([
      { path: "data/L0/b.parquet", size: 9, dv: { path: "data/L0/b.dv-2.puffin", size: 3 } },
    ]);
    await primary.commit([{ path: "data/L1/c.parquet", size: 11 }], ["data/L0/a.parquet"]);
    const mirror = another();
    const m = new Mirror({ source, target: mirror });
    await m.tick();
    assert.equal(m.mirrorSeq, 3);
    return mirror;
  };

  test("restores HEAD as merutable's posix layout: every file, then the manifests verbatim, then version-hint.text last", async (p) => {
    const mirror = await mirrored(p);
    const order: string[] = [];
    const watched: ObjectStore = {
      ...p.target,
      name: p.target.name,
      get: (k, o) => p.target.get(k, o),
      head: (k) => p.target.head(k),
      put: async (k, b, o) => {
        const r = await p.target.put(k, b, o);
        order.push(k);
        return r;
      },
      delete: (k) => p.target.delete(k),
      deleteMany: (ks) => p.target.deleteMany(ks),
      list: (x, o) => p.target.list(x, o),
    };
    const r = await restore({ from: mirror, to: watched });
    assert.deepEqual(
      [r.version, r.sourceVersion, r.files, r.skippedFiles, r.versions, r.skipped],
      [3, 3, 4, 0, [1, 2, 3], []],
    );
    const data = order.filter((k) => k.startsWith("data/"));
    assert.deepEqual(data.sort(), [
      "data/L0/a.parquet",
      "data/L0/b.dv-2.puffin",
      "data/L0/b.parquet",
      "data/L1/c.parquet",
    ]);
    assert.deepEqual(order.slice(data.length), [
      "metadata/v1.metadata.pb",
      "metadata/v2.metadata.pb",
      "metadata/v3.metadata.pb",
      VERSION_HINT_KEY,
    ]);
    assert.equal(await (await p.target.get(VERSION_HINT_KEY)).text(), "3", "decimal, no newline");
    for (const v of [1, 2, 3]) {
      assert.deepEqual(
        await (await p.target.get(posixManifestKey(v))).bytes(),
        await (await mirror.get(manifestKey(v))).bytes(),
        `v${v}: the manifest bytes verbatim`,
      );
    }
    assert.equal(await assertOpenable(p.target, p.source), 3);
    assert.equal(await codeOf(p.target.head(LOW_WATER_KEY)), "NotFound", "no object-store layout");
    // Running it again changes nothing.
    const again = await restore({ from: mirror, to: p.target });
    assert.deepEqual([again.files, again.skippedFiles, again.continued], [0, 4, 3]);
  });

  test("--version restores an older version and the history below it, nothing above", async (p) => {
    const mirror = await mirrored(p);
    const r = await restore({ from: mirror, to: p.target, version: 2 });
    assert.deepEqual([r.version, r.versions], [2, [1, 2]]);
    assert.equal(await (await p.target.get(VERSION_HINT_KEY)).text(), "2");
    assert.equal(await codeOf(p.target.head(posixManifestKey(3))), "NotFound");
    assert.equal(await codeOf(p.target.head("data/L1/c.parquet")), "NotFound", "v3's file is not copied");
    assert.equal(await assertOpenable(p.target, p.source), 2);
    // The same table at an older version: a restore of a later one continues it.
    const later = await restore({ from: mirror, to: p.target });
    assert.deepEqual([later.version, later.continued, later.files], [3, 2, 1]);
    assert.equal(await assertOpenable(p.target, p.source), 3);
    // A newer one is never rolled back.
    const e = await restore({ from: mirror, to: p.target, version: 1 }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(String(e?.message), /^\[AlreadyExists\] .*holds this table at v3, newer than v1/);
    assert.equal(await (await p.target.get(VERSION_HINT_KEY)).text(), "3");
  });

  test("a table without merutable.schema.json is refused: merutable cannot open it", async ({
    source,
    target,
  }) => {
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/a.parquet", size: 4 }]);
    const e = await restore({ from: source, to: target }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(
      String(e?.message),
      /^\[NotSupported\] cannot restore metadata\/v1\.manifest\.bin .* no merutable\.schema\.json property, and merutable cannot open a table without it/,
    );
    assert.deepEqual([...(await contents(target)).keys()], [], "nothing written");
  });

  test("a posix primary restored elsewhere is the same table, byte for byte", async ({ source, target }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(3, 2);
    await restore({ from: source, to: target });
    const s = await contents(source);
    const t = await contents(target);
    assert.deepEqual([...t.keys()].sort(), [...s.keys()].sort());
    for (const [k, v] of s) assert.deepEqual(t.get(k), v, k);
  });

  test("older versions whose files merutable deleted are left out; the rest keep time travel", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitCompactedAndCollected();
    const r = await restore({ from: source, to: target });
    assert.deepEqual(r.versions, [3, 4]);
    assert.deepEqual(r.skipped, [
      { version: 2, reason: "files-gone" },
      { version: 1, reason: "files-gone" },
    ]);
    assert.equal(await codeOf(target.head(posixManifestKey(2))), "NotFound");
    assert.equal(await assertOpenable(target, source), 4);
  });

  test("a target holding another table, an object-store table, or stray manifests is refused before anything is written", async (p) => {
    const mirror = await mirrored(p);
    const otherTable = new PosixPrimary(p.target, { uuid: "99999999-0000-4000-8000-000000000000" });
    await otherTable.commitMany(1, 1);
    const before = await contents(p.target);
    const why = async (to: ObjectStore) =>
      (
        await restore({ from: mirror, to }).then(
          () => undefined,
          (x: unknown) => x as Error,
        )
      )?.message ?? "";
    assert.match(await why(p.target), /^\[AlreadyExists\] .*holds another table/);
    assert.deepEqual(await contents(p.target), before, "nothing written");
    // The mirror itself (object-store layout) is not a restore target.
    const mirrorCopy = p.another();
    for (const [k, v] of await contents(mirror)) await mirrorCopy.put(k, v);
    assert.match(await why(mirrorCopy), /holds an object-store table \(metadata\/low_water\.txt/);
    // Manifests of another table left without a hint.
    const stray = p.another();
    await stray.put(posixManifestKey(1), await (await p.target.get(posixManifestKey(1))).bytes());
    assert.match(await why(stray), /holds another table/);
  });

  /**
   * A primary of 3 versions mirrored, the mirror restored into `target`, and
   * merutable committing to the restored table (its own v4) while the
   * primary commits another v4 and a v5, which the mirror copies.
   */
  const twoHistories = async (p: RestorePair) => {
    const primary = await Primary.open(p.source, { schema: EVENTS_SCHEMA });
    for (const n of [1, 2, 3]) await primary.commit([{ path: `data/L0/p${n}.parquet`, size: 5 + n }]);
    const mirror = p.another();
    const m = new Mirror({ source: p.source, target: mirror });
    assert.equal(await m.tick(), 3);
    await restore({ from: mirror, to: p.target });
    const merutable = await PosixPrimary.open(p.target);
    assert.equal(await merutable.commit([{ path: "data/L0/own-4.parquet", size: 4 }]), 4);
    await primary.commit([{ path: "data/L0/p4.parquet", size: 9 }]);
    await primary.commit([{ path: "data/L0/p5.parquet", size: 10 }]);
    assert.equal(await m.tick(), 5);
    return { mirror, merutable };
  };

  test("a restored table merutable committed to since is SplitBrain with nothing written, whether the source holds another v4 or a gap there", async (p) => {
    const { mirror } = await twoHistories(p);
    const before = await contents(p.target);
    const refusedWith = async (what: string) => {
      const to = metered(p.target);
      const e = await restore({ from: mirror, to }).then(
        () => undefined,
        (x: unknown) => x as Error,
      );
      assert.match(String(e?.message), /^\[SplitBrain\] cannot restore v5 into .*: its HEAD v4 /, what);
      assert.equal(to.counts().writeClass - to.counts().list, 0, `${what}: nothing written`);
      assert.deepEqual(await contents(p.target), before, what);
      assert.equal(
        await (await p.target.get(VERSION_HINT_KEY)).text(),
        "4",
        `${what}: merutable's HEAD stays`,
      );
    };
    // The mirror holds the primary's v4: another history than merutable's v4 on the target.
    await refusedWith("another v4");
    // The mirror's v4 is a gap (expired before it was mirrored): nothing proves merutable's v4 is the source's.
    await mirror.delete(manifestKey(4));
    await refusedWith("a gap at v4");
  });

  test("a manifest above the hint that is not the source's (merutable's interrupted commit) is SplitBrain with nothing written", async (p) => {
    const primary = await Primary.open(p.source, { schema: EVENTS_SCHEMA });
    for (const n of [1, 2, 3]) await primary.commit([{ path: `data/L0/p${n}.parquet`, size: 5 + n }]);
    await restore({ from: p.source, to: p.target, version: 2 });
    // merutable writes its v3 manifest, then crashes before renaming the hint.
    const merutable = await PosixPrimary.open(p.target);
    const own = merutable.build([{ path: "data/L0/own-3.parquet", size: 3 }]);
    await p.target.put(posixManifestKey(3), encodeManifest(own));
    const before = await contents(p.target);
    const to = metered(p.target);
    const e = await restore({ from: p.source, to }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(
      String(e?.message),
      /^\[SplitBrain\] cannot restore v3 into .*: its v3 \(HEAD v2\) is not the source's v3/,
    );
    assert.equal(to.counts().writeClass - to.counts().list, 0, "nothing written");
    assert.deepEqual(await contents(p.target), before);
  });

  test("a source rolled back while the restore reads its history is PreconditionFailed with nothing written, never two histories mixed", async (p) => {
    const primary = new PosixPrimary(p.source);
    await primary.commitMany(3, 1);
    // While the restore walks down from v3, a snapshot taken at v1 is restored on the primary and
    // merutable commits v2 and v3 again: the v2 the walk reads is the new one.
    let rolledBack = false;
    const source: ObjectStore = {
      ...wrapperOf(p.source),
      get: async (k, o) => {
        if (k === posixManifestKey(2) && !rolledBack) {
          rolledBack = true;
          await primary.rollbackTo(1);
          await primary.commitMany(2, 1, "again");
        }
        return p.source.get(k, o);
      },
      head: (k) => p.source.head(k),
      put: (k, b, o) => p.source.put(k, b, o),
      delete: (k) => p.source.delete(k),
      deleteMany: (ks) => p.source.deleteMany(ks),
      list: (x, o) => p.source.list(x, o),
    };
    const to = metered(p.target);
    const e = await restore({ from: source, to }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.ok(rolledBack);
    assert.match(
      String(e?.message),
      /^\[PreconditionFailed\] the source's v3 holds other bytes since the restore read it/,
    );
    assert.equal(to.counts().put, 0, "nothing written");
    // Run again: the new history, whole.
    const r = await restore({ from: p.source, to: p.target });
    assert.deepEqual(r.versions, [1, 2, 3]);
    for (const v of [1, 2, 3]) {
      assert.deepEqual(
        await (await p.target.get(posixManifestKey(v))).bytes(),
        await (await p.source.get(posixManifestKey(v))).bytes(),
      );
    }
  });

  test("every path lands where merutable opens it: one the target would store under another name is refused up front, nothing written", async (p) => {
    const primary = await Primary.open(p.source, { schema: EVENTS_SCHEMA });
    await primary.commit([{ path: "data/L0/a.parquet", size: 5 }]);
    await primary.commit([{ path: "data/L0/50%off.parquet", size: 6 }]);
    const odd = "data/L0/50%off.parquet";
    const { store, key } = locate(p.target, odd);
    const literal = store.storesVerbatim?.(key) ?? true;
    const to = metered(p.target);
    const e = await restore({ from: p.source, to }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    if (literal) {
      assert.equal(e, undefined, String(e));
      // A store that keeps every key as its name: the object is at the path the manifest names.
      assert.equal((await p.target.head(odd)).size, 6);
      assert.equal(await assertOpenable(p.target, p.source), 2);
    } else {
      // A directory would write data/L0/50%2525off.parquet, which merutable would never find.
      assert.match(
        String(e?.message),
        /^\[InvalidArgument\] cannot restore into .*"data\/L0\/50%off\.parquet" cannot be stored under its literal name/,
      );
      assert.deepEqual([...(await contents(p.target)).keys()], [], "nothing written");
    }
    // A path that is also the directory of another is refused on every store: no file system holds both.
    const clash = p.another();
    const other = await Primary.open(clash, { schema: EVENTS_SCHEMA });
    await other.commit([{ path: "data/x", size: 3 }]);
    await other.commit([{ path: "data/x/y.parquet", size: 4 }]);
    const target = metered(p.another());
    assert.match(
      String(await restore({ from: clash, to: target }).catch((x: unknown) => x)),
      /\[InvalidArgument\] cannot restore into .*"data\/x" is a file and the directory of "data\/x\/y\.parquet"/,
    );
    assert.equal(target.counts().put, 0);
  });

  test("a file on the target with other bytes is SplitBrain, never overwritten", async (p) => {
    const mirror = await mirrored(p);
    await p.target.put("data/L1/c.parquet", fileBytes("another table", 11));
    assert.equal(await codeOf(restore({ from: mirror, to: p.target })), "SplitBrain");
    assert.deepEqual(await (await p.target.get("data/L1/c.parquet")).bytes(), fileBytes("another table", 11));
    assert.equal(await codeOf(p.target.head(VERSION_HINT_KEY)), "NotFound", "no hint");
  });

  test("a merutable mirror's vN holding snapshot N+1 is restored under the snapshot id it holds", async (p) => {
    const primary = new PosixPrimary(p.source);
    await primary.commitMany(3, 1);
    const mirror = p.another();
    for (const m of await collect(p.source.list("data/")))
      await mirror.put(m.key, await (await p.source.get(m.key)).bytes());
    const pb = async (v: number) => (await p.source.get(posixManifestKey(v))).bytes();
    await mirror.put(manifestKey(1), await pb(1));
    await mirror.put(manifestKey(2), await pb(3)); // merutable's mirror race
    await mirror.put(LOW_WATER_KEY, "2");
    const r = await restore({ from: mirror, to: p.target });
    assert.deepEqual([r.version, r.sourceVersion, r.versions], [3, 2, [1, 3]]);
    assert.match(String(r.anomaly), /holds snapshot 3, not 2/);
    assert.deepEqual(await (await p.target.get(posixManifestKey(3))).bytes(), await pb(3));
    assert.equal(await assertOpenable(p.target, p.source), 3);
  });

  test("options are checked: a bad version or parallelism is InvalidArgument naming it, a read-only target refused", async (p) => {
    const mirror = await mirrored(p);
    await assertRejectsOption("version", [0, -1, 1.5, Number.NaN, "2"], (version) =>
      restore({ from: mirror, to: p.target, version }),
    );
    await assertRejectsOption("parallelism", [0, Number.NaN, Number.POSITIVE_INFINITY], (parallelism) =>
      restore({ from: mirror, to: p.target, parallelism }),
    );
    const readOnly: ObjectStore = { ...p.target, name: p.target.name, capabilities: { write: false } };
    assert.equal(await codeOf(restore({ from: mirror, to: readOnly })), "InvalidArgument");
    assert.equal(await codeOf(restore({ from: mirror, to: p.target, version: 9 })), "NotFound");
    assert.deepEqual([...(await contents(p.target)).keys()], [], "nothing written");
  });

  test(
    "a crash at every request of the target, then a re-run: never a version-hint.text over missing files, and the re-run completes",
    async (p) => {
      const mirror = await mirrored(p);
      const clean = faulty(p.another(), {});
      await restore({ from: mirror, to: clean, parallelism: 1 });
      const K = clean.requests();
      assert.ok(K > 10);
      for (let k = 1; k <= K; k++) {
        const target = p.another();
        const crashed = restore({ from: mirror, to: faulty(target, { crashAt: k }), parallelism: 1 });
        assert.equal(await codeOf(crashed), "Transient", `k=${k}: the crash happened`);
        await assertOpenable(target, p.source);
        const r = await restore({ from: mirror, to: target });
        assert.equal(r.version, 3, `k=${k}`);
        assert.equal(await assertOpenable(target, p.source), 3, `k=${k}`);
      }
    },
    { exhaustive: true },
  );
}
