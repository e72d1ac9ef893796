/**
 * The history suite: two histories never meet on a mirror. A posix primary
 * (merutable's) can be rolled back (a file-system snapshot or a backup
 * restored, a hint rename lost in a crash) and then reuse the version
 * numbers a mirror already copied; its copy can lag behind its hint; a
 * manifest can name the table's own control files; a source can vanish
 * (an unmounted volume). Run on every store kind: memory, a directory, S3
 * (Ceph RGW), R2 inside workerd, and under Deno.
 */
import assert from "node:assert/strict";
import { openTable } from "../../src/catalog/table.ts";
import { isTidemarkError, type TidemarkError } from "../../src/errors.ts";
import { encodeManifest } from "../../src/manifest/codec.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { restore } from "../../src/restore/restore.ts";
import { metered } from "../../src/store/metered.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { codeOf, type Harness } from "../support/harness.ts";
import { contents, fileBytes } from "../support/mirror-fixture.ts";
import { nextPosixManifest, PosixPrimary } from "../support/posix-fixture.ts";

/** A source and a target of one kind, and fresh stores of that kind on demand. */
export interface HistoryPair {
  source: ObjectStore;
  target: ObjectStore;
  another(): ObjectStore;
}

export interface HistoryContractOptions {
  skip?: Record<string, string>;
  timeoutMs?: number;
}

const posixKey = (v: number) => `metadata/v${v}.metadata.pb`;
const mirrorKey = (v: number) => `metadata/v${v}.manifest.bin`;
const bytesOf = async (s: ObjectStore, k: string) => (await s.get(k)).bytes();

/** A mirror whose failures are collected. */
function watchedMirror(source: ObjectStore, target: ObjectStore): { m: Mirror; errors: TidemarkError[] } {
  const errors: TidemarkError[] = [];
  return { m: new Mirror({ source, target, onError: (e) => errors.push(e) }), errors };
}

