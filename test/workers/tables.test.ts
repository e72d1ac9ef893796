/**
 * Tables from store URLs inside workerd: `PUT`/`DELETE /api/tables/:table`
 * and the static `TABLE_CONFIG`, validated (a bad URL, an unbound bucket, a
 * missing secret: 400, nothing stored); R2 → R2, S3 → R2 and R2 → S3 mirrored
 * by the table's Durable Object (the S3 side on Ceph RGW and on moto, keys
 * from secrets named in the configuration); progress never reused across a
 * change of target.
 */
import { createExecutionContext, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { Catalog, type ObjectStore, R2Store, S3Store, verifyMirror } from "../../src/index.ts";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { MirrorObject } from "../../worker/mirror-object.ts";
import { collect, randomId } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";
import { ADMIN, BASE, driveAlarms, READ, rpcError, stubOf } from "./support.ts";

const vars = env as unknown as Record<string, string | undefined>;
const fromTestVars = (k: string) => (k === "CI" ? vars.CI || undefined : vars[`TEST_${k}`]);
const rgw = rgwConfig(fromTestVars);
const moto = motoConfig(fromTestVars);

const put = (table: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...headers, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;
const read = (path: string) => SELF.fetch(`${BASE}${path}`, { headers: READ });

/** Commits `n` snapshots of one 100-byte file each to `store`; returns the HEAD. */
async function commitSnapshots(store: ObjectStore, n: number): Promise<number> {
  const catalog = await Catalog.open(store);
  let v = 0;
  for (let i = 0; i < n; i++) {
    const path = `data/${randomId()}.parquet`;
    await store.put(path, new Uint8Array(100).fill(i), { mode: "create" });
    v = await catalog.commit({ add: [{ path, fileSize: 100, numRows: 1 }] });
  }
  return v;
}

async function mirrored(table: string, version: number): Promise<void> {
  const stub = stubOf(table);
  await driveAlarms(stub, async () => (await stub.status(table)).mirrorSeq >= version);
  const st = await stub.status(table);
  assert.equal(st.mirrorSeq, version, JSON.stringify(st.lastError));
}

/** An s3:// URL of `cfg`'s bucket under `prefix`. */
const s3Url = (cfg: RgwConfig, prefix: string) =>
  `s3://${cfg.bucket}/${prefix}?endpoint=${encodeURIComponent(cfg.endpoint)}&region=${cfg.region}&path-style=true`;

describe("PUT /api/tables/:table", () => {
  it("a bad configuration is a 400 with the reason, and nothing is stored", async () => {
    const table = `bad-${randomId()}`;
    const ok = { source: `r2://SOURCE/p/${table}`, target: `r2://MIRROR/m/${table}` };
    const cases: Array<[unknown, RegExp]> = [
      ["{not json", /must be JSON/],
      [[1], /must be a JSON object/],
      [{ target: ok.target }, /source is required/],
      [{ ...ok, parralelism: 2 }, /unknown key "parralelism"/],
      [{ ...ok, source: "ftp://host/x" }, /unknown store URL scheme "ftp:"/],
      [{ ...ok, source: "/var/tables/x" }, /needs a scheme/],
      [{ ...ok, source: "s3://bucket/p?region=eu-west-1" }, /source: an s3:\/\/ store needs credentials/],
      [
        { ...ok, source: { url: "s3://bucket/p", credentials: "NOPE" } },
        /source: secret NOPE_ACCESS_KEY_ID and NOPE_SECRET_ACCESS_KEY not set/,
      ],
      [{ ...ok, source: { url: "s3://bucket/p", credentials: "lower" } }, /credentials must name secrets/],
      [{ ...ok, source: "s3://bucket/p?X-Amz-Signature=abc123" }, /looks like a credential/],
      [{ ...ok, source: "s3://AKID:hunter2@bucket/p" }, /credentials in the URL are refused/],
      [{ ...ok, target: "r2://NOT_BOUND/x" }, /target: no R2 bucket is bound as NOT_BOUND/],
      [{ ...ok, target: "r2://MIRROR_OBJECT/x" }, /no R2 bucket is bound as MIRROR_OBJECT/],
      [{ ...ok, target: { url: ok.target, credentials: "TEST_S3" } }, /credentials are for s3:\/\/ stores/],
      [{ ...ok, target: "https://example.test/objects/t" }, /read-only/],
      [{ ...ok, target: `r2://SOURCE/p/${table}/` }, /same store/],
      [{ ...ok, pollIntervalMs: 50 }, /pollIntervalMs must be an integer >= 100/],
      [{ ...ok, parallelism: 1.5 }, /parallelism must be an integer >= 1/],
      [{ ...ok, budget: { requests: 0 } }, /budget\.requests must be an integer >= 1/],
      [{ ...ok, budget: { calls: 3 } }, /budget: unknown key "calls"/],
    ];
    for (const [body, reason] of cases) {
      const r = await put(table, body);
      const b = await json(r);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(b)}`);
      assert.equal(b.error, "InvalidArgument");
      assert.match(String(b.message), reason, JSON.stringify(body));
      assert.doesNotMatch(String(b.message), /abc123|hunter2/, "no credential echoed");
    }
    assert.equal(await stubOf(table).adminConfig(table), null, "nothing stored");
    const listed = (await json(await read("/api/tables"))).tables as string[];
    assert.ok(!listed.includes(table));
  });

  it("needs the admin token; a read token is not enough", async () => {
    const table = `adm-${randomId()}`;
    const body = { source: `r2://SOURCE/p/${table}`, target: `r2://MIRROR/m/${table}` };
    for (const headers of [{}, READ, { Authorization: "Bearer wrong" }]) {
      assert.equal((await put(table, body, headers)).status, 401);
    }
    const del = await SELF.fetch(`${BASE}/api/tables/${table}`, { method: "DELETE", headers: READ });
    assert.equal(del.status, 401);
  });
});

describe("tables configured by URL, mirrored inside workerd", () => {
  it("R2 → R2: a PUT table is mirrored, listed, described with its own settings, and read through the API", async () => {
    const table = `rr-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `primary/${table}/` });
    const target = new R2Store(env.MIRROR, { prefix: `copies/${table}/` });
    const head = await commitSnapshots(source, 2);
    const r = await put(table, {
      source: `r2://SOURCE/primary/${table}`,
      target: `r2://MIRROR/copies/${table}`,
      pollIntervalMs: 60_000,
      budget: { requests: 30 },
    });
    const described = await json(r);
    assert.equal(r.status, 200, JSON.stringify(described));
    assert.equal(described.origin, "admin");
    assert.equal(described.source, `SOURCE/primary/${table}`);
    assert.equal(described.target, `MIRROR/copies/${table}`);
    const settings = described.settings as {
      pollIntervalMs: number;
      budget: { requests: number; bytes: number };
    };
    assert.equal(settings.pollIntervalMs, 60_000);
    assert.deepEqual(settings.budget, { requests: 30, bytes: 64 * 1024 * 1024 });

    await mirrored(table, head);
    assert.equal((await verifyMirror(target, head)).ok, true);
    const st = await stubOf(table).status(table);
    assert.equal(st.budget?.requests, 30);
    assert.equal(st.origin, "admin");

    assert.ok(((await json(await read("/api/tables"))).tables as string[]).includes(table));
    assert.deepEqual(await json(await read(`/api/tables/${table}`)), described);
    const status = await json(await read(`/api/tables/${table}/status`));
    assert.equal(status.head, head);
    assert.equal(status.store, `MIRROR/copies/${table}`);
    const obj = await read(`/objects/${table}/metadata/v1.manifest.bin`);
    assert.equal(obj.status, 200);
    await obj.body?.cancel();
  });

  it("changing the target never reuses progress: the new target gets every file and manifest", async () => {
    const table = `moved-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `primary/${table}/` });
    const head = await commitSnapshots(source, 3);
    const a = { source: `r2://SOURCE/primary/${table}`, target: `r2://MIRROR/a/${table}` };
    assert.equal((await put(table, a)).status, 200);
    await mirrored(table, head);

    const b = { ...a, target: `r2://MIRROR/b/${table}` };
    const stub = stubOf(table);
    await runInDurableObject(stub, async (instance: MirrorObject) => {
      // Storage only, no I/O that opens the input gate: no alarm runs in between.
      const st = await instance.configure(table, b);
      assert.equal(st.target, `MIRROR/b/${table}`);
      assert.equal(st.mirrorSeq, 0, "the old target's mirrorSeq is not the new one's");
      assert.equal(st.inProgress, null);
      assert.equal(await rpcError(() => instance.awaitMirror(head, 0, table)), "Transient");
    });
    await mirrored(table, head);
    const target = new R2Store(env.MIRROR, { prefix: `b/${table}/` });
    for (let v = 1; v <= head; v++) assert.equal((await verifyMirror(target, v)).ok, true, `v${v}`);
    const files = (await collect(target.list("data/"))).length;
    assert.equal(files, head, "every file copied to the new target");
    // The same target again: its progress is bound to it and resumes (nothing to do).
    assert.equal((await put(table, b)).status, 200);
    assert.equal((await stub.status(table)).mirrorSeq, head);
  });

  it("DELETE removes an admin table: unlisted, and without another configuration its loop stops", async () => {
    const table = `gone-${randomId()}`;
    const config = { source: `r2://SOURCE/primary/${table}`, target: `r2://MIRROR/m/${table}` };
    assert.equal((await put(table, config)).status, 200);
    const del = await SELF.fetch(`${BASE}/api/tables/${table}`, { method: "DELETE", headers: ADMIN });
    assert.deepEqual(await json(del), { table, removed: true });
    assert.ok(!((await json(await read("/api/tables"))).tables as string[]).includes(table));
    assert.equal(await stubOf(table).adminConfig(table), null);

    // Where SOURCE_TABLES is off, nothing else names the table: no alarm, kick is NotFound.
    await runInDurableObject(stubOf(table), async (_i, state) => {
      const off = new MirrorObject(state, { ...env, SOURCE_TABLES: "0", TABLES: "" } as Env);
      await off.configure(table, config);
      assert.notEqual(await state.storage.getAlarm(), null);
      assert.equal(await off.unconfigure(table), true);
      assert.equal(await state.storage.getAlarm(), null, "the loop stopped");
      assert.equal(await rpcError(() => off.kick(table)), "NotFound");
      assert.equal((await off.status(table)).origin, null);
    });
  });
});

