/**
 * `doctor` inside workerd: every check on the R2 binding (the matrix's R2
 * column), and the worker's admin route `POST /api/tables/:table/doctor` on
 * the table's target store (R2, and an S3 target configured by URL on Ceph RGW).
 */
import { createExecutionContext, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { DOCTOR_CHECKS, type DoctorReport, doctor, R2Store } from "../../src/index.ts";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { recordConformance } from "../support/conformance.ts";
import { collect, randomId } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const BASE = "http://tidemark.test";
const auth = { Authorization: "Bearer test-admin-token" };
const vars = env as unknown as Record<string, string | undefined>;
const rgw = rgwConfig((k) => (k === "CI" ? vars.CI || undefined : vars[`TEST_${k}`]));
const statuses = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));

describe("doctor inside workerd", () => {
  it("passes every check on the R2 binding (auth unsupported) and leaves nothing behind", {
    timeout: 120_000,
  }, async (ctx) => {
    const store = new R2Store(env.MIRROR, { prefix: `doctor-${randomId()}/` });
    const r = await doctor(store);
    const want = Object.fromEntries(
      DOCTOR_CHECKS.map((id) => [id, id === "auth-failure" || id === "object-lock" ? "unsupported" : "ok"]),
    );
    assert.deepEqual(statuses(r), want, JSON.stringify(r.checks, null, 1));
    assert.equal(r.cleanup.ok, true);
    assert.deepEqual(await collect(store.list("")), []);
    recordConformance(ctx, "r2", r);
  });
});

describe("POST /api/tables/:table/doctor", () => {
  const post = (path: string, headers: Record<string, string> = auth) =>
    SELF.fetch(`${BASE}${path}`, { method: "POST", headers });

  it("needs the admin token", async () => {
    const r = await post("/api/tables/doc/doctor", {});
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: string }).error, "Unauthenticated");
  });

  it("probes the table's mirror store: 200 and the report, list-pagination skipped unless asked for", {
    timeout: 60_000,
  }, async () => {
    const table = `doc-${randomId()}`;
    // A table of the SOURCE_TABLES layout exists once its source holds an object (a name nobody
    // configured is a 404: test/workers/table-routing.test.ts).
    await env.SOURCE.put(`tables/${table}/data/seed.parquet`, "x");
    const r = await post(`/api/tables/${table}/doctor`);
    assert.equal(r.status, 200);
    const report = (await r.json()) as DoctorReport;
    assert.equal(report.ok, true);
    assert.equal(report.store, `MIRROR/tables/${table}`);
    assert.deepEqual(
      report.checks.map((c) => c.id),
      DOCTOR_CHECKS.filter((id) => id !== "list-pagination"),
    );
    assert.equal(report.checks.find((c) => c.id === "auth-failure")?.status, "unsupported");
    const left = await collect(new R2Store(env.MIRROR).list(`tables/${table}/`));
    assert.deepEqual(left, [], "the scratch prefix is gone");

    const some = await post(`/api/tables/${table}/doctor?checks=create-only,list-pagination`);
    assert.deepEqual(
      ((await some.json()) as DoctorReport).checks.map((c) => [c.id, c.status]),
      [
        ["create-only", "ok"],
        ["list-pagination", "ok"],
      ],
    );
  });

  it("an unknown check is a 400 naming it", async () => {
    const r = await post("/api/tables/doc/doctor?skip=create-once");
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: string; message: string };
    assert.equal(body.error, "InvalidArgument");
    assert.match(body.message, /skip: unknown check "create-once"/);
  });

  it.skipIf(!rgw)(
    "on an S3 mirror target (RGW), auth-failure shows a wrong secret refused with 403",
    {
      timeout: 60_000,
    },
    async () => {
      // The table's target is an S3 bucket configured by URL, its keys the secrets TEST_S3_*.
      const s3env = {
        ...(env as unknown as Env),
        TABLE_CONFIG: JSON.stringify({
          doc: {
            source: "r2://SOURCE/tables/doc",
            target: {
              url: `s3://${rgw!.bucket}/worker-doctor/?endpoint=${encodeURIComponent(rgw!.endpoint)}&region=${rgw!.region}&path-style=true`,
              credentials: "TEST_S3",
            },
          },
        }),
      };
      const req = new Request(`${BASE}/api/tables/doc/doctor`, { method: "POST", headers: auth });
      const r = await worker.fetch(req, s3env, createExecutionContext());
      const report = (await r.json()) as DoctorReport;
      assert.equal(r.status, 200, JSON.stringify(report.checks, null, 1));
      const authRow = report.checks.find((c) => c.id === "auth-failure");
      assert.equal(authRow?.detail, "refused: PermissionDenied (HTTP 403 SignatureDoesNotMatch)");
      assert.ok(!JSON.stringify(report).includes(rgw!.secretAccessKey), "no secret in the report");
    },
  );
});
