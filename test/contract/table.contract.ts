/**
 * The table reader suite: `openTable` on both of merutable's layouts (the
 * posix primary, `version-hint.text`; the object-store layout of mirrors and
 * `Catalog`s), on any store (memory, a directory, S3, R2). Run by each runtime.
 */
import assert from "node:assert/strict";
import { LOW_WATER_KEY, manifestKey } from "../../src/catalog/layout.ts";
import { legacyManifestKey, posixManifestKey, VERSION_HINT_KEY } from "../../src/catalog/posix.ts";
import {
  Catalog,
  createManifest,
  encodeManifest,
  MemoryStore,
  metered,
  type ObjectStore,
  openMirror,
  openTable,
  verifyMirror,
} from "../../src/index.ts";
import { codeOf, collect, type Harness } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

export interface TableContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  timeoutMs?: number;
}

export function tableContract(
  h: Harness,
  makeStore: () => ObjectStore | Promise<ObjectStore>,
  opts: TableContractOptions = {},
): void {
  const test = (name: string, fn: (s: ObjectStore) => Promise<void>) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makeStore()), { timeoutMs: opts.timeoutMs ?? 30_000 });
  };

  test("a merutable primary (version-hint.text) is a table: HEAD, manifests, chain, files and diff", async (s) => {
    const p = new PosixPrimary(s);
    await p.commit([{ path: "data/L0/a.parquet", size: 10 }]);
    await p.commit([{ path: "data/L0/b.parquet", size: 20, dv: { path: "data/L0/b.dv-2.puffin", size: 5 } }]);
    await p.commit([{ path: "data/L1/c.parquet", size: 30 }], ["data/L0/a.parquet"]);
    const t = await openTable(s);
    assert.equal(t.layout, "posix");
    assert.equal(await t.head(), 3);
    assert.equal(t.manifestKey(3), "metadata/v3.metadata.pb");
    const bytes = await (await s.get(posixManifestKey(2))).bytes();
    assert.deepEqual(await t.manifestBytes(2), bytes, "the manifest bytes as stored");
    assert.equal((await t.manifest(3)).snapshotId, 3n);
    assert.deepEqual(
      (await collect(t.snapshots())).map((x) => [x.version, x.anomaly]),
      [
        [3, undefined],
        [2, undefined],
        [1, undefined],
      ],
    );
    assert.deepEqual(await t.files(3), ["data/L0/b.parquet", "data/L0/b.dv-2.puffin", "data/L1/c.parquet"]);
    assert.deepEqual(await t.diff(1, 3), {
      added: ["data/L0/b.parquet", "data/L0/b.dv-2.puffin", "data/L1/c.parquet"],
      removed: ["data/L0/a.parquet"],
    });
    // The mirror reader and verifyMirror read it through the same reader.
    assert.equal(await openMirror(s).head(), 3);
    assert.equal((await verifyMirror(s)).ok, true);
    assert.equal(await codeOf(t.manifest(4)), "NotFound");
  });

  test("HEAD of a posix table is one GET of version-hint.text", async (s) => {
    const p = new PosixPrimary(s);
    await p.commitMany(3, 1);
    const m = metered(s);
    const t = await openTable(m);
    m.reset();
    assert.equal(await t.head(), 3);
    const c = m.counts();
    assert.deepEqual([c.get, c.head, c.list], [1, 0, 0]);
  });

  test("version-hint.text read as merutable reads it: trimmed decimal, garbage is Corrupt", async (s) => {
    const p = new PosixPrimary(s);
    await p.commitMany(2, 1);
    for (const [text, want] of [
      ["2", 2],
      [" 2\n", 2],
      ["+2", 2],
      ["1", 1],
    ] as const) {
      await s.put(VERSION_HINT_KEY, text);
      assert.equal(await (await openTable(s)).head(), want, JSON.stringify(text));
    }
    for (const text of ["", "two", "0", "-1", "2.0", "0x2", "1e1"]) {
      await s.put(VERSION_HINT_KEY, text);
      assert.equal(await codeOf(openTable(s)), "Corrupt", JSON.stringify(text));
    }
  });

  test("posix manifests without version-hint.text are Corrupt, never an empty table", async (s) => {
    const p = new PosixPrimary(s);
    await p.commitMany(2, 1);
    await s.delete(VERSION_HINT_KEY);
    const e = await openTable(s).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(
      String(e?.message),
      /^\[Corrupt\] metadata\/v1\.metadata\.pb exists but version-hint\.text is missing/,
    );
    // Nor is it a table to begin a second history on.
    assert.equal(await codeOf(Catalog.open(s)), "Corrupt");
  });

  test("an empty store is an empty table; object-store manifests no low_water reaches read as empty", async (s) => {
    const t = await openTable(s);
    assert.deepEqual([t.layout, await t.head()], ["empty", 0]);
    assert.deepEqual(await collect(t.snapshots()), []);
    // A mirror that crashed between a manifest and its low_water leaves this; its next tick repairs it.
    await s.put(manifestKey(3), encodeManifest(createManifest({ snapshotId: 3n, previousSnapshotId: 2n })));
    assert.equal(await (await openTable(s)).head(), 0);
  });

  test("a legacy JSON manifest is NotSupported naming the file, and ends the chain", async (s) => {
    const p = new PosixPrimary(s);
    await p.commitMany(3, 1);
    // merutable before its protobuf manifests: v1 only as JSON.
    await s.delete(posixManifestKey(1));
    await s.put(legacyManifestKey(1), '{"snapshot_id":1,"schema":{},"entries":[]}');
    const t = await openTable(s);
    const e = await t.manifest(1).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(
      String(e?.message),
      /^\[NotSupported\] metadata\/v1\.metadata\.json is a legacy JSON manifest/,
    );
    const ends: string[] = [];
    const versions = (
      await collect(t.snapshots(undefined, { onEnd: (x) => ends.push(`${x.reason}@${x.version}`) }))
    ).map((x) => x.version);
    assert.deepEqual([versions, ends], [[3, 2], ["legacy@1"]]);
    // JSON bytes under the .pb name are sniffed as merutable does.
    await s.put(posixManifestKey(2), "{}");
    assert.equal(await codeOf(t.manifest(2)), "NotSupported");
  });

  test("the object-store layout is detected once: later HEADs never ask for version-hint.text", async (s) => {
    const p = await Primary.open(s);
    await p.commitMany(2, 1);
    const m = metered(s);
    const t = await openTable(m);
    assert.equal(t.layout, "object-store");
    m.reset();
    assert.equal(await t.head(), 2);
    const gets = m.counts().get;
    assert.equal(gets, 2, "low_water before and after the probes; no version-hint.text");
  });

  test("a merutable mirror holding snapshot N+1 in vN: the chain reports the anomaly and goes on, verify checks its files", async (s) => {
    // merutable's mirror reads the snapshot id, then the manifest: a commit in between puts
    // snapshot 3 into v2.manifest.bin. Its manifests carry no tidemark link.
    const primary = new PosixPrimary(new MemoryStore());
    await primary.commitMany(3, 1);
    for (const m of await collect(primary.store.list("data/"))) {
      await s.put(m.key, await (await primary.store.get(m.key)).bytes());
    }
    const pb = async (v: number) => (await primary.store.get(posixManifestKey(v))).bytes();
    await s.put(manifestKey(1), await pb(1));
    await s.put(manifestKey(2), await pb(3));
    await s.put(manifestKey(3), await pb(3));
    await s.put(LOW_WATER_KEY, "3");
    const snaps = await collect(openMirror(s).snapshots(3));
    assert.deepEqual(
      snaps.map((x) => x.version),
      [3, 2, 1],
    );
    assert.match(String(snaps[1]?.anomaly), /metadata\/v2\.manifest\.bin holds snapshot 3, not 2/);
    assert.equal(snaps[0]?.anomaly, undefined);
    const v = await verifyMirror(s, 2);
    assert.equal(v.ok, true, "its files are all there");
    assert.match(String(v.anomaly), /holds snapshot 3/);
    assert.equal((await verifyMirror(s, 3)).anomaly, undefined);
  });

  test("a Catalog reads a posix table and refuses to write it (merutable's engine is its writer)", async (s) => {
    const p = new PosixPrimary(s);
    await p.commitMany(2, 1);
    const c = await Catalog.open(s);
    assert.equal(c.layout, "posix");
    assert.equal(await c.head(), 2);
    assert.deepEqual(
      (await collect(c.snapshots())).map((x) => x.version),
      [2, 1],
    );
    assert.equal(
      await codeOf(c.commit({ add: [{ path: "data/x", fileSize: 1, numRows: 1 }] })),
      "NotSupported",
    );
    assert.equal(await codeOf(c.expire({ keepLast: 1 })), "NotSupported");
    assert.equal(await codeOf(s.head(manifestKey(3))), "NotFound", "nothing written");
    assert.equal(await codeOf(s.head(posixManifestKey(3))), "NotFound", "nothing written");
  });
}