describe("TABLE_CONFIG (static tables)", () => {
  const call = (
    e: Env,
    method: string,
    path: string,
    headers: Record<string, string> = READ,
    body?: string,
  ) =>
    worker.fetch(
      new Request(`${BASE}${path}`, { method, headers, ...(body ? { body } : {}) }),
      e,
      createExecutionContext(),
    );

  it("a static table is described, refuses PUT and DELETE, and is mirrored by its object", async () => {
    const table = `st-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `static/${table}/` });
    const head = await commitSnapshots(source, 2);
    const e = {
      ...env,
      TABLE_CONFIG: JSON.stringify({
        [table]: {
          source: `r2://SOURCE/static/${table}`,
          target: `r2://MIRROR/static/${table}`,
          parallelism: 2,
        },
      }),
    } as Env;
    const d = await call(e, "GET", `/api/tables/${table}`);
    const body = await json(d);
    assert.equal(d.status, 200, JSON.stringify(body));
    assert.equal(body.origin, "static");
    assert.equal((body.settings as { parallelism: number }).parallelism, 2);
    for (const method of ["PUT", "DELETE"]) {
      const r = await call(
        e,
        method,
        `/api/tables/${table}`,
        ADMIN,
        JSON.stringify({ source: "r2://SOURCE/x", target: "r2://MIRROR/y" }),
      );
      assert.equal(r.status, 409, method);
      assert.match(String((await json(r)).message), /configured in TABLE_CONFIG/);
    }
    await runInDurableObject(stubOf(table), async (_i, state) => {
      const obj = new MirrorObject(state, e);
      for (let i = 0; i < 20 && (await obj.status(table)).mirrorSeq < head; i++) await obj.alarm();
      const st = await obj.status(table);
      assert.equal(st.origin, "static");
      assert.equal(st.mirrorSeq, head);
    });
    assert.equal(
      (await verifyMirror(new R2Store(env.MIRROR, { prefix: `static/${table}/` }), head)).ok,
      true,
    );
  });

  it("a malformed TABLE_CONFIG or a bad entry is a 400 naming it", async () => {
    const bad = await call({ ...env, TABLE_CONFIG: "{orders:" } as Env, "GET", "/api/tables");
    assert.equal(bad.status, 400);
    assert.match(String((await json(bad)).message), /^TABLE_CONFIG must be a JSON object/);
    const entry = {
      ...env,
      TABLE_CONFIG: JSON.stringify({ s: { source: "r2://NOPE/x", target: "r2://MIRROR/y" } }),
    } as Env;
    const r = await call(entry, "GET", "/api/tables/s/status");
    assert.equal(r.status, 400);
    assert.match(String((await json(r)).message), /^TABLE_CONFIG\.s\.source: no R2 bucket is bound as NOPE/);
    const name = await call({ ...env, TABLE_CONFIG: '{"Bad Name": {}}' } as Env, "GET", "/api/tables");
    assert.match(String((await json(name)).message), /"Bad Name" is not a table name/);
  });

  it("vars this worker would ignore are refused, never silently dropped", async () => {
    // The S3 target of earlier versions: now a target URL (its secrets keep their names).
    const old = { ...env, MIRROR_S3_ENDPOINT: "https://s3.example.test", MIRROR_S3_BUCKET: "b" } as Env;
    const r = await call(old, "GET", "/api/tables");
    assert.equal(r.status, 400);
    assert.match(
      String((await json(r)).message),
      /^MIRROR_S3_BUCKET, MIRROR_S3_ENDPOINT: the MIRROR_S3_\* target was replaced/,
    );
    // TABLES belongs to the SOURCE_TABLES layout.
    const orphan = await call(
      { ...env, SOURCE_TABLES: "0", TABLES: "demo" } as Env,
      "GET",
      "/api/tables/demo/status",
    );
    assert.equal(orphan.status, 400);
    assert.match(String((await json(orphan)).message), /TABLES lists tables of the SOURCE_TABLES layout/);
    // The credentials of a MIRROR_S3 store are secrets like any other: not refused.
    const keys = { ...env, MIRROR_S3_ACCESS_KEY_ID: "a", MIRROR_S3_SECRET_ACCESS_KEY: "b" } as Env;
    assert.equal((await call(keys, "GET", "/api/tables")).status, 200);
  });

  it("the configuration is parsed once per env: later requests and Durable Object calls read no var again", async () => {
    const table = `once-${randomId()}`;
    const parsedVars = [
      "TABLE_CONFIG",
      "SOURCE_TABLES",
      "TABLES",
      "PUSH_BUCKETS",
      "PRICES",
      "POLL_INTERVAL_MS",
      "PUSH_POLL_INTERVAL_MS",
      "LAG_ALERT_SECS",
      "BUDGET_REQUESTS",
      "BUDGET_BYTES",
      "PARALLELISM",
      "PUBLIC_READ",
      "READ_TOKEN_TABLES",
      "ACCESS_TEAM_DOMAIN",
      "ACCESS_AUD",
    ];
    let reads = 0;
    /** An env that counts the reads of the vars the Worker parses. */
    const counting = () =>
      new Proxy(
        {
          ...env,
          TABLE_CONFIG: JSON.stringify({
            [table]: { source: `r2://SOURCE/once/${table}`, target: `r2://MIRROR/once/${table}` },
          }),
          PRICES: '{"r2ClassA": 4}',
        } as Env,
        {
          get(target, name, receiver) {
            if (typeof name === "string" && parsedVars.includes(name)) reads++;
            return Reflect.get(target, name, receiver);
          },
        },
      );
    const e = counting();
    const routes = ["/api/tables", `/api/tables/${table}`, `/api/tables/${table}/status`];
    for (const path of routes) assert.equal((await call(e, "GET", path)).status, 200, path);
    assert.ok(reads > 0, "the first requests parse the vars");
    const first = reads;
    for (const path of routes) assert.equal((await call(e, "GET", path)).status, 200, path);
    assert.equal(reads, first, "the same requests again read no var");
    // Another env is parsed afresh.
    assert.equal((await call(counting(), "GET", `/api/tables/${table}`)).status, 200);
    assert.ok(reads > first);
    // A Durable Object with its own env: its RPC calls do not parse the vars again either.
    await runInDurableObject(stubOf(table), async (_i, state) => {
      const obj = new MirrorObject(state, counting());
      await obj.status(table);
      const once = reads;
      await obj.status(table);
      await obj.kick(table);
      await obj.status(table);
      assert.equal(reads, once, "status and kick again read no var");
      await state.storage.deleteAlarm();
    });
  });
});

