/**
 * The HTTP barrier inside workerd: the demo commit route returns the version
 * it committed; `POST /api/tables/:table/await?version=N&timeoutMs=T` answers
 * 200 `{ mirrorSeq }` once the mirror holds N (the Durable Object's alarms run
 * on their own: nothing drives them here), after which the object route
 * serves that snapshot (read-your-writes); 408 at the timeout.
 */
import { createExecutionContext, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { randomId } from "../support/harness.ts";
import { ADMIN, BASE, READ } from "./support.ts";

const post = (path: string, headers: Record<string, string> = READ, body?: unknown) =>
  SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

async function commit(table: string): Promise<number> {
  const r = await post(`/api/tables/${table}/commit`, ADMIN, { files: 2, rows: 10 });
  const body = await json(r);
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.table, table);
  return body.version as number;
}

describe("POST /api/tables/:table/await", () => {
  it("a writer's commit version, awaited: 200 { mirrorSeq } once mirrored, then the mirror serves it", async () => {
    const table = `rw-${randomId()}`;
    for (let i = 1; i <= 3; i++) {
      const version = await commit(table);
      assert.equal(version, i);
      const r = await post(`/api/tables/${table}/await?version=${version}&timeoutMs=30000`);
      const body = await json(r);
      assert.equal(r.status, 200, JSON.stringify(body));
      assert.deepEqual(body, { table, mirrorSeq: version });
      // Read-your-writes: the snapshot just committed is on the mirror now.
      const m = await SELF.fetch(`${BASE}/objects/${table}/metadata/v${version}.manifest.bin`, {
        headers: READ,
      });
      assert.equal(m.status, 200);
      await m.body?.cancel();
      const st = await json(await SELF.fetch(`${BASE}/api/tables/${table}/status`, { headers: READ }));
      assert.equal(st.head, version);
    }
    // Already there: answers at once.
    const again = await post(`/api/tables/${table}/await?version=1&timeoutMs=0`);
    assert.deepEqual(await json(again), { table, mirrorSeq: 3 });
  });

  it("answers 408 at the timeout, with how far the mirror got", async () => {
    const table = `late-${randomId()}`;
    const version = await commit(table);
    const t0 = Date.now();
    const r = await post(`/api/tables/${table}/await?version=${version + 100}&timeoutMs=300`);
    const body = await json(r);
    assert.equal(r.status, 408, JSON.stringify(body));
    assert.equal(body.error, "Transient");
    assert.match(String(body.message), new RegExp(`did not reach v${version + 100} within 300 ms`));
    assert.equal(typeof body.mirrorSeq, "number");
    assert.ok(Date.now() - t0 >= 300);
  });

  it("a missing or bad version or timeoutMs is a 400 naming it; an unconfigured table a 404", async () => {
    const table = `args-${randomId()}`;
    const cases: Array<[string, RegExp]> = [
      ["", /needs \?version=N/],
      ["version=0", /^version must be an integer >= 1/],
      ["version=1.5", /^version must be/],
      ["version=abc", /^version must be/],
      ["version=1&timeoutMs=-1", /^timeoutMs must be an integer >= 0 and <= 300000/],
      ["version=1&timeoutMs=5s", /^timeoutMs must be/],
      ["version=1&timeoutMs=300001", /^timeoutMs must be/],
    ];
    for (const [query, message] of cases) {
      const r = await post(`/api/tables/${table}/await?${query}`);
      const body = await json(r);
      assert.equal(r.status, 400, `${query}: ${JSON.stringify(body)}`);
      assert.match(String(body.message), message, query);
    }
    const off = { ...env, SOURCE_TABLES: "0", TABLES: "" } as Env;
    const req = new Request(`${BASE}/api/tables/${table}/await?version=1`, { method: "POST", headers: READ });
    const r = await worker.fetch(req, off, createExecutionContext());
    assert.equal(r.status, 404);
    assert.equal((await json(r)).error, "NotFound");
  });
});
