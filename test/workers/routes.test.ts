/**
 * The worker's HTTP routes inside workerd: CORS, the inspection API, the
 * object route (ETag, 304, Range), admin auth, 404s and /metrics.
 */

import { createExecutionContext, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { beforeAll, describe, it } from "vitest";
import { discoverHead, HttpStore, openMirror, R2Store, verifyMirror } from "../../src/index.ts";
import worker from "../../worker/index.ts";
import { randomId } from "../support/harness.ts";

const BASE = "http://tidemark.test";
const TOKEN = "test-admin-token"; // vitest.config.ts
const table = `routes-${randomId()}`;
const auth = { Authorization: `Bearer ${TOKEN}` };
/** The read token of vitest.config.ts: reads are private (auth.test.ts covers who may read). */
const readAuth = { Authorization: "Bearer test-read-token" };
const get = (path: string, headers: Record<string, string> = {}) =>
  SELF.fetch(`${BASE}${path}`, { headers: { ...readAuth, ...headers } });
const post = (path: string, headers: Record<string, string> = {}, body?: unknown) =>
  SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body ?? {}),
  });
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

/** A tiny parser of the Prometheus text format: `name{l="v",...} value` lines, `#` comments. */
function parsePrometheus(
  text: string,
): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
      assert.ok(m, `bad comment line: ${line}`);
      if (m[1] === "TYPE") {
        assert.ok(["gauge", "counter", "histogram", "summary", "untyped"].includes(m[3] ?? ""), line);
        types.set(m[2] ?? "", m[3] ?? "");
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) {
      labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : m[3]);
    assert.ok(!Number.isNaN(value) || m[3] === "NaN", line);
    assert.ok(types.has(m[1] ?? ""), `sample before its # TYPE: ${line}`);
    out.push({ name: m[1] ?? "", labels, value });
  }
  return out;
}

let version = 0;

beforeAll(async () => {
  // Two demo commits through the admin route, then drive the table's alarms until mirrored.
  for (let i = 0; i < 2; i++) {
    const r = await post(`/api/tables/${table}/commit`, auth, { files: 3, rows: 10 });
    assert.equal(r.status, 200, await r.clone().text());
    version = (await json(r)).version as number;
  }
  const stub = env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(table));
  for (let i = 0; i < 200 && (await stub.status(table)).mirrorSeq < version; i++) {
    if (!(await runDurableObjectAlarm(stub))) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal((await stub.status(table)).mirrorSeq, version);
}, 60_000);

