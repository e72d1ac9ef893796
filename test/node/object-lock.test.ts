/**
 * Object Lock on real S3 servers (moto, which follows AWS, and Ceph RGW 16),
 * read back by boto3 (AWS's own SDK): a mirror with `lock` writes every data
 * file and manifest under a retention boto3 reads, never the pointers; the
 * writer's own credentials cannot delete a locked version, and a write over
 * a locked key leaves its version intact; retention refuses the expired
 * versions to readers at once, waits (never fails) while their locks hold,
 * then frees every version of them.
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run test/node/object-lock.test.ts
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { LOW_WATER_KEY, RETENTION_KEY } from "../../src/catalog/layout.ts";
import { runCli } from "../../src/cli/main.ts";
import { DOCTOR_CHECKS } from "../../src/doctor/checks.ts";
import { doctor } from "../../src/doctor/doctor.ts";
import { Mirror } from "../../src/mirror/mirror.ts";
import { openMirror } from "../../src/mirror/reader.ts";
import { FileStore } from "../../src/node/fs-store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { EVENTS_SCHEMA } from "../contract/restore.contract.ts";
import { boto3, boto3Available, lockBucket } from "../support/boto3.ts";
import { recordConformance } from "../support/conformance.ts";
import { codeOf, uniquePrefix } from "../support/harness.ts";
import { fileBytes, Primary } from "../support/mirror-fixture.ts";
import { motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";

const servers: [string, RgwConfig | undefined][] = [
  ["moto", motoConfig((k) => process.env[k])],
  ["Ceph RGW", rgwConfig((k) => process.env[k])],
];
const haveBoto3 = boto3Available("Object Lock tests");
/**
 * The lock of the tests: short, so that its release is part of the test. The tamper step runs
 * 6-7 s after the first put on this machine alone (the mirror's tick about 1 s, boto3's process
 * most of the rest), over 10 s beside the doctor suites on a loaded machine.
 */
