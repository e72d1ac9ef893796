import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { LOW_WATER_KEY, manifestKey } from "../../src/catalog/layout.ts";
import {
  Catalog,
  createManifest,
  discoverHead,
  encodeManifest,
  MemoryStore,
  metered,
  type ObjectStore,
  prefixed,
  retrying,
} from "../../src/index.ts";
import { ManifestSchema } from "../../src/manifest/gen/manifest_pb.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { catalogContract } from "../contract/catalog.contract.ts";
import { codeOf, type Harness, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe("catalog contract: MemoryStore", () => {
  catalogContract(vitestHarness, () => new MemoryStore());
});

describe("catalog contract: prefixed(retrying(MemoryStore))", () => {
  catalogContract(vitestHarness, () => prefixed(retrying(new MemoryStore()), "tables/t1"));
});

const rgw = rgwConfig((k) => process.env[k]);
describe.skipIf(!rgw)("catalog contract: S3Store on Ceph RGW", () => {
  if (!rgw) return;
  catalogContract(vitestHarness, () => new S3Store({ ...rgw, prefix: uniquePrefix("catalog") }), {
    slowTimeoutMs: 300_000,
  });
});

describe("catalog (memory only)", () => {
  it("discovery restarts when an expire advances low_water and deletes the start version under it", async () => {
    const s = new MemoryStore();
    for (let v = 1; v <= 10; v++) await s.put(manifestKey(v), "m");
    await s.put(LOW_WATER_KEY, "1");
    // The reader reads low_water = 1; before it probes v1, an expire moves low_water to 6 and deletes v1..v5.
    let raced = false;
    const racing: ObjectStore = {
      ...s,
      name: s.name,
      get: async (k, o) => {
        const r = await s.get(k, o);
        if (k === LOW_WATER_KEY && !raced) {
          raced = true;
          await s.put(LOW_WATER_KEY, "6");
          for (let v = 1; v <= 5; v++) await s.delete(manifestKey(v));
        }
        return r;
      },
      head: (k) => s.head(k),
      put: (k, b, o) => s.put(k, b, o),
      delete: (k) => s.delete(k),
      deleteMany: (ks) => s.deleteMany(ks),
      list: (p, o) => s.list(p, o),
    };
    const d = await discoverHead(racing);
    expect(raced).toBe(true);
    expect([d.version, d.lowWater]).toEqual([10, 6]);
  });

  it("a cached head that was expired meanwhile falls back to low_water", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s);
    const other = await Catalog.open(s);
    await c.commit({ add: [{ path: "data/0", fileSize: 1, numRows: 1 }] });
    for (let i = 1; i <= 6; i++)
      await other.commit({ add: [{ path: `data/${i}`, fileSize: 1, numRows: 1 }] });
    await other.expire({ keepLast: 2 }); // v1 (c's cached head) is gone
    expect(await c.head()).toBe(7);
  });

  it("fields unknown to this version of tidemark survive a commit on top", async () => {
    const s = new MemoryStore();
    const base = createManifest({
      snapshotId: 1n,
      tableUuid: "u",
      dataFiles: [{ path: "data/a", fileSize: 1n, status: 1 }],
    });
    const payload = new BinaryWriter()
      .raw(toBinary(ManifestSchema, base))
      .tag(30, WireType.LengthDelimited)
      .string("from-a-newer-writer")
      .finish();
    const framed = new Uint8Array(9 + payload.length);
    framed.set(encodeManifest(createManifest()).subarray(0, 5));
    new DataView(framed.buffer).setUint32(5, payload.length, true);
    framed.set(payload, 9);
    await s.put(manifestKey(1), framed);
    const c = await Catalog.open(s);
    expect(await c.commit({ add: [{ path: "data/b", fileSize: 1, numRows: 1 }] })).toBe(2);
    const m2 = await c.manifest(2);
    expect(m2.$unknown?.map((u) => u.no)).toEqual([30]);
    expect(m2.tableUuid).toBe("u");
  });

  it("gives up with Transient after maxCommitAttempts lost races", async () => {
    const s = new MemoryStore();
    const c = await Catalog.open(s, { maxCommitAttempts: 3, backoff: { sleep: async () => {} } });
    const rival = await Catalog.open(s);
    // A store that lets the rival commit just before each of our creates.
    const contended: ObjectStore = {
      ...s,
      name: s.name,
      get: (k, o) => s.get(k, o),
      head: (k) => s.head(k),
      put: async (k, b, o) => {
        if (o?.mode === "create")
          await rival.commit({ add: [{ path: `data/r${Math.random()}`, fileSize: 1, numRows: 1 }] });
        return s.put(k, b, o);
      },
      delete: (k) => s.delete(k),
      deleteMany: (ks) => s.deleteMany(ks),
      list: (p, o) => s.list(p, o),
    };
    const loser = await Catalog.open(contended, { maxCommitAttempts: 3, backoff: { sleep: async () => {} } });
    expect(await codeOf(loser.commit({ add: [{ path: "data/mine", fileSize: 1, numRows: 1 }] }))).toBe(
      "Transient",
    );
    expect(await c.head()).toBe(3);
  });

  it("request cost: a commit on a quiet table is 2 heads + 3 gets + 1 put; head() is 2 heads + 1 get", async () => {
    const s = metered(new MemoryStore());
    const c = await Catalog.open(s);
    await c.commit({ add: [{ path: "data/a", fileSize: 1, numRows: 1 }] });
    s.reset();
    await c.commit({ add: [{ path: "data/b", fileSize: 1, numRows: 1 }] });
    const n = s.counts();
    // Gets: low_water after the probes (the cached HEAD is checked against the GC boundary),
    // the base manifest, and low_water after the create (the boundary check of a stalled writer).
    expect([n.head, n.get, n.put, n.list]).toEqual([2, 3, 1, 0]);
    s.reset();
    await c.head();
    expect([s.counts().head, s.counts().get, s.counts().list]).toEqual([2, 1, 0]);
  });
});
