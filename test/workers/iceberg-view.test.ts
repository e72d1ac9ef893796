/**
 * A table's Iceberg view in the Worker, inside workerd on R2: the `iceberg`
 * setting checked before anything is mirrored; a table mirrored over several
 * alarms with the view on gets one snapshot per mirrored version, its status
 * and `/metrics` say where the view stands; then icebird (npm), a reader no
 * one on the project wrote, reads the view through the Worker's object route
 * and gets exactly the table's logical rows (the library's rows reader) at
 * the latest snapshot and an older one (with hyparquet's own Snappy:
 * test/workers/no-wasm-compressors.ts). A view that fails says why.
 */
import { evictDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { icebergRead } from "icebird";
import { describe, it } from "vitest";
import { openTable } from "../../src/catalog/table.ts";
import { demoCommit } from "../../src/demo/writer.ts";
import { errorCodeOf, R2Store } from "../../src/index.ts";
import { TableRows } from "../../src/rows/table-rows.ts";
import { tableSetup } from "../../worker/config.ts";
import type { Env } from "../../worker/env.ts";
import { parseTableConfig } from "../../worker/table-config.ts";
import { randomId } from "../support/harness.ts";
import { ADMIN, BASE, driveAlarms, READ, stubOf } from "./support.ts";

const put = (table: string, body: unknown) =>
  SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

/** The `InvalidArgument` message of `fn`. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.equal(errorCodeOf(e), "InvalidArgument", String(e));
    return (e as Error).message;
  }
  throw new Error("expected InvalidArgument");
}

/** A value as both readers are compared: Int64 as text, bytes as UTF-8 text. */
const comparable = (v: unknown): unknown =>
  typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? new TextDecoder().decode(v) : (v ?? null);

/** The table's logical rows at `version`, as the library's rows reader gives them, sorted. */
async function libraryRows(store: R2Store, version: number): Promise<string[]> {
  const r = await new TableRows(await openTable(store)).rows({ version });
  const out: string[] = [];
  for await (const row of r.rows) out.push(JSON.stringify(row.values.map(comparable)));
  return out.sort();
}

/**
 * What icebird reads, with `fetch` routed to the Worker for its origin (the
 * object route needs the read token, which icebird does not send to every
 * request): icebird runs here as an outside engine would, over HTTP.
 */
async function icebirdRows(
  tableUrl: string,
  columns: string[],
  metadataFileName?: string,
): Promise<string[]> {
  const real = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(`${BASE}/`)) return real(input, init);
    const headers = new Headers(init?.headers);
    headers.set("Authorization", READ.Authorization);
    return SELF.fetch(url, { ...init, headers });
  };
  try {
    const rows = await icebergRead({ tableUrl, ...(metadataFileName ? { metadataFileName } : {}) });
    return rows.map((r) => JSON.stringify(columns.map((c) => comparable(r[c])))).sort();
  } finally {
    globalThis.fetch = real;
  }
}