const LOCK_SECS = 12;
const md5hex = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const tmp = mkdtempSync(join(tmpdir(), "tidemark-lock-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `tidemark ...` in-process with the S3 credentials of `cfg` in its environment: exit code and output. */
async function tidemark(cfg: RgwConfig, ...argv: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: cfg.accessKeyId,
    AWS_SECRET_ACCESS_KEY: cfg.secretAccessKey,
    AWS_REGION: cfg.region,
  };
  const code = await runCli(argv, {
    io: { stdout: (t) => out.push(t), stderr: (t) => out.push(t), stderrIsTTY: false },
    env: (name) => env[name],
    waitForStop: () => new Promise<void>(() => {}),
  });
  return { code, out: out.join("") };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface VersionRow {
  key: string;
  version_id: string;
  latest: boolean;
  delete_marker: boolean;
  mode: string | null;
  until: string | null;
}

describe.concurrent("Object Lock", () => {
  for (const [name, cfg] of servers) {
    describe.skipIf(!cfg || !haveBoto3)(`on ${name}`, () => {
      const c = cfg as RgwConfig;

      // The CLI end to end on Ceph RGW (the library's test below runs on both servers).
      if (name === "Ceph RGW")
        it("tidemark mirror --keep-versions --lock end to end: runs that expire versions under their locks, restore of every retained version, an expired one refused, then the locks released and every version freed", async () => {
          const bucket = await lockBucket(c);
          const prefix = uniquePrefix("cli");
          // RGW 16 refuses If-Match on a versioned bucket: the pointers are overwritten and read back.
          const url = `s3://${bucket}/${prefix}?endpoint=${c.endpoint}&compare-and-swap=false`;
          const dir = mkdtempSync(join(tmp, "primary-"));
          const primary = await Primary.open(new FileStore(dir), { schema: EVENTS_SCHEMA });
          // Each version replaces the one file of the last: what leaves the window names files nothing keeps.
          const commit = (n: number) =>
            primary.commit(
              [{ path: `data/f${n}.parquet`, size: 40 + n }],
              n > 1 ? [`data/f${n - 1}.parquet`] : [],
            );
          const mirror = async () => {
            const r = await tidemark(
              c,
              "mirror",
              "--from",
              dir,
              "--to",
              url,
              "--keep-versions",
              "2",
              "--lock",
              "compliance",
              "--lock-days",
              String(LOCK_SECS / 86_400),
              "--json",
            );
            assert.equal(r.code, 0, r.out);
            return JSON.parse(r.out).retention as {
              oldestRetained: number;
              waiting: number;
              versionsKept: number;
            };
          };
          for (let n = 1; n <= 3; n++) await commit(n);
          assert.equal((await mirror()).oldestRetained, 2);
          // Every lock of the first run started before it ended.
          const firstRunEnded = Date.now();
          for (let n = 4; n <= 5; n++) await commit(n);
          const second = await mirror();
          assert.deepEqual([second.oldestRetained, second.versionsKept], [4, 2]);
          assert.ok(second.waiting >= 3, "v1..v3 wait for their locks");
          // inspect shows the boundary, and the chain stops there.
          const inspected = await tidemark(c, "inspect", url, "--json");
          assert.equal(inspected.code, 0, inspected.out);
          const report = JSON.parse(inspected.out) as {
            oldestRetained: number;
            chainEnd: string;
            chain: unknown[];
          };
          assert.deepEqual([report.oldestRetained, report.chainEnd, report.chain.length], [4, "boundary", 2]);
          // The restore drill: every retained version restores; an expired one is refused, naming the oldest kept.
          for (const v of [4, 5]) {
            const into = mkdtempSync(join(tmp, `restore-${v}-`));
            const r = await tidemark(
              c,
              "restore",
              "--from",
              url,
              "--to",
              into,
              "--version",
              String(v),
              "--json",
            );
            assert.equal(r.code, 0, r.out);
          }
          const refused = await tidemark(
            c,
            "restore",
            "--from",
            url,
            "--to",
            mkdtempSync(join(tmp, "r-")),
            "--version",
            "3",
          );
          assert.notEqual(refused.code, 0);
          assert.match(
            refused.out,
            /snapshot v3 of s3:\/\/.* has expired: the oldest version retained is v4/,
          );
          // Once released, the next run frees every version of what left the window.
          await sleep(Math.max(0, firstRunEnded + LOCK_SECS * 1000 + 1500 - Date.now()));
          const third = await mirror();
          assert.equal(third.waiting, 0);
          const rows = await boto3<VersionRow[]>(c, "lock-report", { bucket, prefix });
          const left = new Set(rows.map((r) => r.key.slice(prefix.length)));
          for (const v of [1, 2, 3]) assert.ok(!left.has(`metadata/v${v}.manifest.bin`), `v${v} freed`);
          assert.ok(!left.has("data/f1.parquet") && left.has("data/f5.parquet"));
        }, 60_000);

      it("doctor --lock on an Object Lock bucket enforces the retention (the conformance column); on Ceph RGW 16 a versioned bucket ignores If-None-Match and refuses If-Match", async (ctx) => {
        const bucket = await lockBucket(c);
        const checks = DOCTOR_CHECKS.filter((id) => id !== "list-pagination" && id !== "auth-failure");
        const r = await doctor(new S3Store({ ...c, bucket }), { checks, lock: { mode: "compliance" } });
        // moto records a SHA-256 given before the body without checking it (as on any moto bucket).
        const failed =
          name === "moto" ? ["sha256-checked"] : ["create-only", "concurrent-create", "stale-if-match"];
        assert.deepEqual(r.failed, failed, JSON.stringify(r.checks, null, 1));
        assert.equal(r.checks.find((x) => x.id === "object-lock")?.status, "ok");
        assert.equal(r.cleanup.ok, true, r.cleanup.detail);
        recordConformance(ctx, name === "moto" ? "moto-lock" : "rgw-lock", r);
      }, 60_000);

      it("a mirror with lock writes files and manifests under a retention boto3 reads, the pointers unlocked; the writer's credentials cannot delete a locked version; retention waits for the lock, then frees every version", async () => {
        const bucket = await lockBucket(c);
        const prefix = uniquePrefix("lock");
        const target = new S3Store({ ...c, bucket, prefix, retry: { maxAttempts: 3 } });
        const primary = await Primary.open(new MemoryStore({ name: "primary" }));
        const errors: string[] = [];
        const mirror = new Mirror({
          source: primary.store,
          target,
          lock: { mode: "compliance", days: LOCK_SECS / 86_400 },
          retention: { keepVersions: 2, graceMs: 0 },
          onError: (e) => errors.push(e.message),
          lagAlertSecs: 0,
        });
        // v1..v4; v3 drops v1's file, so once v1 and v2 expire it names nothing kept.
        await primary.commit([{ path: "data/a.parquet", size: 300 }]);
        await primary.commit([{ path: "data/b.parquet", size: 200 }]);
        await primary.commit([{ path: "data/c.parquet", size: 100 }], ["data/a.parquet"]);
        await primary.commit([{ path: "data/d.parquet", size: 50 }]);
        const started = Date.now();
        await mirror.tick();
        // Every lock the mirror wrote started before its tick ended.
        const tickEnded = Date.now();
        assert.deepEqual(errors, []);
        const s = mirror.status();
        assert.equal(s.mirrorSeq, 4);
        assert.equal(s.retention?.oldestRetained, 3);
        assert.ok((s.retention?.waiting ?? 0) >= 2, "the expired, locked manifests wait");
        // Readers refuse the expired versions at once, naming the oldest one kept.
        const reader = openMirror(target);
        await assert.rejects(reader.manifest(1), /v1 .*has expired: the oldest version retained is v3/);
        // A tick while the locks hold waits: no failure.
        await mirror.tick();
        assert.equal(mirror.status().lastError, null);
        assert.ok((mirror.status().retention?.waiting ?? 0) >= 2);
        // The store's own deletes of a locked object are refused too (reported per key).
        const scratch = `${prefix}scratch`;
        const locked = new S3Store({ ...c, bucket, prefix: scratch });
        const body = fileBytes("scratch", 64);
        await locked.put("x", body, {
          lock: { mode: "compliance", retainUntil: new Date(started + LOCK_SECS * 1000) },
        });
        assert.equal((await locked.deleteMany(["x"], { allVersions: true })).errors.length, 1);

        // boto3, in one process well inside the locks: the retention of everything the mirror
        // wrote; the writer's own credentials cannot delete a locked version, and a write over a
        // locked key leaves its version whole.
        const t = await boto3<{
          report: VersionRow[];
          delete: { status: number; code: string | null }[];
          delete_objects: { key: string; code: string }[];
          overwrite: { status: number; old_md5: string }[];
        }>(c, "tamper", {
          bucket,
          report_prefix: prefix,
          delete_keys: [`${prefix}metadata/v1.manifest.bin`, `${prefix}data/a.parquet`],
          overwrite: [`${scratch}/x`],
        });
        assert.ok(Date.now() < started + LOCK_SECS * 1000, "boto3 ran inside the locks");
        const byKey = new Map(t.report.map((r) => [r.key.slice(prefix.length), r]));
        for (const k of [
          "data/a.parquet",
          "data/b.parquet",
          "data/c.parquet",
          "data/d.parquet",
          "metadata/v1.manifest.bin",
          "metadata/v4.manifest.bin",
          "_tidemark/checksums/v1.sha256",
          "_tidemark/checksums/v4.sha256",
        ]) {
          const r = byKey.get(k);
          assert.equal(r?.mode, "COMPLIANCE", `${k} is locked`);
          const until = Date.parse(r?.until ?? "");
          assert.ok(
            until > started && until <= Date.now() + LOCK_SECS * 1000 + 2000,
            `${k} until ${r?.until}`,
          );
        }
        for (const k of [LOW_WATER_KEY, RETENTION_KEY]) {
          assert.equal(byKey.get(k)?.mode ?? null, null, `${k} (a pointer) is not locked`);
        }
        assert.deepEqual(
          t.delete.map((d) => d.code),
          ["AccessDenied", "AccessDenied"],
        );
        assert.equal(t.delete_objects.length, 2, "DeleteObjects refuses both versions");
        assert.equal(t.overwrite[0]?.old_md5, md5hex(body), "the locked version keeps its bytes");

        // A locked put carries the integrity header AWS requires with a retention: the SHA-256 the
        // mirror records, where the server keeps one (moto: S3's own checksum of each file and
        // manifest, which hashlib agrees with), else Content-MD5 (RGW 16 keeps no checksum).
        const sums = await boto3<{ key: string; s3_sha256: string | null; sha256_b64: string }[]>(
          { ...c, bucket },
          "sums",
          { prefix: `${prefix}data/` },
        );
        assert.equal(sums.length, 4);
        for (const x of sums) assert.equal(x.s3_sha256, name === "moto" ? x.sha256_b64 : null, x.key);

        // Once released, every version of what left the window goes (and the expired versions' records).
        await sleep(Math.max(0, tickEnded + LOCK_SECS * 1000 + 1500 - Date.now()));
        await mirror.tick();
        const after = mirror.status().retention;
        assert.deepEqual(errors, []);
        assert.equal(after?.waiting, 0);
        assert.equal(after?.totals.versionsExpired, 2);
        const left = await boto3<VersionRow[]>(c, "lock-report", { bucket, prefix });
        const keys = new Set(left.map((r) => r.key.slice(prefix.length)));
        for (const k of [
          "metadata/v1.manifest.bin",
          "metadata/v2.manifest.bin",
          "data/a.parquet",
          "_tidemark/checksums/v1.sha256",
          "_tidemark/checksums/v2.sha256",
        ]) {
          assert.ok(!keys.has(k), `${k}: every version deleted (no delete marker left)`);
        }
        for (const k of [
          "metadata/v3.manifest.bin",
          "metadata/v4.manifest.bin",
          "data/b.parquet",
          "_tidemark/checksums/v3.sha256",
        ]) {
          assert.ok(keys.has(k), `${k} is kept`);
        }
        assert.equal((await locked.deleteMany(["x"], { allVersions: true })).errors.length, 0);
        assert.equal(await codeOf(reader.manifest(2)), "NotFound");
      }, 60_000);
    });
  }
});
