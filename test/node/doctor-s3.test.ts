/**
 * `doctor` on real S3 servers: Ceph RGW and moto pass every check they can
 * honestly take, the vendors' answers show in the rows (RGW answers If-Match
 * on a missing key with 412, moto, like AWS, with 404 NoSuchKey: both are
 * PreconditionFailed), and a store that drops If-None-Match fails the
 * create-only checks by name. Each run feeds docs/conformance.md.
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project node test/node/doctor-s3.test.ts
 */
import assert from "node:assert/strict";
import { afterAll, describe, it } from "vitest";
import {
  DOCTOR_CHECKS,
  type DoctorReport,
  doctor,
  ensureSafeStore,
  S3Store,
  type S3StoreOptions,
  SAFE_STORE_CHECKS,
} from "../../src/index.ts";
import { recordConformance } from "../support/conformance.ts";
import { type DroppingProxy, startDroppingProxy } from "../support/dropping-proxy.ts";
import { collect } from "../support/harness.ts";
import { motoAuthConfig, motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";

const rgw = rgwConfig((k) => process.env[k]);
const moto = motoConfig((k) => process.env[k]);
const motoAuth = motoAuthConfig((k) => process.env[k]);

const s3 = (c: RgwConfig, extra: Partial<S3StoreOptions> = {}) =>
  new S3Store({ ...c, forcePathStyle: true, ...extra });
const wrongSecret = (c: RgwConfig) => () => s3(c, { secretAccessKey: "tidemark-doctor-wrong-secret" });
const row = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id);
const statuses = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
/** A store that records no SHA-256 with an object (where tidemark's per-version records alone hold them). */
const RECORDS_NO_SHA256 = { "sha256-recorded": "unsupported", "sha256-checked": "unsupported" };
// object-lock needs a lock setting (doctor --lock), given on the Object Lock buckets of object-lock.test.ts.
const allOkBut = (except: Record<string, string>) =>
  Object.fromEntries(
    DOCTOR_CHECKS.map((id) => [id, except[id] ?? (id === "object-lock" ? "unsupported" : "ok")]),
  );

async function assertClean(store: S3Store, r: DoctorReport): Promise<void> {
  assert.equal(r.cleanup.ok, true, r.cleanup.detail);
  assert.deepEqual(await collect(store.list(r.prefix)), [], "no scratch object left");
}

describe.skipIf(!rgw)("doctor on Ceph RGW", () => {
  it("passes every check; the rows carry RGW's answers; it records no SHA-256 checksum", {
    timeout: 120_000,
  }, async (ctx) => {
    const store = s3(rgw!);
    const r = await doctor(store, { badCredentials: wrongSecret(rgw!) });
    // RGW 16 ignores x-amz-checksum-sha256 and refuses aws-chunked trailers: S3Store sends neither there.
    assert.deepEqual(statuses(r), allOkBut(RECORDS_NO_SHA256), JSON.stringify(r.checks, null, 1));
    assert.equal(row(r, "create-only")?.vendor, "HTTP 412 PreconditionFailed");
    assert.equal(row(r, "if-match-missing")?.vendor, "HTTP 412 PreconditionFailed");
    assert.equal(
      row(r, "auth-failure")?.detail,
      "refused: PermissionDenied (HTTP 403 SignatureDoesNotMatch)",
    );
    await assertClean(store, r);
    recordConformance(ctx, "rgw", r);
  });
});

describe.skipIf(!moto)("doctor on moto", () => {
  it("passes every check but auth-failure (this moto checks no signatures) and sha256-checked (it records a checksum unchecked)", {
    timeout: 120_000,
  }, async (ctx) => {
    const store = s3(moto!);
    const r = await doctor(store, { badCredentials: wrongSecret(moto!) });
    assert.deepEqual(
      statuses(r),
      allOkBut({ "auth-failure": "failed", "sha256-checked": "failed" }),
      JSON.stringify(r.checks, null, 1),
    );
    assert.match(row(r, "sha256-checked")?.detail ?? "", /wrong SHA-256 recorded/);
    assert.match(row(r, "auth-failure")?.detail ?? "", /wrong secret was accepted/);
    // AWS's answer to If-Match on a missing key (RGW's is 412): the same PreconditionFailed.
    assert.equal(row(r, "if-match-missing")?.vendor, "HTTP 404 NoSuchKey");
    assert.equal(
      row(r, "if-match-missing")?.detail,
      "refused: PreconditionFailed (HTTP 404 NoSuchKey); nothing created",
    );
    await assertClean(store, r);
    recordConformance(ctx, "moto", r);
  });
});

describe.skipIf(!motoAuth)("doctor on the moto that checks signatures", () => {
  it("auth-failure is ok (403 SignatureDoesNotMatch); moto's own signature bug fails the listings and odd keys", {
    timeout: 120_000,
  }, async (ctx) => {
    const store = s3(motoAuth!);
    const r = await doctor(store, { badCredentials: wrongSecret(motoAuth!) });
    const listings = [
      "list-after-write",
      "list-order",
      "list-pagination",
      "list-start-after",
      "list-delimiter",
    ];
    assert.deepEqual(
      statuses(r),
      allOkBut({ ...Object.fromEntries(listings.map((id) => [id, "failed"])), "sha256-checked": "failed" }),
      JSON.stringify(r.checks, null, 1),
    );
    assert.equal(row(r, "auth-failure")?.vendor, "HTTP 403 SignatureDoesNotMatch");
    // moto refuses correctly signed requests whose query has a "/" (prefix=a/) or whose key is
    // percent-encoded (é, +, =): boto3 is refused the same way (test/node/boto3-interop.test.ts).
    for (const id of listings) assert.equal(row(r, id)?.vendor, "HTTP 403 SignatureDoesNotMatch", id);
    assert.equal(r.cleanup.ok, true, r.cleanup.detail);
    recordConformance(ctx, "moto-auth", r);
  });
});

describe.skipIf(!moto)("doctor on a store that drops If-None-Match", () => {
  let proxy: DroppingProxy | undefined;
  afterAll(() => proxy?.close());

  it("fails create-only and concurrent-create, naming what the store did", {
    timeout: 120_000,
  }, async (ctx) => {
    proxy = await startDroppingProxy(moto!.endpoint, ["if-none-match"]);
    const broken = s3({ ...moto!, endpoint: proxy.endpoint });
    const r = await doctor(broken, { badCredentials: wrongSecret({ ...moto!, endpoint: proxy.endpoint }) });
    assert.deepEqual(r.failed, ["create-only", "concurrent-create", "sha256-checked", "auth-failure"]);
    assert.match(
      row(r, "create-only")?.detail ?? "",
      /second create-only put was accepted \(the store ignores If-None-Match: \*\)/,
    );
    assert.match(row(r, "concurrent-create")?.detail ?? "", /^8 concurrent creators: 8 won/);
    await assertClean(s3(moto!), r);
    recordConformance(ctx, "drops-if-none-match", r);
    // Failing closed: a Mirror, Catalog or CheckpointStore given this store refuses it.
    await assert.rejects(
      ensureSafeStore(broken, SAFE_STORE_CHECKS.catalog, { purpose: "Catalog" }),
      /\[NotSupported\] Catalog: store s3:\/\/test-bucket is not safe to use: check create-only failed/,
    );
  });
});
