/**
 * Deep verification in slices (`verifyDeepSlice`, what the Worker's drill
 * runs alarm by alarm): slices of any size, resumed from their cursor, check
 * every file of the version once and find exactly what one deep
 * verification of the version finds.
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { verifyDeepSlice } from "../../src/mirror/deep-slice.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { verifyMirror } from "../../src/mirror/reader.ts";
import type { DeepProblem } from "../../src/mirror/verify.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { metered } from "../../src/store/metered.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { codeOf } from "../support/harness.ts";
import { TAMPER_FILES, writeTamperTable } from "../support/tamper-fixture.ts";

async function mirrored(): Promise<{ source: MemoryStore; target: MemoryStore }> {
  const source = new MemoryStore({ name: "source" });
  const target = new MemoryStore({ name: "target" });
  await writeTamperTable(source, { seed: 1, uuid: "00000000-0000-4000-8000-0000000000d2" });
  assert.equal(await new Mirror({ source, target }).tick(), 3);
  return { source, target };
}

/** Every slice of `maxFiles` from the start to the end: the problems, files and slices. */
async function drill(store: ObjectStore, version: number, maxFiles: number, maxBytes?: number) {
  const problems: DeepProblem[] = [];
  let from = 0;
  let files = 0;
  let slices = 0;
  let total = -1;
  while (total < 0 || from < total) {
    const r = await verifyDeepSlice(store, {
      version,
      from,
      maxFiles,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
    });
    assert.ok(r.next > from || r.total === 0, "every slice moves on");
    assert.ok(r.files <= maxFiles);
    problems.push(...r.problems);
    files += r.files;
    slices++;
    ({ next: from, total } = r);
    if (r.total === 0) break;
  }
  return { problems, files, slices, total };
}

const keyKinds = (ps: DeepProblem[]) => ps.map((p) => `${p.key} ${p.kind}`).sort();

describe("verifyDeepSlice", () => {
  it("slices of 1, 2, 4 and 100 files check every file of the version once: an intact mirror has no problem", async () => {
    const { target } = await mirrored();
    for (const n of [1, 2, 4, 100]) {
      const d = await drill(target, 3, n);
      assert.equal(d.total, 6);
      assert.equal(d.files, 6, `${n} a slice`);
      assert.equal(d.slices, Math.ceil(6 / n));
      assert.deepEqual(d.problems, []);
    }
    // maxBytes bounds a slice by the manifest's sizes (one file at least).
    const bytes = await drill(target, 3, 100, 1);
    assert.equal(bytes.slices, 6);
  });

  it("a flipped byte, a truncated file and a deletion vector past its file are found by the slices as by one deep verification", async () => {
    const { target } = await mirrored();
    const a = await (await target.get(TAMPER_FILES.a)).bytes();
    a[a.length >> 1] = (a[a.length >> 1] as number) ^ 0xff;
    await target.put(TAMPER_FILES.a, a);
    const c = await (await target.get(TAMPER_FILES.c)).bytes();
    await target.put(TAMPER_FILES.c, c.subarray(0, c.length - 9));
    const dv = await (await target.get(TAMPER_FILES.dv)).bytes();
    await target.put(TAMPER_FILES.dv, dv.subarray(0, 8));
    const whole = await verifyMirror(target, { deep: true, version: 3 });
    assert.equal(whole.status, "damaged");
    for (const n of [1, 3, 100]) {
      const d = await drill(target, 3, n);
      assert.deepEqual(keyKinds(d.problems), keyKinds(whole.problems), `${n} a slice`);
      for (const f of [TAMPER_FILES.a, TAMPER_FILES.c, TAMPER_FILES.e]) {
        assert.ok(
          d.problems.some((p) => p.key === f),
          `${f} named`,
        );
      }
    }
  });

  it("a slice makes about 3 requests of its own and a few per file; a manifest not there is named as missing", async () => {
    const { target } = await mirrored();
    const counted = metered(target);
    const r = await verifyDeepSlice(counted, { version: 3, from: 2, maxFiles: 2 });
    assert.equal(r.files, 2);
    const { readClass, writeClass } = counted.counts();
    assert.equal(writeClass, 0, "read-only");
    assert.ok(readClass <= 3 + 6 * 2, `${readClass} requests`);
    const gone = await verifyDeepSlice(target, { version: 9, from: 0, maxFiles: 1 });
    assert.deepEqual(
      [gone.total, gone.next, gone.problems.map((p) => `${p.key} ${p.kind}`)],
      [0, 0, ["metadata/v9.manifest.bin missing"]],
    );
    assert.equal(
      await codeOf(verifyDeepSlice(target, { version: 3, from: 0, maxFiles: 0 })),
      "InvalidArgument",
    );
  });
});
