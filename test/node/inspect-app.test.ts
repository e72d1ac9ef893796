/**
 * inspectApp's object route wherever the app is mounted: the key is what the
 * route's own wildcard matched, never found by searching the URL for
 * "/objects/" (a mount path or a table named "objects" contains it too).
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { describe, it } from "vitest";
import { inspectApp } from "../../src/http/index.ts";
import { HttpStore, MemoryStore } from "../../src/index.ts";
import { codeOf } from "../support/harness.ts";

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
