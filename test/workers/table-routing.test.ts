/**
 * The Worker's table routing under hostile input, inside workerd: a name
 * nobody configured is a 404 on every route before any per-table Durable
 * Object exists (no object, no storage row, no alarm), under `PUBLIC_READ=1`
 * and `SOURCE_TABLES=1` too; configurations whose targets overlap are
 * refused; a credential inside `?endpoint=` is refused and never echoed; a
 * signed URL never names another object than the key.
 */
import { createExecutionContext, listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { R2Store } from "../../src/store/r2.ts";
import { tableSetup } from "../../worker/config.ts";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { randomId } from "../support/harness.ts";
import { ADMIN, BASE, READ } from "./support.ts";

async function call(
  e: Env,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
) {
  const r = await worker.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      ...(body !== undefined ? { body } : {}),
    }),
    e,
    createExecutionContext(),
  );
  return { status: r.status, body: method === "HEAD" ? "" : await r.text() };
}

/** Whether `table`'s MirrorObject was ever created. */
async function objectExists(table: string): Promise<boolean> {
  const id = env.MIRROR_OBJECT.idFromName(table);
  return (await listDurableObjectIds(env.MIRROR_OBJECT)).some((x) => x.equals(id));
}

const put = (e: Env, table: string, config: unknown) =>
  call(e, "PUT", `/api/tables/${table}`, ADMIN, JSON.stringify(config));

describe("a table nobody configured", () => {
  it("is a 404 on every route before any per-table object is touched, under PUBLIC_READ=1 and SOURCE_TABLES=1", async () => {
    const open = { ...env, PUBLIC_READ: "1" } as Env;
    const name = `nobody-${randomId()}`;
    const reads: Array<[string, string]> = [
      ["GET", `/api/tables/${name}`],
      ["GET", `/api/tables/${name}/status`],
      ["GET", `/api/tables/${name}/snapshots`],
      ["GET", `/api/tables/${name}/snapshots/1`],
      ["GET", `/api/tables/${name}/verify/1`],
      ["GET", `/api/tables/${name}/sign?key=data/x.parquet`],
      ["POST", `/api/tables/${name}/await?version=1&timeoutMs=10`],
      ["GET", `/objects/${name}/data/x.parquet`],
      ["HEAD", `/objects/${name}/data/x.parquet`],
    ];
    for (const [method, path] of reads) {
      const r = await call(open, method, path);
      assert.equal(r.status, 404, `${method} ${path}: ${r.body}`);
    }
    // (The demo writer's commit route, admin only, writes a SOURCE_TABLES table's first snapshot: it makes one.)
    for (const path of ["kick", "doctor"]) {
      const r = await call(open, "POST", `/api/tables/${name}/${path}`, ADMIN);
      assert.equal(r.status, 404, `POST ${path}: ${r.body}`);
    }
    const del = await call(open, "DELETE", `/api/tables/${name}`, ADMIN);
    assert.deepEqual([del.status, JSON.parse(del.body)], [200, { table: name, removed: false }]);
    assert.equal(
      await objectExists(name),
      false,
      "no Durable Object (no storage row, no alarm) for the name",
    );
    assert.ok(!(JSON.parse((await call(open, "GET", "/api/tables")).body).tables as string[]).includes(name));
  });

  it("becomes a table of the SOURCE_TABLES layout once its source has objects, or TABLES names it", async () => {
    const name = `appears-${randomId()}`;
    assert.equal((await call(env as Env, "GET", `/api/tables/${name}/status`, READ)).status, 404);
    await new R2Store(env.SOURCE, { prefix: `tables/${name}/` }).put("metadata/low_water.txt", "1");
    const r = await call(env as Env, "GET", `/api/tables/${name}`, READ);
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).origin, "source-tables");
    const named = `named-${randomId()}`;
    const withName = { ...env, TABLES: `demo, ${named}` } as Env;
    assert.equal((await call(withName, "GET", `/api/tables/${named}`, READ)).status, 200);
  });
});