describe("the iceberg setting", () => {
  const base = { source: "r2://SOURCE/primary/t", target: "r2://MIRROR/copies/t" };

  it("takes a location, { location, prefix } or a list of them, and refuses what readers could not use, naming the field", () => {
    assert.deepEqual(parseTableConfig({ ...base, iceberg: "s3://bucket/copies/t" }).iceberg, {
      location: "s3://bucket/copies/t",
    });
    assert.deepEqual(
      parseTableConfig({
        ...base,
        iceberg: ["https://w.example/objects/t", { location: "s3://b/copies/t", prefix: "ice-s3" }],
      }).iceberg,
      [{ location: "https://w.example/objects/t" }, { location: "s3://b/copies/t", prefix: "ice-s3" }],
    );
    const where = "TABLE_CONFIG.t.";
    for (const [iceberg, says] of [
      ["copies/t", /TABLE_CONFIG\.t\.iceberg\.location must be s3:\/\/bucket\/prefix/],
      ["file:///tmp/t", /iceberg\.location must be/],
      ["https://user:secret@w.example/objects/t", /TABLE_CONFIG\.t\.iceberg: .*credentials/],
      ["https://w.example/objects/t?token=x", /iceberg: .*query or a fragment/],
      ["s3://b/t#frag", /query or a fragment/],
      [
        { location: "s3://b/t", prefix: "metadata/ice" },
        /TABLE_CONFIG\.t\.iceberg: iceberg prefix "metadata\/ice" names the table.s metadata\//,
      ],
      [{ location: "s3://b/t", extra: 1 }, /iceberg: unknown key "extra"/],
      [["s3://b/t", "https://w.example/objects/t"], /iceberg: two Iceberg views under prefix iceberg/],
      [[], /iceberg must list 1 to 4 views/],
      [42, /iceberg must be a location/],
    ] as const) {
      const message = refusal(() => parseTableConfig({ ...base, iceberg }, where));
      assert.match(message, says, JSON.stringify(iceberg));
      assert.ok(!message.includes("secret@"), "no credential in the error");
    }
  });

  it("refuses a location that is not the table's target, naming the table", () => {
    const e = env as unknown as Env;
    const setup = (iceberg: unknown) =>
      tableSetup(e, "orders", parseTableConfig({ ...base, target: "r2://MIRROR/copies/orders", iceberg }));
    assert.equal(setup("s3://any-bucket/copies/orders").table, "orders");
    assert.equal(setup("https://w.example/objects/orders").table, "orders");
    assert.match(
      refusal(() => setup("s3://any-bucket/copies/other")),
      /table orders: iceberg\.location s3:\/\/any-bucket\/copies\/other names prefix "copies\/other"; the target keeps the table under "copies\/orders"/,
    );
    assert.match(
      refusal(() =>
        setup([
          "https://w.example/objects/orders",
          { location: "https://w.example/objects/other", prefix: "x" },
        ]),
      ),
      /table orders: iceberg\[1\]\.location .* is the object route of table other/,
    );
  });
});

