/**
 * `doctor(store)` and `ensureSafeStore` on in-process stores: every check
 * passes on MemoryStore and FileStore, and each broken store fails the check
 * that names its bug; the probe always cleans up after itself.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import {
  DOCTOR_CHECKS,
  type DoctorReport,
  doctor,
  ensureSafeStore,
  MemoryStore,
  metered,
  type ObjectStore,
  SAFE_STORE_CHECKS,
  TidemarkError,
} from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { ignoringCreateOnly, ignoringIfMatch, override, utf16Listing } from "../support/broken-stores.ts";
import { recordConformance } from "../support/conformance.ts";
import { codeOf, collect } from "../support/harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "tidemark-doctor-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const statuses = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
const allOkBut = (except: Record<string, string>) =>
  Object.fromEntries(DOCTOR_CHECKS.map((id) => [id, except[id] ?? "ok"]));

/** Every object left in a store (the probe must leave none). */
const leftovers = async (s: ObjectStore) => (await collect(s.list(""))).map((m) => m.key);

describe("doctor on in-process stores", () => {
  it("passes every check on MemoryStore (auth unsupported) and leaves nothing behind", async (ctx) => {
    const s = new MemoryStore();
    const r = await doctor(s, { listPageKeys: 1001 });
    assert.deepEqual(
      statuses(r),
      allOkBut({ "auth-failure": "unsupported", "object-lock": "unsupported" }),
      JSON.stringify(r.checks, null, 1),
    );
    assert.equal(r.ok, true);
    assert.deepEqual(r.failed, []);
    assert.equal(r.cleanup.ok, true);
    assert.ok(r.cleanup.deleted > 1001, `deleted ${r.cleanup.deleted}`);
    assert.deepEqual(await leftovers(s), []);
    assert.match(r.prefix, /^_tidemark-doctor\/\d+-[0-9a-f]{12}\/$/);
    recordConformance(ctx, "memory", r);
  });

  it("passes every check on FileStore (auth unsupported) and leaves nothing behind", async (ctx) => {
    const s = new FileStore(join(tmp, "fs"));
    const r = await doctor(s, { listPageKeys: 1001 });
    assert.deepEqual(
      statuses(r),
      allOkBut({ "auth-failure": "unsupported", "object-lock": "unsupported" }),
      JSON.stringify(r.checks, null, 1),
    );
    assert.equal(r.cleanup.ok, true);
    assert.deepEqual(await leftovers(s), []);
    recordConformance(ctx, "filestore", r);
  });

  it("object-lock: a store keeping retentions passes (a delete refused until the retention ends, then allowed); one that cannot lock, or does not enforce, fails", async () => {
    let now = 1_800_000_000_000;
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
    };
    const locking = new MemoryStore({ objectLock: true, now: clock.now });
    const ok = await doctor(locking, { checks: ["object-lock"], lock: { mode: "compliance" }, ...clock });
    assert.equal(ok.checks[0]?.status, "ok", ok.checks[0]?.detail);
    assert.match(ok.checks[0]?.detail ?? "", /refused deleting every version \(PermissionDenied\)/);
    assert.deepEqual(await leftovers(locking), []);
    const plain = await doctor(new MemoryStore(), { checks: ["object-lock"], lock: { mode: "governance" } });
    assert.equal(plain.checks[0]?.status, "failed");
    assert.match(plain.checks[0]?.detail ?? "", /retention was refused: \[NotSupported\]/);
    // A store that takes the retention and deletes anyway.
    const lax = override(new MemoryStore({ objectLock: true, now: clock.now }), {
      deleteMany: async () => ({ deleted: 1, errors: [] }),
    });
    const r = await doctor(lax, { checks: ["object-lock"], lock: { mode: "compliance" }, ...clock });
    assert.match(r.checks[0]?.detail ?? "", /every version was deleted before the retention ended/);
    const none = await doctor(new MemoryStore(), { checks: ["object-lock"] });
    assert.equal(none.checks[0]?.status, "unsupported");
  });

  it("a store that ignores If-None-Match fails create-only and concurrent-create, naming what happened", async () => {
    const s = new MemoryStore();
    const r = await doctor(ignoringCreateOnly(s), { listPageKeys: 3 });
    assert.deepEqual(r.failed, ["create-only", "concurrent-create"]);
    assert.equal(r.ok, false);
    const row = (id: string) => r.checks.find((c) => c.id === id);
    assert.match(row("create-only")?.detail ?? "", /second create-only put was accepted .*If-None-Match/);
    assert.match(row("concurrent-create")?.detail ?? "", /^8 concurrent creators: 8 won/);
    assert.deepEqual(await leftovers(s), [], "cleaned up after a failure too");
  });

  it("a store that ignores If-Match fails stale-if-match and if-match-missing", async () => {
    const r = await doctor(ignoringIfMatch(new MemoryStore()), { listPageKeys: 3 });
    assert.deepEqual(r.failed, ["stale-if-match", "if-match-missing"]);
    assert.match(r.checks.find((c) => c.id === "if-match-missing")?.detail ?? "", /missing key was accepted/);
  });

  it("a store that lists in UTF-16 order fails list-order, naming the first difference", async () => {
    const r = await doctor(utf16Listing(new MemoryStore()), { checks: ["list-order"] });
    assert.deepEqual(r.failed, ["list-order"]);
    assert.match(
      r.checks[0]?.detail ?? "",
      /listing order differs at position \d+: expected "\uffef", got "😀"/,
    );
  });

  it("a store with a stale read after an overwrite fails read-after-write", async () => {
    const s = new MemoryStore();
    let stale: Uint8Array | undefined;
    const laggy = override(s, {
      async put(k, b, o) {
        if (k.endsWith("/raw"))
          stale = await s.get(k).then(
            (x) => x.bytes(),
            () => undefined,
          );
        return s.put(k, b, o);
      },
      async get(k, o) {
        const got = await s.get(k, o);
        if (k.endsWith("/raw") && stale) {
          const old = stale;
          stale = undefined;
          return {
            ...got,
            size: old.length,
            bytes: async () => old,
            text: async () => new TextDecoder().decode(old),
          };
        }
        return got;
      },
    });
    const r = await doctor(laggy, { checks: ["read-after-write"] });
    assert.deepEqual(r.failed, ["read-after-write"]);
    assert.match(r.checks[0]?.detail ?? "", /get after overwrite returned "one" \(a stale read\)/);
  });

  it("auth-failure: ok when a wrong secret is PermissionDenied, failed when accepted or misclassified", async () => {
    const s = new MemoryStore();
    const refusing = override(s, {
      put: async () => {
        throw new TidemarkError("PermissionDenied", "s3 put: HTTP 403 SignatureDoesNotMatch: bad signature");
      },
    });
    const ok = await doctor(s, { checks: ["auth-failure"], badCredentials: () => refusing });
    assert.equal(ok.checks[0]?.status, "ok");
    assert.equal(ok.checks[0]?.vendor, "HTTP 403 SignatureDoesNotMatch");
    assert.equal(ok.checks[0]?.detail, "refused: PermissionDenied (HTTP 403 SignatureDoesNotMatch)");
    const accepted = await doctor(s, { checks: ["auth-failure"], badCredentials: s });
    assert.equal(accepted.checks[0]?.status, "failed");
    assert.match(accepted.checks[0]?.detail ?? "", /wrong secret was accepted/);
    assert.deepEqual(await leftovers(s), [], "the accepted put was cleaned up");
    const notFound = override(s, {
      put: async () => {
        throw new TidemarkError("NotFound", "s3 put: HTTP 404 NoSuchBucket");
      },
    });
    const wrong = await doctor(s, { checks: ["auth-failure"], badCredentials: notFound });
    assert.equal(wrong.checks[0]?.status, "failed");
    assert.match(wrong.checks[0]?.detail ?? "", /expected PermissionDenied, got \[NotFound\]/);
  });

  it("a read-only store: every check is unsupported, none failed", async () => {
    const ro = override(new MemoryStore(), {});
    const readOnly: ObjectStore = {
      ...ro,
      capabilities: { write: false, list: false, compareAndSwap: false },
    };
    const r = await doctor(readOnly);
    assert.equal(r.ok, true);
    assert.deepEqual(
      r.checks.filter((c) => c.status !== "unsupported").map((c) => c.id),
      [],
    );
    assert.match(r.checks[0]?.detail ?? "", /no write capability/);
  });

  it("an error is a failed row with its code and the vendor's answer, never a throw", async () => {
    const s = override(new MemoryStore(), {
      put: async () => {
        throw new TidemarkError("Transient", 's3 put "k": HTTP 503 SlowDown: reduce your request rate');
      },
    });
    const r = await doctor(s, { checks: ["create-only", "metadata"] });
    assert.deepEqual(r.failed, ["create-only", "metadata"]);
    assert.equal(r.checks[0]?.errorCode, "Transient");
    assert.equal(r.checks[0]?.vendor, "HTTP 503 SlowDown");
    assert.match(r.checks[0]?.detail ?? "", /^first create: \[Transient\]/);
  });

  it("the clock-skew check fails beyond maxClockSkewMs", async () => {
    const skewed = { now: () => Date.now() + 10 * 60_000 };
    const r = await doctor(new MemoryStore(), { checks: ["clock-skew"], ...skewed });
    assert.equal(r.checks[0]?.status, "failed");
    assert.match(r.checks[0]?.detail ?? "", /store's clock is at least 59\d\.\d s behind; more than 300 s/);
    const tolerant = await doctor(new MemoryStore(), {
      checks: ["clock-skew"],
      maxClockSkewMs: 3_600_000,
      ...skewed,
    });
    assert.equal(tolerant.checks[0]?.status, "ok");
  });

  it("options are checked: an unknown check or a bad count is InvalidArgument naming it", async () => {
    const s = new MemoryStore();
    await assert.rejects(
      doctor(s, { checks: ["create-once" as never] }),
      /\[InvalidArgument\] checks: unknown check "create-once"/,
    );
    await assert.rejects(
      doctor(s, { concurrency: 1 }),
      /\[InvalidArgument\] concurrency must be an integer >= 2/,
    );
    await assert.rejects(doctor(s, { listPageKeys: Number.NaN }), /\[InvalidArgument\] listPageKeys/);
    await assert.rejects(doctor(s, { prefix: "/abs" }), /\[InvalidArgument\] doctor prefix/);
  });
});

