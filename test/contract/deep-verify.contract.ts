/**
 * Deep verification from the mirror alone, on every store kind: an intact
 * mirror passes with its source deleted; every tamper (a flipped byte in the
 * middle of a file of the same size, a truncated file, another table's file
 * of the same name and size, a deleted file, a manifest with a flipped
 * byte, a deletion vector pointing past its file) is named and none
 * passes; a mirror without checksum records says so per file, and adoption
 * (with the source to prove the files) records them; a restore from a
 * damaged mirror fails on the damaged file before anything is published.
 */
import assert from "node:assert/strict";
import { VERSION_HINT_KEY } from "../../src/catalog/posix.ts";
import { CHECKSUMS_PREFIX } from "../../src/mirror/checksums.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { verifyMirror } from "../../src/mirror/reader.ts";
import type { DeepProblem, DeepProblemKind } from "../../src/mirror/verify.ts";
import { restore } from "../../src/restore/restore.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { codeOf, collect, type Harness } from "../support/harness.ts";
import { TAMPER_FILES, writeTamperTable } from "../support/tamper-fixture.ts";

/** Stores of one kind: the source, the mirror, and more empty ones on demand. */
export interface DeepVerifyStores {
  source: ObjectStore;
  target: ObjectStore;
  another(): ObjectStore;
}

export interface DeepVerifyContractOptions {
  timeoutMs?: number;
}

const UUID = "00000000-0000-4000-8000-0000000000d1";

/** The bytes of `key`, changed by `change`, written back (an overwrite, as a tamperer would). */
async function rewrite(
  store: ObjectStore,
  key: string,
  change: (b: Uint8Array) => Uint8Array,
): Promise<void> {
  const bytes = await (await store.get(key)).bytes();
  await store.put(key, change(bytes.slice()));
}

function flipMiddle(b: Uint8Array): Uint8Array {
  const i = b.length >> 1;
  b[i] = (b[i] as number) ^ 0xff;
  return b;
}

/** The kinds of problem named for `key`. */
const kindsOf = (problems: DeepProblem[], key: string): DeepProblemKind[] =>
  [...new Set(problems.filter((p) => p.key === key).map((p) => p.kind))].sort();