export function historyContract(
  h: Harness,
  makePair: () => HistoryPair | Promise<HistoryPair>,
  opts: HistoryContractOptions = {},
): void {
  const test = (name: string, fn: (p: HistoryPair) => Promise<void>) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makePair()), { timeoutMs: opts.timeoutMs ?? 60_000 });
  };

  test("a posix primary rolled back under a live mirror: its next version is SplitBrain naming both, never stacked on what was copied", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(3, 1);
    const { m, errors } = watchedMirror(source, target);
    assert.equal(await m.tick(), 3);
    const copied = await contents(target);
    // A snapshot taken at v2 is restored; merutable commits v3 and v4 again, with other bytes.
    await primary.rollbackTo(2);
    await primary.commitMany(2, 1, "again");
    assert.notDeepEqual(await bytesOf(source, posixKey(3)), copied.get(mirrorKey(3)));
    await m.tick();
    assert.equal(errors.at(-1)?.code, "SplitBrain", String(errors.at(-1)));
    assert.match(
      String(errors.at(-1)?.message),
      /the source's v4 does not follow on from the v3 this mirror copied/,
    );
    // The target keeps exactly the history it copied: nothing of the new one.
    assert.deepEqual(await contents(target), copied);
    assert.equal(m.mirrorSeq, 3);
    assert.equal(m.status().caughtUp, false);
    assert.equal(await codeOf(m.awaitMirror(4, { timeoutMs: 1_000 })), "SplitBrain");
    // Every later tick says so again; so does a restarted mirror.
    await m.tick();
    assert.equal(errors.at(-1)?.code, "SplitBrain");
    const restarted = watchedMirror(source, target);
    await restarted.m.tick();
    assert.equal(restarted.errors[0]?.code, "SplitBrain");
    assert.deepEqual(await contents(target), copied);
    await m.shutdown();
  });

  test("a posix hint that goes back below what the mirror copied is SplitBrain at once; a fresh target takes the new history", async ({
    source,
    target,
    another,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(3, 1);
    const { m, errors } = watchedMirror(source, target);
    assert.equal(await m.tick(), 3);
    await primary.rollbackTo(1);
    await m.tick();
    assert.equal(errors.at(-1)?.code, "SplitBrain", String(errors.at(-1)));
    assert.match(String(errors.at(-1)?.message), /HEAD went back to v1, below v3/);
    assert.equal(m.status().caughtUp, false, "a rolled-back source is never caught up");
    // The documented recovery: mirror the source into a fresh target.
    await primary.commitMany(3, 1, "new");
    const fresh = another();
    const f = watchedMirror(source, fresh);
    assert.equal(await f.m.tick(), 4);
    assert.deepEqual(f.errors, []);
    for (const v of [1, 2, 3, 4]) {
      assert.deepEqual(await bytesOf(fresh, mirrorKey(v)), await bytesOf(source, posixKey(v)), `v${v}`);
    }
    await m.shutdown();
  });

  test("a posix hint that goes back to a version the mirror skipped as a gap, not below what it copied, mirrors that version as HEAD", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commit([{ path: "data/L0/a.parquet", size: 7 }]);
    await primary.commit([{ path: "data/L0/b.parquet", size: 9 }]);
    await primary.commit(
      [{ path: "data/L1/c.parquet", size: 16 }],
      ["data/L0/a.parquet", "data/L0/b.parquet"],
    );
    await primary.gc(["data/L0/a.parquet", "data/L0/b.parquet"]);
    // v3's file is not there yet: v1 and v2 become files-gone gaps, v3 fails (retried).
    await source.delete("data/L1/c.parquet");
    const { m, errors } = watchedMirror(source, target);
    await m.tick();
    assert.deepEqual([m.mirrorSeq, m.status().gaps], [0, [{ from: 1, to: 2, reason: "files-gone" }]]);
    assert.equal(errors.at(-1)?.code, "NotFound");
    // A snapshot taken at v2 is restored: v3 is gone, a and b are back, v2 is HEAD.
    await primary.rollbackTo(2);
    await source.put("data/L0/a.parquet", fileBytes("data/L0/a.parquet", 7));
    await source.put("data/L0/b.parquet", fileBytes("data/L0/b.parquet", 9));
    await m.tick();
    assert.deepEqual(
      [m.mirrorSeq, m.status().gaps, m.status().caughtUp],
      [2, [{ from: 1, to: 1, reason: "files-gone" }], true],
      String(errors.at(-1)),
    );
    assert.deepEqual(await bytesOf(target, mirrorKey(2)), await bytesOf(source, posixKey(2)));
    assert.deepEqual(await bytesOf(target, "data/L0/b.parquet"), fileBytes("data/L0/b.parquet", 9));
  });

  test("a posix manifest below HEAD that is late fails the tick (retried), never an expired gap", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(4, 1);
    // A copy of the primary made out of merutable's order: v2 arrives last.
    const v2 = await bytesOf(source, posixKey(2));
    await source.delete(posixKey(2));
    const { m, errors } = watchedMirror(source, target);
    await m.tick();
    assert.equal(errors[0]?.code, "NotFound", String(errors[0]));
    assert.match(
      String(errors[0]?.message),
      /v2 \(metadata\/v2\.metadata\.pb\) is missing below its HEAD v4: .* late/,
    );
    assert.deepEqual(m.status().gaps, [], "never a gap");
    assert.equal(m.status().caughtUp, false);
    await source.put(posixKey(2), v2);
    await m.tick();
    assert.deepEqual([m.mirrorSeq, m.status().gaps, m.status().caughtUp], [4, [], true]);
    for (const v of [1, 2, 3, 4]) {
      assert.deepEqual(await bytesOf(target, mirrorKey(v)), await bytesOf(source, posixKey(v)), `v${v}`);
    }
  });

  test("a manifest naming the table's version-hint.text or metadata/ is Corrupt: no reader takes it, no mirror copies it, no restore writes it", async ({
    source,
    target,
    another,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(1, 1);
    const first = await contents(source);
    for (const control of ["version-hint.text", "metadata/v9.metadata.pb", "metadata/low_water.txt"]) {
      // A "data file" whose path is a control file, as a manifest could carry it (the encoder refuses
      // to write one, so the path is put into the bytes), with the size of what is there.
      const size = control === "version-hint.text" ? 1 : 5;
      const safe = `data/${"x".repeat(control.length - 5)}`;
      const base = await (await openTable(source)).manifest(1);
      const next = nextPosixManifest(base, [{ path: safe, size }], [], primary.uuid, 1_700_000_001_000);
      if (control !== "version-hint.text") await source.put(control, fileBytes(control, size));
      await source.put(posixKey(2), replaceText(encodeManifest(next), safe, control));
      await source.put("version-hint.text", "2");
      const reader = await openTable(source);
      const e = await reader.manifest(2).then(
        () => undefined,
        (x: unknown) => x as TidemarkError,
      );
      assert.equal(e?.code, "Corrupt", `${control}: ${String(e)}`);
      assert.match(String(e?.message), /names the table's/);
      const t = another();
      const { m: mirror, errors } = watchedMirror(source, t);
      await mirror.tick();
      assert.equal(mirror.mirrorSeq, 0, `${control}: v1 waits for v2 to confirm it, and v2 does not decode`);
      assert.equal(errors[0]?.code, "Corrupt", `${control}: ${String(errors[0])}`);
      assert.equal(await codeOf(t.head("version-hint.text")), "NotFound", `${control}: never copied`);
      assert.equal(await codeOf(t.head(mirrorKey(2))), "NotFound");
      const restored = metered(another());
      assert.equal(await codeOf(restore({ from: source, to: restored })), "Corrupt", control);
      assert.equal(restored.counts().put, 0, `${control}: nothing restored`);
      // Back to the good table for the next control file.
      for (const k of [...(await contents(source)).keys()]) if (!first.has(k)) await source.delete(k);
      await source.put("version-hint.text", "1");
    }
    assert.equal(await (await openTable(target)).head(), 0);
  });

  test("a source table that vanishes under a live mirror (an unmounted volume) is NotFound, never caught up", async ({
    source,
    target,
  }) => {
    const primary = new PosixPrimary(source);
    await primary.commitMany(2, 1);
    const { m, errors } = watchedMirror(source, target);
    assert.equal(await m.tick(), 2);
    assert.equal(m.status().caughtUp, true);
    for (const k of (await contents(source)).keys()) await source.delete(k);
    await m.tick();
    assert.equal(errors.at(-1)?.code, "NotFound", String(errors.at(-1)));
    assert.match(String(errors.at(-1)?.message), /held a table at v2 and holds none now/);
    assert.equal(m.status().caughtUp, false);
    assert.ok(!isTidemarkError(errors.at(-1), "SplitBrain"), "retried, not fatal: the volume may come back");
  });
}

/** `bytes` with the UTF-8 of `from` replaced by `to` (same length: the protobuf framing is unchanged). */
function replaceText(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const a = new TextEncoder().encode(from);
  const b = new TextEncoder().encode(to);
  assert.equal(a.length, b.length);
  const out = bytes.slice();
  for (let i = 0; i + a.length <= out.length; i++) {
    if (a.every((x, j) => out[i + j] === x)) {
      out.set(b, i);
      return out;
    }
  }
  throw new Error(`${from} not in the bytes`);
}