describe("worker routes", () => {
  it("GET /api/tables lists SOURCE tables and the configured ones, with CORS", async () => {
    const r = await get("/api/tables", { Origin: "http://elsewhere.test" });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("Access-Control-Allow-Origin"), "*");
    const { tables } = (await r.json()) as { tables: string[] };
    assert.ok(tables.includes(table));
    assert.ok(tables.includes("demo"));
  });

  it("CORS preflight allows Range and If-None-Match and exposes ETag and Content-Range", async () => {
    const r = await SELF.fetch(`${BASE}/objects/${table}/metadata/v1.manifest.bin`, {
      method: "OPTIONS",
      headers: {
        Origin: "http://elsewhere.test",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range,if-none-match",
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("Access-Control-Allow-Origin"), "*");
    assert.match(r.headers.get("Access-Control-Allow-Headers") ?? "", /Range/i);
    const g = await get(`/objects/${table}/metadata/v1.manifest.bin`, { Origin: "http://elsewhere.test" });
    assert.match(g.headers.get("Access-Control-Expose-Headers") ?? "", /ETag/);
    assert.match(g.headers.get("Access-Control-Expose-Headers") ?? "", /Content-Range/);
    await g.body?.cancel();
  });

  it("status, snapshots, one snapshot's manifest as JSON, and verify", async () => {
    const st = await json(await get(`/api/tables/${table}/status`));
    assert.equal(st.head, version);
    const mirror = st.mirror as { mirrorSeq: number; table: string; counters: { files: number } };
    assert.equal(mirror.mirrorSeq, version);
    assert.equal(mirror.table, table);
    assert.equal(mirror.counters.files, 6);

    const list = (await json(await get(`/api/tables/${table}/snapshots`))) as {
      head: number;
      snapshots: Array<{ version: number; liveFiles: number; bytes: number }>;
    };
    // The demo writer's files are real Parquet: their sizes are whatever the rows encode to.
    const sizes = new Map<string, number>();
    for (const o of (await env.MIRROR.list({ prefix: `tables/${table}/data/` })).objects)
      sizes.set(o.key, o.size);
    const v1 = (await env.MIRROR.list({ prefix: `tables/${table}/data/L0/1-` })).objects;
    const total = (objects: R2Object[]) => objects.reduce((s, o) => s + o.size, 0);
    assert.equal(sizes.size, 6);
    assert.deepEqual(
      list.snapshots.map((s) => [s.version, s.liveFiles, s.bytes]),
      [
        [2, 6, [...sizes.values()].reduce((a, b) => a + b, 0)],
        [1, 3, total(v1)],
      ],
    );
    const limited = (await json(await get(`/api/tables/${table}/snapshots?limit=1`))) as {
      snapshots: unknown[];
    };
    assert.equal(limited.snapshots.length, 1);

    const one = (await json(await get(`/api/tables/${table}/snapshots/2`))) as {
      version: number;
      manifest: {
        snapshotId: number;
        previousSnapshotId: number;
        dataFiles: Array<{ fileSize: number; keyMin: string }>;
      };
    };
    assert.equal(one.version, 2);
    assert.equal(one.manifest.previousSnapshotId, 1);
    assert.equal(typeof one.manifest.dataFiles[0]?.fileSize, "number");
    assert.match(one.manifest.dataFiles[0]?.keyMin ?? "", /^[0-9a-f]+$/);

    const v = await json(await get(`/api/tables/${table}/verify/2`));
    assert.deepEqual(v, { version: 2, ok: true, missing: [], wrongSize: [], foreign: [] });
  });

  it("the object route serves ETag, 304 on If-None-Match, 206 ranges, 416 and HEAD", async () => {
    const path = `/objects/${table}/metadata/v1.manifest.bin`;
    const full = await get(path);
    assert.equal(full.status, 200);
    const etag = full.headers.get("ETag") ?? "";
    assert.match(etag, /^"[^"]+"$/);
    const bytes = new Uint8Array(await full.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "MRUB");
    assert.equal(Number(full.headers.get("Content-Length")), bytes.length);

    const cached = await get(path, { "If-None-Match": etag });
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get("ETag"), etag);

    const part = await get(path, { Range: "bytes=0-3" });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("Content-Range"), `bytes 0-3/${bytes.length}`);
    assert.equal(await part.text(), "MRUB");
    const suffix = await get(path, { Range: "bytes=-2" });
    assert.equal(suffix.status, 206);
    assert.deepEqual(new Uint8Array(await suffix.arrayBuffer()), bytes.subarray(bytes.length - 2));
    const past = await get(path, { Range: `bytes=${bytes.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("Content-Range"), `bytes */${bytes.length}`);

    const head = await SELF.fetch(`${BASE}${path}`, { method: "HEAD", headers: readAuth });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("ETag"), etag);
    assert.equal(Number(head.headers.get("Content-Length")), bytes.length);
  });

  it("HttpStore over the object route reads the mirror like any store", async () => {
    const store = new HttpStore(`${BASE}/objects/${table}/`, {
      fetch: (input, init) => SELF.fetch(input, init),
      headers: readAuth,
    });
    const reader = openMirror(store);
    assert.equal(await reader.head(), version);
    assert.equal((await reader.files(version)).length, 6);
    assert.equal((await verifyMirror(store, version)).ok, true);
    const range = await store.get("metadata/v1.manifest.bin", { range: { offset: 1, length: 3 } });
    assert.equal(await range.text(), "RUB");
  });

  it("admin routes: 401 JSON without or with a wrong token, never 500", async () => {
    for (const headers of [
      {},
      { Authorization: "Bearer wrong" },
      { Authorization: "Basic abc" },
      { Authorization: "Bearer " },
    ]) {
      for (const route of ["kick", "commit"]) {
        const r = await post(`/api/tables/${table}/${route}`, headers);
        assert.equal(r.status, 401, `${route} ${JSON.stringify(headers)}`);
        assert.equal((await json(r)).error, "Unauthenticated");
        assert.match(r.headers.get("WWW-Authenticate") ?? "", /^Bearer/);
      }
    }
    const ok = await post(`/api/tables/${table}/kick`, auth);
    assert.equal(ok.status, 200);
    assert.equal((await json(ok)).table, table);
  });

  it("the commit route refuses a malformed body with 400 and commits nothing", async () => {
    const source = new R2Store(env.SOURCE, { prefix: `tables/${table}/` });
    const before = (await discoverHead(source)).version;
    for (const body of [
      "null",
      "{not json",
      "[1,2]",
      '"text"',
      '{"files":"many"}',
      // Out of range or misspelt: refused, never clamped or ignored.
      '{"files":0}',
      '{"files":2001}',
      '{"rows":1.5}',
      '{"rows":10001}',
      // The option before real Parquet files: unknown now.
      '{"bytes":100}',
      '{"compactAt":-1}',
      '{"filez":3}',
      '{"schema":"nope"}',
      '{"schema":"toString"}',
    ]) {
      const r = await SELF.fetch(`${BASE}/api/tables/${table}/commit`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...auth },
        body,
      });
      assert.equal(r.status, 400, `${body}: ${await r.clone().text()}`);
      assert.equal((await json(r)).error, "InvalidArgument", body);
    }
    assert.equal((await discoverHead(source)).version, before, "nothing committed");
  });

  it("a bad numeric var: the commit route answers 400 naming it and commits nothing", async () => {
    const source = new R2Store(env.SOURCE, { prefix: `tables/${table}/` });
    const before = (await discoverHead(source)).version;
    for (const [name, value] of [
      ["BUDGET_BYTES", "64MiB"],
      ["POLL_INTERVAL_MS", "0"],
    ] as const) {
      const req = new Request(`${BASE}/api/tables/${table}/commit`, { method: "POST", headers: auth });
      const r = await worker.fetch(req, { ...env, [name]: value }, createExecutionContext());
      const body = await json(r);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(body.error, "InvalidArgument");
      assert.match(String(body.message), new RegExp(`^${name} must be an integer`));
    }
    assert.equal((await discoverHead(source)).version, before, "nothing committed");
  });

  it("the commit route is off unless DEMO_WRITER=1, even with the admin token", async () => {
    const req = () =>
      new Request(`${BASE}/api/tables/${table}/commit`, { method: "POST", headers: auth, body: "{}" });
    const source = new R2Store(env.SOURCE, { prefix: `tables/${table}/` });
    const before = (await discoverHead(source)).version;
    for (const DEMO_WRITER of [undefined, "0", ""]) {
      const r = await worker.fetch(req(), { ...env, DEMO_WRITER }, createExecutionContext());
      assert.equal(r.status, 501, String(DEMO_WRITER));
      assert.equal((await json(r)).error, "NotSupported");
    }
    assert.equal((await discoverHead(source)).version, before, "nothing committed");
  });

  it("the object route finds the key when the table segment is percent-encoded", async () => {
    const encoded = `%${table.charCodeAt(0).toString(16)}${table.slice(1)}`;
    const r = await get(`/objects/${encoded}/metadata/v1.manifest.bin`);
    assert.equal(r.status, 200, await r.clone().text());
    const plain = await get(`/objects/${table}/metadata/v1.manifest.bin`);
    assert.equal(r.headers.get("ETag"), plain.headers.get("ETag"));
    await r.body?.cancel();
    await plain.body?.cancel();
  });

  it("unknown routes, bad tables, bad and missing versions and objects are JSON errors", async () => {
    const cases: Array<[string, number, string]> = [
      ["/nope", 404, "NotFound"],
      ["/api/tables/Bad%20Name/status", 400, "InvalidArgument"],
      [`/api/tables/${table}/snapshots/abc`, 400, "InvalidArgument"],
      [`/api/tables/${table}/snapshots/999`, 404, "NotFound"],
      [`/api/tables/${table}/verify/0`, 400, "InvalidArgument"],
      [`/objects/${table}/no/such/object`, 404, "NotFound"],
      ["/objects/BAD!/x", 400, "InvalidArgument"],
    ];
    for (const [path, status, code] of cases) {
      const r = await get(path);
      assert.equal(r.status, status, path);
      assert.match(r.headers.get("Content-Type") ?? "", /application\/json/, path);
      const body = await json(r);
      assert.equal(body.error, code, path);
      assert.ok(!JSON.stringify(body).includes("    at "), "no stack trace");
    }
    const post404 = await post("/api/tables");
    assert.equal(post404.status, 404);
  });

  it("GET /metrics is valid Prometheus text with per-table mirror series", async () => {
    const r = await get("/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("Content-Type") ?? "", /^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(await r.text());
    const of = (name: string, labels: Record<string, string> = {}) =>
      samples.find(
        (s) =>
          s.name === name &&
          s.labels.table === table &&
          Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )?.value;
    assert.equal(of("tidemark_mirror_seq"), version);
    assert.equal(of("tidemark_mirror_up"), 1);
    assert.equal(of("tidemark_mirror_lag_seconds"), 0);
    assert.equal(of("tidemark_mirror_files_total"), 6);
    assert.ok((of("tidemark_mirror_bytes_total") ?? 0) >= 600);
    assert.ok((of("tidemark_mirror_requests_total", { class: "read" }) ?? 0) > 0);
    assert.ok((of("tidemark_mirror_requests_total", { class: "write" }) ?? 0) > 0);
    assert.equal(of("tidemark_mirror_failures_total"), 0);
    // Cost: requests per side and billing class, bytes, the Durable Object's own use, the projection.
    const r2 = (side: string, cls: string) =>
      of("tidemark_store_requests_total", { side, provider: "r2", class: cls });
    assert.ok((r2("source", "class_b") ?? 0) > 0);
    assert.equal(r2("source", "class_a"), 0, "a mirror never writes to its source");
    assert.ok((r2("target", "class_a") ?? 0) >= 8, "6 files, the manifests, low_water");
    assert.equal(r2("target", "free"), 0);
    assert.equal(
      (r2("source", "class_b") ?? 0) + (r2("target", "class_b") ?? 0),
      of("tidemark_mirror_requests_total", { class: "read" }),
    );
    assert.ok((of("tidemark_store_bytes_total", { side: "target", direction: "written" }) ?? 0) >= 600);
    assert.ok((of("tidemark_store_bytes_total", { side: "source", direction: "read" }) ?? 0) >= 600);
    assert.ok((of("tidemark_durable_object_requests_total") ?? 0) > 0);
    assert.ok((of("tidemark_durable_object_rows_total", { op: "written" }) ?? 0) > 0);
    assert.equal(of("tidemark_push_enabled"), 0);
    assert.equal(of("tidemark_push_total", { outcome: "messages" }), 0);
    for (const item of [
      "sourceRequests",
      "sourceEgress",
      "targetRequests",
      "durableObjectRequests",
      "queue",
    ]) {
      assert.ok((of("tidemark_cost_monthly_usd", { item }) ?? -1) >= 0, item);
    }
    assert.equal(of("tidemark_cost_monthly_usd", { item: "sourceEgress" }), 0, "R2 egress is free");
  });

  it("GET / serves the inspector page", async () => {
    const r = await get("/");
    assert.equal(r.status, 200);
    assert.match(await r.text(), /tidemark inspector/i);
  });
});