describe("a table with an Iceberg view (workerd, R2)", () => {
  it("alarms give every mirrored version its snapshot; icebird reads the table's rows through the object route", async () => {
    const table = `ice-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `primary/${table}/` });
    const target = new R2Store(env.MIRROR, { prefix: `copies/${table}/` });
    const location = `${BASE}/objects/${table}`;
    for (let i = 0; i < 2; i++) await demoCommit(source, { files: 2, rows: 30, compactAt: 4 });
    const r = await put(table, {
      source: `r2://SOURCE/primary/${table}`,
      target: `r2://MIRROR/copies/${table}`,
      // A small budget: a version and its snapshot take more than one alarm.
      budget: { requests: 40 },
      iceberg: location,
    });
    assert.equal(r.status, 200, await r.text());

    const stub = stubOf(table);
    const lags: number[] = [];
    const viewOf = async () => (await stub.status(table)).iceberg?.[0];
    const upTo = async (head: number) => {
      const alarms = await driveAlarms(
        stub,
        async () => (await viewOf())?.version === head,
        async () => {
          lags.push((await viewOf())?.lagVersions ?? -1);
        },
      );
      const st = await stub.status(table);
      assert.equal(st.lastError, null, JSON.stringify(st.lastError));
      return alarms;
    };
    let alarms = await upTo(2);
    // More versions while the view is on: a compaction among them (rows rewritten, tombstones kept).
    let head = 2;
    for (let i = 0; i < 3; i++) head = await demoCommit(source, { files: 2, rows: 30, compactAt: 4 });
    alarms += await upTo(head);
    assert.ok(alarms >= 4, `mirrored over ${alarms} alarms`);
    assert.ok(
      lags.some((l) => l > 0),
      `the view fell behind the mirror and caught up on later alarms (lags ${lags.join(",")})`,
    );

    const st = await stub.status(table);
    assert.equal(st.mirrorSeq, head);
    const metadataLocation = `${location}/iceberg/metadata/v${head}.metadata.json`;
    assert.deepEqual(st.iceberg, [
      {
        location,
        prefix: "iceberg",
        version: head,
        metadataLocation,
        snapshotId: head,
        lagVersions: 0,
      },
    ]);
    // Kept in the tick's state row: after an eviction, before any tick, the status still says it.
    await evictDurableObject(stub);
    assert.deepEqual((await stub.status(table)).iceberg, st.iceberg);
    // The latest metadata names one snapshot per mirrored version (ids are the versions).
    const metadata = JSON.parse(await (await target.get(`iceberg/metadata/v${head}.metadata.json`)).text());
    assert.equal(metadata["current-snapshot-id"], head);
    assert.deepEqual(
      metadata.snapshots.map((s: { "snapshot-id": number }) => s["snapshot-id"]),
      Array.from({ length: head }, (_, i) => i + 1),
    );
    // Each view file written once: the alarms' budgets never made a snapshot twice.
    const puts = await (
      stub as unknown as { testPutCounts(): Promise<Record<string, number>> }
    ).testPutCounts();
    for (let v = 1; v <= head; v++) assert.equal(puts[`iceberg/metadata/v${v}.metadata.json`], 1, `v${v}`);
    const viewPuts = Object.entries(puts).filter(([k]) => k.startsWith("iceberg/"));
    assert.ok(
      viewPuts.every(([k]) => !k.endsWith(".parquet") || k.startsWith("iceberg/deletes/")),
      "no data byte copied",
    );
    // Every put to the target, the view's among them, is a write the table's counters (its budget, its cost) saw.
    const allPuts = Object.values(puts).reduce((a, b) => a + b, 0);
    assert.ok(viewPuts.length > head && allPuts > viewPuts.length);
    assert.ok(
      st.counters.requests.write >= allPuts,
      `the view's writes are counted with the mirror's (${st.counters.requests.write} writes counted, ${allPuts} puts)`,
    );

    // Read as an outside engine would: the latest through version-hint.text, and an older snapshot.
    const columns = (await new TableRows(await openTable(target)).rows({ version: head, limit: 0 })).columns;
    const latest = await libraryRows(target, head);
    assert.ok(latest.length > 0);
    assert.deepEqual(await icebirdRows(`${location}/iceberg`, columns), latest, `v${head}`);
    assert.deepEqual(
      await icebirdRows(`${location}/iceberg`, columns, "v2.metadata.json"),
      await libraryRows(target, 2),
      "v2",
    );

    const metrics = await (await SELF.fetch(`${BASE}/metrics`, { headers: READ })).text();
    assert.ok(
      metrics.includes(`tidemark_iceberg_snapshot_id{table="${table}",prefix="iceberg"} ${head}`),
      metrics,
    );
    assert.ok(metrics.includes(`tidemark_iceberg_lag_versions{table="${table}",prefix="iceberg"} 0`));
    assert.ok(metrics.includes(`tidemark_iceberg_failing{table="${table}",prefix="iceberg"} 0`));
  });

  it("a view that cannot be written says why in the status and /metrics, and the mirror retries it", async () => {
    const table = `ice-bad-${randomId()}`;
    const source = new R2Store(env.SOURCE, { prefix: `primary/${table}/` });
    const target = new R2Store(env.MIRROR, { prefix: `copies/${table}/` });
    await demoCommit(source, { files: 1, rows: 5 });
    // A damaged metadata file where the view's latest would be: no snapshot is built on it.
    await target.put("iceberg/metadata/v1.metadata.json", new TextEncoder().encode("{not json"));
    const r = await put(table, {
      source: `r2://SOURCE/primary/${table}`,
      target: `r2://MIRROR/copies/${table}`,
      iceberg: `s3://mirror-bucket/copies/${table}`,
    });
    assert.equal(r.status, 200, await r.text());
    const stub = stubOf(table);
    await driveAlarms(stub, async () => (await stub.status(table)).iceberg?.[0]?.lastError !== undefined);
    const st = await stub.status(table);
    const view = st.iceberg?.[0];
    assert.equal(st.mirrorSeq, 1, "the version itself is mirrored");
    assert.equal(view?.version, 0);
    assert.equal(view?.lagVersions, 1);
    assert.equal(view?.snapshotId, null);
    assert.match(
      view?.lastError?.message ?? "",
      /^\[Corrupt\] iceberg\/metadata\/v1\.metadata\.json is not JSON/,
    );
    assert.ok(st.lastError !== null && st.consecutiveFailures > 0, "the tick failed: retried with backoff");
    const metrics = await (await SELF.fetch(`${BASE}/metrics`, { headers: READ })).text();
    assert.ok(metrics.includes(`tidemark_iceberg_failing{table="${table}",prefix="iceberg"} 1`), metrics);
  });
});
