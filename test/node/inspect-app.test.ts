/**
 * inspectApp's object route wherever the app is mounted: the key is what the
 * route's own wildcard matched, never found by searching the URL for
 * "/objects/" (a mount path or a table named "objects" contains it too).
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { describe, it } from "vitest";
import { LOW_WATER_KEY, manifestKey } from "../../src/catalog/layout.ts";
import { posixManifestKey } from "../../src/catalog/posix.ts";
import { HttpStore, MemoryStore, TidemarkError } from "../../src/index.ts";
import { inspectApp } from "../../src/server/index.ts";
import { codeOf } from "../support/harness.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

const ODD = "ünï/日本語 a+b%25=~*'()!#?.txt";

async function seeded(): Promise<MemoryStore> {
  const s = new MemoryStore();
  await s.put("data/a.bin", "right");
  // What searching the URL for the first "/objects/" would serve instead.
  await s.put("x/objects/data/a.bin", "wrong");
  await s.put("objects/data/a.bin", "wrong too");
  await s.put(ODD, "odd");
  return s;
}

/** An HttpStore whose requests go to `app` (the hono app itself, no network). */
function storeOn(app: Hono, base: string): HttpStore {
  return new HttpStore(base, {
    fetch: (input, init) => Promise.resolve(app.fetch(new Request(input, init))),
  });
}

describe("inspectApp object route", () => {
  it("mounted under a path containing /objects/, it serves the key below its own route", async () => {
    const store = await seeded();
    const app = new Hono();
    app.route("/t/objects/x", inspectApp({ store }));
    const r = await app.request("/t/objects/x/objects/data/a.bin");
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "right");
    const h = await app.request("/t/objects/x/objects/data/a.bin", { method: "HEAD" });
    assert.equal(h.headers.get("content-length"), "5");
    const http = storeOn(app, "http://app.test/t/objects/x/objects");
    assert.equal(await (await http.get("data/a.bin")).text(), "right");
    assert.equal(await (await http.get(ODD)).text(), "odd", "per-segment encoding round-trips");
    assert.equal(await codeOf(http.get("x/objects/missing")), "NotFound");
  });

  it("mounted under a parameter whose value is objects, it serves the key below its own route", async () => {
    const store = await seeded();
    const app = new Hono();
    app.route("/:table", inspectApp({ store }));
    const r = await app.request("/objects/objects/data/a.bin");
    assert.equal(await r.text(), "right");
    const http = storeOn(app, "http://app.test/objects/objects");
    assert.equal(await (await http.get(ODD)).text(), "odd");
  });

  it("mounted at the root, it serves keys as before; malformed escapes are 400", async () => {
    const app = inspectApp({ store: await seeded() });
    assert.equal(await (await app.request("/objects/data/a.bin")).text(), "right");
    assert.equal(await (await app.request("/objects/objects/data/a.bin")).text(), "wrong too");
    const bad = await app.request("/objects/data/%E0%A4");
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, "InvalidArgument");
    assert.equal((await app.request("/objects/")).status, 404);
  });
});

describe("inspectApp reads both of merutable's layouts", () => {
  it("on a merutable primary, /status names the posix layout and HEAD; /snapshots, /snapshots/:v and /verify/:v read it", async () => {
    const store = new MemoryStore();
    await new PosixPrimary(store).commitMany(3, 1);
    const app = inspectApp({ store });
    const status = (await (await app.request("/status")).json()) as { head: number; layout: string };
    assert.deepEqual([status.head, status.layout], [3, "posix"]);
    const snaps = (await (await app.request("/snapshots")).json()) as {
      snapshots: Array<{ version: number }>;
    };
    assert.deepEqual(
      snaps.snapshots.map((s) => s.version),
      [3, 2, 1],
    );
    const one = (await (await app.request("/snapshots/2")).json()) as { summary: { snapshotId: number } };
    assert.equal(one.summary.snapshotId, 2);
    const verify = (await (await app.request("/verify/3")).json()) as { ok: boolean };
    assert.equal(verify.ok, true);
  });

  it("a merutable mirror holding snapshot N+1 in vN: /snapshots reports the anomaly and goes on", async () => {
    const primary = new MemoryStore();
    await new PosixPrimary(primary).commitMany(3, 1);
    const store = new MemoryStore();
    for (const k of ["data/L0/f-1-0.parquet", "data/L0/f-2-0.parquet", "data/L0/f-3-0.parquet"]) {
      await store.put(k, await (await primary.get(k)).bytes());
    }
    const pb = async (v: number) => (await primary.get(posixManifestKey(v))).bytes();
    await store.put(manifestKey(1), await pb(1));
    await store.put(manifestKey(2), await pb(3));
    await store.put(manifestKey(3), await pb(3));
    await store.put(LOW_WATER_KEY, "3");
    const app = inspectApp({ store });
    const snaps = (await (await app.request("/snapshots")).json()) as {
      snapshots: Array<{ version: number; anomaly?: string }>;
    };
    assert.deepEqual(
      snaps.snapshots.map((s) => [s.version, s.anomaly !== undefined]),
      [
        [3, false],
        [2, true],
        [1, false],
      ],
    );
    const two = (await (await app.request("/snapshots/2")).json()) as { summary: { anomaly?: string } };
    assert.match(String(two.summary.anomaly), /holds snapshot 3, not 2/);
  });
});

describe("inspectApp auth", () => {
  it("runs before each of its routes, whatever the mounting app's order; a refusal is the JSON error exit's", async () => {
    const store = await seeded();
    await new PosixPrimary(store).commitMany(1, 1);
    const app = new Hono();
    app.route(
      "/:table",
      inspectApp({
        store,
        auth: async (c, next) => {
          if (c.req.header("Authorization") !== "Bearer ok") {
            throw new TidemarkError("Unauthenticated", "needs a token");
          }
          if (c.req.param("table") !== "t") throw new TidemarkError("PermissionDenied", "not this table");
          await next();
        },
      }),
    );
    // A route of the mounting app added after it, under the same path: not guarded by inspectApp's auth.
    app.post("/:table/kick", (c) => c.json({ kicked: c.req.param("table") }));
    const ok = { headers: { Authorization: "Bearer ok" } };
    for (const path of [
      "/t/status",
      "/t/snapshots",
      "/t/snapshots/1",
      "/t/verify/1",
      "/t/objects/data/a.bin",
    ]) {
      const refused = await app.request(path);
      assert.equal(refused.status, 401, path);
      assert.match(refused.headers.get("WWW-Authenticate") ?? "", /^Bearer/);
      assert.deepEqual(await refused.json(), { error: "Unauthenticated", message: "needs a token" });
      const other = await app.request(path.replace("/t/", "/u/"), ok);
      assert.equal(other.status, 403, path);
      assert.equal(((await other.json()) as { error: string }).error, "PermissionDenied");
    }
    const obj = await app.request("/t/objects/data/a.bin", ok);
    assert.equal(await obj.text(), "right", "the key is still the route's own wildcard");
    assert.equal((await app.request("/t/status", ok)).status, 200);
    assert.deepEqual(await (await app.request("/t/kick", { method: "POST" })).json(), { kicked: "t" });
  });
});