for (const [server, cfg, credentials] of [
  ["Ceph RGW", rgw, "TEST_S3"],
  ["moto", moto, "TEST_MOTO"],
] as const) {
  describe.skipIf(!cfg)(`S3 ends on ${server}, keys from secrets named ${credentials}_*`, () => {
    const s3 = (prefix: string) => new S3Store({ ...cfg!, prefix, forcePathStyle: true });

    it("S3 → R2: a table whose source is an s3:// URL is mirrored into R2", async () => {
      const table = `s3r2-${randomId()}`;
      const prefix = `worker-tables/${table}/`;
      const head = await commitSnapshots(s3(prefix), 2);
      const r = await put(table, {
        source: { url: s3Url(cfg!, prefix), credentials },
        target: `r2://MIRROR/from-s3/${table}`,
      });
      const body = await json(r);
      assert.equal(r.status, 200, JSON.stringify(body));
      assert.equal(body.source, `s3://${cfg!.bucket}/${prefix.slice(0, -1)}`);
      assert.ok(!JSON.stringify(body).includes(cfg!.secretAccessKey), "no secret in the description");
      await mirrored(table, head);
      assert.equal(
        (await verifyMirror(new R2Store(env.MIRROR, { prefix: `from-s3/${table}/` }), head)).ok,
        true,
      );
    });

    it("R2 → S3: a table whose target is an s3:// URL is mirrored out of R2", async () => {
      const table = `r2s3-${randomId()}`;
      const head = await commitSnapshots(new R2Store(env.SOURCE, { prefix: `to-s3/${table}/` }), 2);
      const prefix = `worker-mirrors/${table}/`;
      const r = await put(table, {
        source: `r2://SOURCE/to-s3/${table}`,
        target: { url: s3Url(cfg!, prefix), credentials },
      });
      assert.equal(r.status, 200, await r.clone().text());
      await mirrored(table, head);
      assert.deepEqual(await verifyMirror(s3(prefix), head), {
        version: head,
        ok: true,
        missing: [],
        wrongSize: [],
        foreign: [],
      });
    });
  });
}
