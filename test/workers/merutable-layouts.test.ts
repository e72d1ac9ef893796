/**
 * merutable's two layouts on R2 inside workerd: the table reader suite, the
 * restore suite and the history suite on R2Store, and a copy of a merutable
 * primary in the SOURCE bucket mirrored into MIRROR and restored from there.
 */
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { manifestKey } from "../../src/catalog/layout.ts";
import { posixManifestKey } from "../../src/catalog/posix.ts";
import { Mirror, openTable, R2Store, restore } from "../../src/index.ts";
import { historyContract } from "../contract/history.contract.ts";
import { restoreContract } from "../contract/restore.contract.ts";
import { tableContract } from "../contract/table.contract.ts";
import { type Harness, uniquePrefix } from "../support/harness.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const r2 = (bucket: "SOURCE" | "MIRROR") => () =>
  new R2Store(env[bucket], { prefix: uniquePrefix("tables") });

describe("table reader on R2Store (workerd, local R2)", () => {
  tableContract(vitestHarness, r2("MIRROR"));
});

describe("restore on R2Store (workerd, local R2)", () => {
  restoreContract(vitestHarness, () => ({
    source: r2("SOURCE")(),
    target: r2("MIRROR")(),
    another: r2("MIRROR"),
  }));
});

describe("history on R2Store (workerd, local R2)", () => {
  historyContract(vitestHarness, () => ({
    source: r2("SOURCE")(),
    target: r2("MIRROR")(),
    another: r2("MIRROR"),
  }));
});

describe("a merutable primary copied to R2 (workerd, local R2)", () => {
  it("is mirrored from SOURCE to MIRROR byte for byte and restored from there as merutable's layout", async () => {
    const source = r2("SOURCE")();
    const primary = new PosixPrimary(source);
    await primary.commitMany(3, 2);
    const mirror = r2("MIRROR")();
    const m = new Mirror({ source, target: mirror });
    assert.equal(await m.tick(), 3);
    for (const v of [1, 2, 3]) {
      assert.deepEqual(
        await (await mirror.get(manifestKey(v))).bytes(),
        await (await source.get(posixManifestKey(v))).bytes(),
      );
    }
    const restored = r2("MIRROR")();
    const r = await restore({ from: mirror, to: restored });
    assert.deepEqual(r.versions, [1, 2, 3]);
    const t = await openTable(restored);
    assert.deepEqual([t.layout, await t.head()], ["posix", 3]);
    assert.equal(await (await restored.get("version-hint.text")).text(), "3");
  });
});
