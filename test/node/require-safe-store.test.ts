/**
 * `requireSafeStore`: Catalog, Mirror and CheckpointStore fail closed on a
 * store that ignores If-None-Match (the doctor checks each depends on, run
 * once per store instance), and work on one that passes.
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import {
  Catalog,
  CheckpointStore,
  isTidemarkError,
  MemoryStore,
  Mirror,
  metered,
  type TidemarkError,
} from "../../src/index.ts";
import { ignoringCreateOnly } from "../support/broken-stores.ts";
import { codeOf, collect } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";

const notSafe = (e: unknown) =>
  isTidemarkError(e, "NotSupported") && /create-only/.test((e as Error).message);

describe("requireSafeStore", () => {
  it("a Catalog refuses a store that ignores If-None-Match before its first write, and writes nothing", async () => {
    const inner = new MemoryStore();
    const broken = ignoringCreateOnly(inner);
    const c = await Catalog.open(broken, { requireSafeStore: true });
    await assert.rejects(c.commit({ add: [{ path: "data/a", fileSize: 1, numRows: 1 }] }), notSafe);
    await assert.rejects(c.expire({ keepLast: 1 }), notSafe);
    assert.deepEqual(await collect(inner.list("metadata/")), [], "no manifest");
    assert.deepEqual(await collect(inner.list("_tidemark-doctor/")), [], "the probe cleaned up");
  });

  it("a Catalog on a safe store probes once, then commits as usual", async () => {
    const store = metered(new MemoryStore());
    const c = await Catalog.open(store, { requireSafeStore: true });
    assert.equal(await c.commit({ add: [{ path: "data/a", fileSize: 1, numRows: 1 }] }), 1);
    const afterFirst = store.counts().put;
    assert.equal(await c.commit({ add: [{ path: "data/b", fileSize: 1, numRows: 1 }] }), 2);
    assert.equal(store.counts().put - afterFirst, 1, "the second commit does not probe again");
  });

  it("a Mirror refuses such a target: every tick fails NotSupported naming the check, awaitMirror rejects, nothing mirrored", async () => {
    const source = new MemoryStore();
    const primary = await Primary.open(source);
    await primary.commit([{ path: "data/a.parquet", size: 5 }]);
    const target = new MemoryStore();
    const errors: TidemarkError[] = [];
    const m = new Mirror({
      source,
      target: ignoringCreateOnly(target),
      requireSafeStore: true,
      onError: (e) => errors.push(e),
    });
    const waiting = m.awaitMirror(1);
    await m.tick();
    await assert.rejects(waiting, notSafe);
    await m.tick();
    assert.equal(errors.length, 2);
    assert.ok(errors.every(notSafe));
    assert.equal(m.status().caughtUp, false);
    assert.deepEqual(await collect(target.list("metadata/")), []);
    assert.equal(await codeOf(target.head("data/a.parquet")), "NotFound");
    // A safe target mirrors.
    const good = new Mirror({ source, target: new MemoryStore(), requireSafeStore: true });
    assert.equal(await good.tick(), 1);
  });

  it("a CheckpointStore refuses such a store on its first write", async () => {
    const inner = new MemoryStore();
    const cp = new CheckpointStore(ignoringCreateOnly(inner), {
      instanceId: "a",
      vnodeCapacity: 4,
      requireSafeStore: true,
    });
    await assert.rejects(cp.writePartial(0, 1, 1, new Uint8Array([1])), notSafe);
    await assert.rejects(cp.sealEpoch(1, [0]), notSafe);
    assert.deepEqual(
      (await collect(inner.list(""))).map((m) => m.key),
      [],
    );
    const ok = new CheckpointStore(new MemoryStore(), {
      instanceId: "a",
      vnodeCapacity: 4,
      requireSafeStore: true,
    });
    await ok.writePartial(0, 1, 1, new Uint8Array([1]));
    assert.equal(await ok.sealEpoch(1, [0]), true);
  });
});