export function deepVerifyContract(
  h: Harness,
  make: () => DeepVerifyStores | Promise<DeepVerifyStores>,
  opts: DeepVerifyContractOptions = {},
): void {
  const test = (name: string, fn: (s: DeepVerifyStores) => Promise<void>) =>
    h.test(name, async () => fn(await make()), { timeoutMs: opts.timeoutMs ?? 60_000 });

  /** A three-version table on the source, mirrored to the target. */
  const mirrored = async ({ source, target }: DeepVerifyStores): Promise<void> => {
    await writeTamperTable(source, { seed: 1, uuid: UUID });
    const m = new Mirror({ source, target });
    assert.equal(await m.tick(), 3, JSON.stringify(m.status().lastError));
  };

  test("an intact mirror passes deep verification with its source deleted: every version, every file read and hashed", async (s) => {
    await mirrored(s);
    const sourceKeys = (await collect(s.source.list(""))).map((m) => m.key);
    await s.source.deleteMany(sourceKeys);
    assert.deepEqual(await collect(s.source.list("")), [], "the source is gone");
    const all = await verifyMirror(s.target, { deep: true, all: true });
    assert.deepEqual(all.problems, []);
    assert.deepEqual([all.status, all.versions, all.files, all.unrecorded], ["ok", [1, 2, 3], 6, []]);
    const head = await verifyMirror(s.target, { deep: true });
    assert.deepEqual([head.status, head.versions, head.files], ["ok", [3], 6]);
    const v1 = await verifyMirror(s.target, { deep: true, version: 1 });
    assert.deepEqual([v1.status, v1.versions, v1.files], ["ok", [1], 1]);
  });

  test("every tamper is named and none passes: a flipped byte, a truncated file, another table's file of the same name and size, a deleted file, a flipped manifest byte, a deletion vector past its file", async (s) => {
    await mirrored(s);
    const other = s.another();
    await writeTamperTable(other, { seed: 2, uuid: "00000000-0000-4000-8000-0000000000d2" });
    const { target } = s;
    const theirs = await (await other.get(TAMPER_FILES.a)).bytes();
    const ours = await (await target.get(TAMPER_FILES.a)).bytes();
    assert.equal(theirs.length, ours.length, "another table's file of the same size");
    assert.notDeepEqual(theirs, ours);
    // Each file tampered one way.
    await rewrite(target, TAMPER_FILES.c, flipMiddle);
    await rewrite(target, TAMPER_FILES.b, (b) => b.subarray(0, b.length - 100));
    await target.put(TAMPER_FILES.a, theirs);
    await target.delete(TAMPER_FILES.d);
    await rewrite(target, "metadata/v1.manifest.bin", flipMiddle);
    // Another table's v2 (it decodes): v3 was built on another one.
    await target.put("metadata/v2.manifest.bin", await (await other.get("metadata/v2.manifest.bin")).bytes());
    await rewrite(target, TAMPER_FILES.dv, (b) => b.subarray(0, 12));
    const r = await verifyMirror(target, { deep: true, all: true });
    assert.equal(r.status, "damaged");
    const shown = JSON.stringify(r.problems, null, 1);
    assert.deepEqual(kindsOf(r.problems, TAMPER_FILES.c), ["checksum"], shown);
    assert.ok(kindsOf(r.problems, TAMPER_FILES.b).includes("size"), shown);
    assert.ok(kindsOf(r.problems, TAMPER_FILES.b).includes("checksum"), shown);
    assert.ok(kindsOf(r.problems, TAMPER_FILES.a).includes("checksum"), shown);
    assert.deepEqual(kindsOf(r.problems, TAMPER_FILES.d), ["missing"], shown);
    assert.ok(kindsOf(r.problems, "metadata/v1.manifest.bin").includes("checksum"), shown);
    assert.deepEqual(kindsOf(r.problems, "metadata/v2.manifest.bin"), ["checksum"], shown);
    assert.deepEqual(kindsOf(r.problems, "metadata/v3.manifest.bin"), ["chain"], shown);
    assert.ok(kindsOf(r.problems, TAMPER_FILES.dv).includes("checksum"), shown);
    assert.deepEqual(kindsOf(r.problems, TAMPER_FILES.e), ["deletion-vector"], shown);
    // Each names what is wrong.
    const detail = (key: string, kind: DeepProblemKind) =>
      r.problems.find((p) => p.key === key && p.kind === kind)?.detail ?? "";
    assert.match(detail(TAMPER_FILES.c, "checksum"), /the mirror recorded [0-9a-f]{64}/);
    assert.match(detail(TAMPER_FILES.b, "size"), /bytes, the manifest says \d+ bytes/);
    assert.match(detail(TAMPER_FILES.e, "deletion-vector"), /outside data\/L0\/e\.dv-3\.puffin/);
    // HEAD alone (v3) names every file it holds that was tampered.
    const head = await verifyMirror(target, { deep: true });
    assert.equal(head.status, "damaged");
    for (const key of [TAMPER_FILES.a, TAMPER_FILES.b, TAMPER_FILES.c, TAMPER_FILES.d, TAMPER_FILES.e]) {
      assert.ok(kindsOf(head.problems, key).length > 0, `${key}: ${JSON.stringify(head.problems)}`);
    }
  });

  test("a mirror without checksum records says so per file, passes nothing, and adoption with the source records them", async (s) => {
    await mirrored(s);
    const records = (await collect(s.target.list(CHECKSUMS_PREFIX))).map((m) => m.key);
    assert.deepEqual(records.length, 3);
    await s.target.deleteMany(records);
    const before = await verifyMirror(s.target, { deep: true, all: true });
    assert.equal(before.status, "unchecked");
    assert.deepEqual(before.problems, []);
    assert.deepEqual(before.unrecorded, [
      TAMPER_FILES.a,
      TAMPER_FILES.b,
      TAMPER_FILES.c,
      TAMPER_FILES.d,
      TAMPER_FILES.dv,
      TAMPER_FILES.e,
      "metadata/v1.manifest.bin",
      "metadata/v2.manifest.bin",
      "metadata/v3.manifest.bin",
    ]);
    const adopted = await verifyMirror(s.target, { deep: true, all: true, adopt: { source: s.source } });
    assert.equal(adopted.status, "ok", JSON.stringify(adopted.problems));
    assert.equal(adopted.adopted.length, 9);
    const after = await verifyMirror(s.target, { deep: true, all: true });
    assert.deepEqual([after.status, after.unrecorded], ["ok", []]);
    // A file another table wrote there is not adopted: not the source's bytes.
    await s.target.deleteMany((await collect(s.target.list(CHECKSUMS_PREFIX))).map((m) => m.key));
    const other = s.another();
    await writeTamperTable(other, { seed: 3, uuid: UUID });
    await s.target.put(TAMPER_FILES.c, await (await other.get(TAMPER_FILES.c)).bytes());
    const refused = await verifyMirror(s.target, { deep: true, adopt: { source: s.source } });
    assert.equal(refused.status, "damaged");
    assert.match(
      refused.problems.find((p) => p.key === TAMPER_FILES.c)?.detail ?? "",
      /not adopted: .*other bytes/,
    );
  });

  test("a restore from a damaged mirror fails on the damaged file before anything is published", async (s) => {
    await mirrored(s);
    await rewrite(s.target, TAMPER_FILES.c, flipMiddle);
    const to = s.another();
    const e = await restore({ from: s.target, to }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(
      String(e?.message),
      /^\[Corrupt\] source file data\/L0\/c\.parquet .* its recorded checksum is/,
    );
    assert.equal(await codeOf(to.head(VERSION_HINT_KEY)), "NotFound", "nothing published");
    // A damaged manifest is refused before anything is written.
    const fresh = s.another();
    await rewrite(s.target, "metadata/v3.manifest.bin", flipMiddle);
    const m = await restore({ from: s.target, to: fresh }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    assert.match(String(m?.message), /^\[Corrupt\]/);
    assert.deepEqual(await collect(fresh.list("")), [], "nothing written");
  });
}