describe("overlapping targets", () => {
  it("an admin table whose target holds, or lies inside, another table's target is refused; a sibling prefix is not", async () => {
    const id = randomId();
    const e = env as Env;
    const ok = await put(e, `a-${id}`, {
      source: `r2://SOURCE/src/${id}/a`,
      target: `r2://MIRROR/ov/${id}/a`,
    });
    assert.equal(ok.status, 200, ok.body);
    const refused: Array<[string, string, RegExp]> = [
      [`b-${id}`, `r2://MIRROR/ov/${id}`, new RegExp(`overlaps the target of table a-${id}`)],
      [`c-${id}`, `r2://MIRROR/ov/${id}/a/inside`, new RegExp(`overlaps the target of table a-${id}`)],
      [
        `d-${id}`,
        "r2://MIRROR/",
        /overlaps the target of table .*SOURCE_TABLES layout|overlaps the target of table/,
      ],
      [`e-${id}`, "r2://MIRROR/tables/demo", /overlaps the target of table demo/],
    ];
    for (const [table, target, reason] of refused) {
      const r = await put(e, table, { source: `r2://SOURCE/src/${id}/${table}`, target });
      assert.equal(r.status, 400, `${table} → ${target}: ${r.body}`);
      assert.match(JSON.parse(r.body).message, reason, target);
      assert.equal(await objectExists(table), false, `${table}: refused before its object is made`);
      assert.equal(
        (await call(e, "GET", `/api/tables/${table}`, READ)).status,
        404,
        `${table}: nothing stored`,
      );
    }
    // The same table may move within its own prefix; a sibling prefix is another place.
    assert.equal(
      (await put(e, `a-${id}`, { source: `r2://SOURCE/src/${id}/a`, target: `r2://MIRROR/ov/${id}/a/v2` }))
        .status,
      200,
    );
    const sibling = await put(e, `f-${id}`, {
      source: `r2://SOURCE/src/${id}/f`,
      target: `r2://MIRROR/ov/${id}/ab`,
    });
    assert.equal(sibling.status, 200, sibling.body);
    // A table of the SOURCE_TABLES layout configured to its own place there is not an overlap.
    const own = `g-${id}`;
    assert.equal(
      (await put(e, own, { source: `r2://SOURCE/src/${id}/g`, target: `r2://MIRROR/tables/${own}` })).status,
      200,
    );
  });

  it("static tables whose targets overlap (same bucket and endpoint) are refused, S3 and R2 alike", async () => {
    const e = {
      ...env,
      SOURCE_TABLES: "0",
      TABLES: "",
      K_ACCESS_KEY_ID: "AKID",
      K_SECRET_ACCESS_KEY: "not-a-real-secret",
      TABLE_CONFIG: JSON.stringify({
        one: {
          source: "r2://SOURCE/one",
          target: { url: "s3://bkt/mirrors/one?endpoint=http://127.0.0.1:1", credentials: "K" },
        },
        all: {
          source: "r2://SOURCE/all",
          target: { url: "s3://bkt/mirrors?endpoint=http://127.0.0.1:1/", credentials: "K" },
        },
        elsewhere: {
          source: "r2://SOURCE/x",
          target: { url: "s3://bkt/mirrors?endpoint=http://127.0.0.2:1", credentials: "K" },
        },
        r2a: { source: "r2://SOURCE/r2a", target: "r2://MIRROR/st/a" },
        r2b: { source: "r2://SOURCE/r2b", target: "r2://MIRROR/st/a/b" },
      }),
    } as unknown as Env;
    for (const [table, other] of [
      ["one", "all"],
      ["all", "one"],
      ["r2a", "r2b"],
      ["r2b", "r2a"],
    ]) {
      assert.throws(
        () => tableSetup(e, table as string, undefined),
        new RegExp(`overlaps the target of table ${other}`),
      );
    }
    // Another endpoint is another store.
    assert.equal(tableSetup(e, "elsewhere", undefined).origin, "static");
  });
});

describe("secrets in nested URLs, and signed keys", () => {
  it("a credential inside ?endpoint= is refused, never stored, never echoed", async () => {
    const table = `nested-${randomId()}`;
    const e = { ...env, NESTED_ACCESS_KEY_ID: "AKID", NESTED_SECRET_ACCESS_KEY: "s" } as Env;
    for (const endpoint of [
      "http://127.0.0.1:9000?X-Amz-Security-Token=FwoGZXIvYXdzSESSION",
      "http://127.0.0.1:9000#X-Amz-Security-Token=FwoGZXIvYXdzSESSION",
    ]) {
      const url = `s3://bkt/p?endpoint=${encodeURIComponent(endpoint)}`;
      const r = await put(e, table, {
        source: { url, credentials: "NESTED" },
        target: `r2://MIRROR/nested/${table}`,
      });
      assert.equal(r.status, 400, r.body);
      assert.match(JSON.parse(r.body).message, /endpoint.*must not have a (query|fragment)/);
      assert.doesNotMatch(r.body, /FwoGZXIvYXdz|Security-Token/);
      assert.equal((await call(e, "GET", `/api/tables/${table}`, READ)).status, 404, "nothing stored");
    }
  });

  it("sign refuses a key with a . or .. segment: the URL would name another object, another table's even", async () => {
    for (const key of ["../other/data/x.parquet", "data/../../other/x", "data/./x.parquet", ".."]) {
      const r = await call(env as Env, "GET", `/api/tables/demo/sign?key=${encodeURIComponent(key)}`, READ);
      assert.equal(r.status, 400, `${key}: ${r.body}`);
      assert.match(JSON.parse(r.body).message, /segment is resolved by every URL/);
    }
    const fine = await call(
      env as Env,
      "GET",
      `/api/tables/demo/sign?key=${encodeURIComponent("data/x..y.parquet")}`,
      READ,
    );
    assert.equal(fine.status, 200, fine.body);
    assert.match(JSON.parse(fine.body).url, /\/objects\/demo\/data\/x\.\.y\.parquet\?/);
  });
});
