/**
 * A table's retention in the Worker, inside workerd: the `retention` and
 * `lock` settings of a table configuration checked field by field; a table
 * with steady compaction and `keepVersions` mirrored by its Durable Object
 * over many alarms, into an R2 binding and into Ceph RGW through S3. After
 * the alarms the target holds exactly the window, every retained version
 * verifies and restores, an expired one is refused (by the library, the
 * time-travel routes and verify) naming the oldest retained, and the status
 * and `/metrics` figures are the target's; an evicted object reports them
 * again before its next pass.
 */
import { evictAllDurableObjects, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { describe, it } from "vitest";
import {
  type ObjectStore,
  openMirror,
  R2Store,
  referencedFiles,
  restore,
  S3Store,
  verifyMirror,
} from "../../src/index.ts";
import { openTable } from "../../worker/config.ts";
import type { MirrorObjectStatus } from "../../worker/object-state.ts";
import { parseTableConfig } from "../../worker/table-config.ts";
import { EVENTS_SCHEMA } from "../contract/restore.contract.ts";
import { collect, randomId } from "../support/harness.ts";
import { Primary } from "../support/mirror-fixture.ts";
import { motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";
import type { MirrorObject as TestMirrorObject } from "./entry.ts";
import { ADMIN, BASE, driveAlarms, READ, stubOf } from "./support.ts";

const vars = env as unknown as Record<string, string | undefined>;
const fromTestVars = (k: string) => (k === "CI" ? vars.CI || undefined : vars[`TEST_${k}`]);
const rgw = rgwConfig(fromTestVars);
const moto = motoConfig(fromTestVars);

const read = (path: string) => SELF.fetch(`${BASE}${path}`, { headers: READ });
const put = (table: string, body: unknown) =>
  SELF.fetch(`${BASE}/api/tables/${table}`, {
    method: "PUT",
    headers: { ...ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
const keysOf = async (s: ObjectStore) => (await collect(s.list(""))).map((m) => m.key).sort();
const sizeOf = async (s: ObjectStore, key: string) => (await s.head(key)).size;

/** A primary with steady compaction: every commit adds a file, every third also drops the oldest. */
class CompactingTable {
  readonly live: string[] = [];
  #n = 0;
  readonly primary: Primary;
  constructor(primary: Primary) {
    this.primary = primary;
  }
  commit(): Promise<number> {
    const path = `data/f${++this.#n}.parquet`;
    const remove = this.#n % 3 === 0 ? this.live.splice(0, 1) : [];
    this.live.push(path);
    return this.primary.commit([{ path, size: 100 + this.#n }], remove);
  }
}

describe("retention and lock settings of a table", () => {
  const base = { source: "r2://SOURCE/settings/t", target: "r2://MIRROR/settings/t" };
  const check = (input: Record<string, unknown>) => () => {
    const where = "TABLE_CONFIG.orders.";
    openTable(env, "orders", parseTableConfig({ ...base, ...input }, where), "static", where);
  };

  it("every value is checked, the error naming the table's entry and the field", () => {
    for (const [input, message] of [
      [{ retention: 3 }, /TABLE_CONFIG\.orders\.retention must be \{ keepVersions\?/],
      [{ retention: {} }, /TABLE_CONFIG\.orders\.retention needs keepVersions, keepDays, or both/],
      [
        { retention: { keepVersions: 0 } },
        /TABLE_CONFIG\.orders\.retention\.keepVersions must be an integer >= 1, got 0/,
      ],
      [
        { retention: { keepVersions: 2.5 } },
        /TABLE_CONFIG\.orders\.retention\.keepVersions must be an integer/,
      ],
      [{ retention: { keepDays: -1 } }, /TABLE_CONFIG\.orders\.retention\.keepDays must be a number >= 0/],
      [{ retention: { keepDays: "7" } }, /TABLE_CONFIG\.orders\.retention\.keepDays must be a number/],
      [{ retention: { keepVersions: 2, graceMs: -5 } }, /TABLE_CONFIG\.orders\.retention\.graceMs must be/],
      [{ retention: { keepVersions: 2, keep: 1 } }, /TABLE_CONFIG\.orders\.retention: unknown key "keep"/],
      [
        { lock: { mode: "legal-hold", days: 1 } },
        /TABLE_CONFIG\.orders\.lock\.mode must be "governance" or "compliance"/,
      ],
      [{ lock: { mode: "compliance" } }, /TABLE_CONFIG\.orders\.lock\.days is required/],
      [{ lock: { mode: "compliance", days: 0 } }, /TABLE_CONFIG\.orders\.lock\.days must be more than 0/],
      [
        { lock: { mode: "compliance", days: Number.NaN } },
        /TABLE_CONFIG\.orders\.lock\.days must be a number/,
      ],
      [{ lock: "compliance" }, /TABLE_CONFIG\.orders\.lock must be \{ mode/],
    ] as const) {
      assert.throws(check(input), (e: Error) => {
        assert.match(e.message, /^\[InvalidArgument\] /);
        assert.match(e.message, message);
        return true;
      });
    }
  });

  it("a lock shorter than the window is refused as the CLI refuses it, and so is a lock on an R2 binding", () => {
    assert.throws(
      check({ retention: { keepDays: 30 }, lock: { mode: "governance", days: 7 } }),
      /\[InvalidArgument\] TABLE_CONFIG\.orders\.lock\.days \(7\) must be at least retention\.keepDays \(30\)/,
    );
    assert.throws(
      check({ retention: { keepDays: 7 }, lock: { mode: "compliance", days: 30 } }),
      /\[InvalidArgument\] TABLE_CONFIG\.orders\.lock: the target MIRROR\/settings\/t cannot keep an Object Lock retention/,
    );
    check({ retention: { keepVersions: 5, keepDays: 1.5, graceMs: 0 } })();
  });

  it("an admin PUT with a bad retention is a 400 naming the field, and nothing is stored", async () => {
    const table = `ret-bad-${randomId()}`;
    const r = await put(table, {
      source: `r2://SOURCE/ret-bad/${table}`,
      target: `r2://MIRROR/ret-bad/${table}`,
      retention: { keepVersions: 3, keepDays: 2 },
      lock: { mode: "governance", days: 1 },
    });
    assert.equal(r.status, 400);
    assert.match(
      ((await r.json()) as { message: string }).message,
      /lock\.days \(1\) must be at least retention\.keepDays \(2\)/,
    );
    assert.equal((await read(`/api/tables/${table}`)).status, 404);
  });
});

describe("retention inside the alarm's budget", () => {
  it("a table's budget.requests bounds every alarm, retention's requests included", async () => {
    const table = `ret-budget-${randomId()}`;
    const t = new CompactingTable(
      await Primary.open(new R2Store(env.SOURCE, { prefix: `ret-budget/${table}/` })),
    );
    for (let i = 0; i < 12; i++) await t.commit();
    const r = await put(table, {
      source: `r2://SOURCE/ret-budget/${table}`,
      target: `r2://MIRROR/ret-budget-dst/${table}`,
      retention: { keepVersions: 2, graceMs: 0 },
      // A snapshot of one file is 13 requests (its checksum record one PUT of them): the budget fits one.
      budget: { requests: 13 },
    });
    assert.equal(r.status, 200, await r.clone().text());
    // The tests' MirrorObject (entry.ts) records the store requests of each alarm's tick.
    const stub = stubOf(table) as unknown as DurableObjectStub<TestMirrorObject>;
    const status = () => stub.status(table) as Promise<MirrorObjectStatus>;
    await driveAlarms(stub, async () => {
      const s = await status();
      // Caught up, the pass done (the boundary, the sweep), and the next alarm a poll away.
      return (
        s.caughtUp && s.retention?.oldestRetained === 11 && s.retention.totals.passes > 0 && s.nextDelayMs > 0
      );
    });
    const s = await status();
    const perAlarm = await stub.testAlarmRequests();
    assert.equal(s.lastError, null);
    assert.equal(s.budget?.requests, 13);
    // The first alarm's discovery and init of the target are the mirror's own, outside any budget.
    assert.ok(
      perAlarm.length >= 3 && Math.max(...perAlarm.slice(1)) <= 13,
      `requests per alarm: ${perAlarm.join(" ")}`,
    );
    // Retention ran, in budgeted alarms: its requests are among those counted per alarm.
    assert.ok((s.retention?.totals.requests ?? 0) > 0);
    assert.equal(s.retention?.versionsKept, 2);
    assert.equal(s.retention?.totals.versionsExpired, 10);
  });
});

const targets: Array<[string, RgwConfig | undefined | true]> = [
  ["an R2 binding", true],
  ["Ceph RGW through S3", rgw],
];

for (const [name, cfg] of targets) {
  describe.skipIf(cfg === undefined)(`retention of a table mirrored into ${name}`, () => {
    it("keepVersions 3 over many alarms: the target holds exactly the window, each retained version verifies and restores, the expired one is refused naming the oldest retained, status and /metrics are the target's", async () => {
      const table = `ret-${randomId()}`;
      const source = new R2Store(env.SOURCE, { prefix: `ret-src/${table}/` });
      let target: ObjectStore;
      let targetRef: unknown;
      if (cfg === true) {
        target = new R2Store(env.MIRROR, { prefix: `ret-dst/${table}/` });
        targetRef = `r2://MIRROR/ret-dst/${table}`;
      } else {
        const c = cfg as RgwConfig;
        const prefix = `worker-retention/${table}/`;
        target = new S3Store({ ...c, prefix, forcePathStyle: true });
        targetRef = {
          url: `s3://${c.bucket}/${prefix}?endpoint=${encodeURIComponent(c.endpoint)}&region=${c.region}&path-style=true`,
          credentials: "TEST_S3",
        };
      }
      const t = new CompactingTable(await Primary.open(source, { schema: EVENTS_SCHEMA }));
      const r = await put(table, {
        source: `r2://SOURCE/ret-src/${table}`,
        target: targetRef,
        retention: { keepVersions: 3, graceMs: 0 },
      });
      assert.equal(r.status, 200, await r.clone().text());
      assert.deepEqual(((await r.json()) as { config: { retention: unknown } }).config.retention, {
        keepVersions: 3,
        graceMs: 0,
      });

      const stub = stubOf(table);
      const status = () => stub.status(table) as Promise<MirrorObjectStatus>;
      const HEAD = 6;
      const OLDEST = HEAD - 2; // keepVersions 3
      const EXPIRED = OLDEST - 1;
      let alarms = 0;
      for (let i = 0; i < HEAD; i++) {
        const v = await t.commit();
        await stub.kick(table);
        alarms += await driveAlarms(stub, async () => {
          const s = await status();
          return s.mirrorSeq >= v && (v < 3 || s.retention?.oldestRetained === v - 2);
        });
        const s = await status();
        assert.equal(s.lastError, null, JSON.stringify(s.lastError));
        if (v >= 3) assert.equal(s.retention?.oldestRetained, v - 2, `after v${v}`);
      }
      assert.ok(alarms >= HEAD, `${alarms} alarms`);
      // No tick from here on (a status read starts a loop with no alarm: this one is set far ahead).
      await runInDurableObject(stub, (_i, state) => state.storage.setAlarm(Date.now() + 3_600_000));

      // Exactly the window: the manifests of v4..v6 and their checksum records, the files they name, the two pointers.
      const retained = [OLDEST, OLDEST + 1, HEAD];
      const reader = openMirror(target);
      const named = new Set<string>();
      for (const v of retained) for (const f of referencedFiles(await reader.manifest(v))) named.add(f.path);
      assert.deepEqual(
        await keysOf(target),
        [
          ...named,
          "metadata/low_water.txt",
          "metadata/oldest_retained.txt",
          ...retained.map((v) => `metadata/v${v}.manifest.bin`),
          ...retained.map((v) => `_tidemark/checksums/v${v}.sha256`),
        ].sort(),
      );

      // Every retained version verifies and restores; the expired one is refused, naming the oldest retained.
      for (const v of retained) {
        assert.equal((await verifyMirror(target, v)).ok, true, `verify v${v}`);
        const into = new R2Store(env.MIRROR, { prefix: `ret-restored/${table}/v${v}/` });
        const got = await restore({ from: target, to: into, version: v });
        assert.deepEqual(
          got.versions,
          retained.filter((x) => x <= v),
        );
      }
      const expired = new RegExp(
        `snapshot v${EXPIRED} of .* has expired: the oldest version retained is v${OLDEST}`,
      );
      await assert.rejects(
        restore({
          from: target,
          to: new R2Store(env.MIRROR, { prefix: `ret-restored/${table}/v${EXPIRED}/` }),
          version: EXPIRED,
        }),
        expired,
      );
      for (const route of [`snapshots/${EXPIRED}`, `verify/${EXPIRED}`]) {
        const gone = await read(`/api/tables/${table}/${route}`);
        assert.equal(gone.status, 404, route);
        const body = (await gone.json()) as { error: string; message: string };
        assert.equal(body.error, "NotFound");
        assert.match(body.message, expired, route);
      }
      assert.equal((await read(`/api/tables/${table}/snapshots/${OLDEST}`)).status, 200);

      // The figures: what the window names, and what left it, from the stores themselves.
      let bytesRetained = 0;
      for (const p of named) bytesRetained += await sizeOf(target, p);
      for (const v of retained) bytesRetained += await sizeOf(target, `metadata/v${v}.manifest.bin`);
      const sourceReader = openMirror(source);
      const everFiles = new Set<string>();
      let bytesFreed = 0;
      for (let v = 1; v <= EXPIRED; v++) {
        bytesFreed += await sizeOf(source, `metadata/v${v}.manifest.bin`);
        for (const f of referencedFiles(await sourceReader.manifest(v))) everFiles.add(f.path);
      }
      const gone = [...everFiles].filter((p) => !named.has(p));
      assert.ok(gone.length > 0, "a file only expired versions named");
      for (const p of gone) bytesFreed += await sizeOf(source, p);

      const apiStatus = (await (await read(`/api/tables/${table}/status`)).json()) as {
        head: number;
        oldestRetained: number;
        mirror: MirrorObjectStatus;
      };
      assert.deepEqual([apiStatus.head, apiStatus.oldestRetained], [HEAD, OLDEST]);
      const ret = apiStatus.mirror.retention;
      assert.ok(ret, "the status has a retention part");
      assert.equal(ret.oldestRetained, OLDEST);
      assert.equal(ret.versionsKept, 3);
      assert.equal(ret.bytesRetained, bytesRetained);
      assert.equal(ret.waiting, 0);
      assert.ok(ret.lastPassAtMs !== null && ret.lastPassAtMs <= Date.now());
      assert.equal(ret.totals.versionsExpired, EXPIRED);
      assert.equal(ret.totals.filesDeleted, gone.length);
      assert.equal(ret.totals.bytesFreed, bytesFreed);
      assert.ok(ret.totals.passes >= HEAD - 1 && ret.totals.requests > 0);
      // Retention's requests are the target's (metered like the copies): its deletes are counted there.
      const target_ = apiStatus.mirror.cost.usage.target;
      assert.ok(target_.delete + target_.deleteMany >= 1);

      const metrics = await (await read("/metrics")).text();
      const sample = (metric: string) => {
        const m = new RegExp(`^${metric}\\{table="${table}"\\} (\\S+)$`, "m").exec(metrics);
        assert.ok(m, `${metric} of ${table} in /metrics`);
        return Number(m[1]);
      };
      assert.equal(sample("tidemark_retention_oldest_retained_version"), OLDEST);
      assert.equal(sample("tidemark_retention_versions_kept"), 3);
      assert.equal(sample("tidemark_retention_bytes_retained"), bytesRetained);
      assert.equal(sample("tidemark_retention_bytes_freed_total"), bytesFreed);
      assert.equal(sample("tidemark_retention_versions_expired_total"), EXPIRED);
      assert.equal(sample("tidemark_retention_files_deleted_total"), gone.length);
      assert.equal(sample("tidemark_retention_last_pass_timestamp_seconds"), ret.lastPassAtMs / 1000);
      assert.match(metrics, /^# TYPE tidemark_retention_bytes_freed_total counter$/m);

      // An evicted object reports the same figures before its next pass (saved with its state).
      await evictAllDurableObjects();
      assert.deepEqual((await status()).retention, ret);
    });
  });
}

/** The lock of the Object Lock test: short, so that its release is part of the test. */
const LOCK_SECS = 4;

describe.skipIf(moto === undefined)(
  "Object Lock of a table's target, on moto (which enforces it as AWS does)",
  () => {
    it("every data file and manifest is written under the table's lock, the pointers not; the doctor route checks the bucket enforces it; the writer's credentials cannot delete a locked version; retention waits for the lock, never failing, then frees what left the window", async () => {
      const c = moto as RgwConfig;
      const table = `ret-lock-${randomId()}`;
      // A bucket created with Object Lock (so versioned).
      const bucket = `tidemark-wlock-${randomId().slice(0, 8).toLowerCase()}`;
      const aws = new AwsClient({ ...c, service: "s3", retries: 0 });
      const made = await aws.fetch(`${c.endpoint}/${bucket}`, {
        method: "PUT",
        headers: { "x-amz-bucket-object-lock-enabled": "true" },
      });
      assert.equal(made.status, 200, await made.text());
      const prefix = `wlock/${table}/`;
      const primary = await Primary.open(new R2Store(env.SOURCE, { prefix: `wlock-src/${table}/` }));
      // v1..v4; v3 drops v1's file, so once v1 and v2 expire it names nothing kept.
      await primary.commit([{ path: "data/a.parquet", size: 300 }]);
      await primary.commit([{ path: "data/b.parquet", size: 200 }]);
      await primary.commit([{ path: "data/c.parquet", size: 100 }], ["data/a.parquet"]);
      await primary.commit([{ path: "data/d.parquet", size: 50 }]);
      const r = await put(table, {
        source: `r2://SOURCE/wlock-src/${table}`,
        target: {
          url: `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(c.endpoint)}&region=${c.region}&path-style=true`,
          credentials: "TEST_MOTO",
        },
        retention: { keepVersions: 2, graceMs: 0 },
        lock: { mode: "compliance", days: LOCK_SECS / 86_400 },
      });
      assert.equal(r.status, 200, await r.clone().text());
      // The doctor's object-lock check in the table's mode (it waits for its own short retention): meanwhile, the mirror.
      const doctor = SELF.fetch(`${BASE}/api/tables/${table}/doctor?checks=object-lock`, {
        method: "POST",
        headers: ADMIN,
      });
      const started = Date.now();
      const stub = stubOf(table);
      const status = () => stub.status(table) as Promise<MirrorObjectStatus>;
      await driveAlarms(stub, async () => {
        const s = await status();
        return s.mirrorSeq === 4 && s.retention?.oldestRetained === 3;
      });
      let s = await status();
      assert.equal(s.lastError, null, JSON.stringify(s.lastError));
      assert.ok(
        (s.retention?.waiting ?? 0) >= 2,
        `the expired, locked manifests wait: ${JSON.stringify(s.retention)}`,
      );

      const target = new S3Store({ ...c, bucket, prefix, forcePathStyle: true });
      for (const k of [
        "data/a.parquet",
        "data/d.parquet",
        "metadata/v1.manifest.bin",
        "metadata/v4.manifest.bin",
      ]) {
        const lock = (await target.head(k)).lock;
        assert.equal(lock?.mode, "compliance", `${k} is locked`);
        const until = lock?.retainUntil.getTime() ?? 0;
        assert.ok(
          until > started && until <= Date.now() + LOCK_SECS * 1000 + 2000,
          `${k} until ${lock?.retainUntil}`,
        );
      }
      for (const k of ["metadata/low_water.txt", "metadata/oldest_retained.txt"]) {
        assert.equal((await target.head(k)).lock, undefined, `${k} (a pointer) is not locked`);
      }
      // The mirror's own credentials cannot delete a locked version (every version asked for).
      const refused = await target.deleteMany(["metadata/v1.manifest.bin", "data/a.parquet"], {
        allVersions: true,
      });
      assert.ok(Date.now() < started + LOCK_SECS * 1000, "the deletes ran inside the locks");
      assert.deepEqual(refused.errors.map((e) => e.key).sort(), [
        "data/a.parquet",
        "metadata/v1.manifest.bin",
      ]);
      // Readers refuse the expired versions at once, naming the oldest one kept.
      const gone = await read(`/api/tables/${table}/snapshots/1`);
      assert.equal(gone.status, 404);
      assert.match(
        ((await gone.json()) as { message: string }).message,
        /v1 .*has expired: the oldest version retained is v3/,
      );

      const report = (await (await doctor).json()) as {
        ok: boolean;
        checks: Array<{ id: string; status: string }>;
      };
      assert.equal(report.checks.find((x) => x.id === "object-lock")?.status, "ok", JSON.stringify(report));

      // Once the locks end, the next passes free v1, v2 and the file only they named.
      const released = started + LOCK_SECS * 1000 + 1500 - Date.now();
      if (released > 0) await new Promise((r) => setTimeout(r, released));
      await stub.kick(table);
      await driveAlarms(stub, async () => {
        const st = await status();
        return st.retention?.waiting === 0 && st.retention.totals.versionsExpired === 2;
      });
      s = await status();
      assert.equal(s.lastError, null);
      assert.deepEqual(await keysOf(target), [
        "_tidemark/checksums/v3.sha256",
        "_tidemark/checksums/v4.sha256",
        "data/b.parquet",
        "data/c.parquet",
        "data/d.parquet",
        "metadata/low_water.txt",
        "metadata/oldest_retained.txt",
        "metadata/v3.manifest.bin",
        "metadata/v4.manifest.bin",
      ]);
      const metrics = await (await read("/metrics")).text();
      assert.match(metrics, new RegExp(`^tidemark_retention_waiting_deletes\\{table="${table}"\\} 0$`, "m"));
    });
  },
);