describe("ensureSafeStore (fail closed)", () => {
  it("resolves for a store that passes, and probes each check once per store instance", async () => {
    const s = metered(new MemoryStore());
    await ensureSafeStore(s, SAFE_STORE_CHECKS.checkpoint);
    const first = s.counts().put;
    assert.ok(first > 10, `the probe wrote (${first} puts)`);
    await ensureSafeStore(s, SAFE_STORE_CHECKS.checkpoint);
    await ensureSafeStore(s, ["create-only", "list-delimiter"]);
    assert.equal(s.counts().put, first, "cached: no second probe");
    await ensureSafeStore(s, SAFE_STORE_CHECKS.mirror);
    assert.ok(s.counts().put > first, "only the checks not yet run are probed");
    assert.deepEqual(await leftovers(s), []);
  });

  it("concurrent callers share one probe", async () => {
    const s = metered(new MemoryStore());
    await Promise.all([1, 2, 3].map(() => ensureSafeStore(s, ["create-only"])));
    assert.equal(s.counts().put, 2, "one create and one refused second create");
  });

  it("refuses a store that ignores If-None-Match with NotSupported naming the check", async () => {
    const broken = ignoringCreateOnly(new MemoryStore());
    const e = await ensureSafeStore(broken, SAFE_STORE_CHECKS.mirror, { purpose: "Mirror target" }).catch(
      (x) => x,
    );
    assert.equal(await codeOf(Promise.reject(e)), "NotSupported");
    assert.match(
      (e as Error).message,
      /^\[NotSupported\] Mirror target: store memory \(ignores If-None-Match\) is not safe to use: check create-only failed \(a second create-only put is refused and the body is unchanged\): a second create-only put was accepted/,
    );
    // The verdict is cached: the same refusal, without probing again.
    await assert.rejects(ensureSafeStore(broken, ["create-only"]), /check create-only failed/);
  });

  it("a transient failure is Transient and not cached: the next call probes again", async () => {
    const s = new MemoryStore();
    let down = true;
    const flaky = override(s, {
      put: (k, b, o) =>
        down ? Promise.reject(new TidemarkError("Transient", "network error")) : s.put(k, b, o),
    });
    await assert.rejects(
      ensureSafeStore(flaky, ["create-only"]),
      /^TidemarkError: \[Transient\] cannot tell whether store/,
    );
    down = false;
    await ensureSafeStore(flaky, ["create-only"]);
  });

  it("an unknown check id is InvalidArgument", async () => {
    await assert.rejects(ensureSafeStore(new MemoryStore(), ["nope" as never]), /\[InvalidArgument\]/);
  });
});
