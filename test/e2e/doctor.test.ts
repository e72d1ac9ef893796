/**
 * `tidemark doctor` as users run it (the built bin under the system Node 20,
 * the source under Deno): it passes on Ceph RGW and on moto, fails naming
 * the check on a store that drops If-None-Match, and its exit codes and
 * `--json` are what a script can rely on.
 * Run: npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- npx vitest run --project e2e test/e2e/doctor.test.ts
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { DoctorReport } from "../../src/index.ts";
import { freePort } from "../services/rgw.ts";
import { type DroppingProxy, startDroppingProxy } from "../support/dropping-proxy.ts";
import { motoAuthConfig, motoConfig } from "../support/moto.ts";
import { type RgwConfig, rgwConfig } from "../support/rgw.ts";

const root = join(import.meta.dirname, "..", "..");
const denoBin = existsSync(join(root, "node_modules/.bin/deno"))
  ? join(root, "node_modules/.bin/deno")
  : "deno";
const node20 = ["/usr/bin/node", join(root, "dist/cli/bin.js")];
const deno = [denoBin, "run", "-A", join(root, "src/cli/bin.ts")];
const rgw = rgwConfig((k) => process.env[k]);
const moto = motoConfig((k) => process.env[k]);
const motoAuth = motoAuthConfig((k) => process.env[k]);

// No AWS_* or S3_* from the caller's environment: each run passes what it means.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && !k.startsWith("S3_")),
) as Record<string, string>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(argv: string[], args: string[], env: Record<string, string> = {}): Promise<Run> {
  const [cmd, ...pre] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd ?? "", [...pre, ...args], {
      cwd: root,
      env: { ...baseEnv, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The store URL and credentials of an S3 server. */
function s3(c: RgwConfig, endpoint = c.endpoint): { url: string; env: Record<string, string> } {
  return {
    url: `s3://${c.bucket}/cli-doctor?endpoint=${encodeURIComponent(endpoint)}&region=${c.region}&path-style=true`,
    env: { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey },
  };
}

const statuses = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));

beforeAll(() => {
  const r = spawnSync("npm", ["run", "-s", "build"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}\n${r.stderr}`);
}, 120_000);

describe("tidemark doctor", () => {
  it("memory: one row per check, exit 0; --json is the report", async () => {
    const text = await run(node20, ["doctor", "memory:", "--skip", "list-pagination"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^doctor memory: \(18 checks\)\n/);
    assert.match(
      text.stdout,
      /\n {2}ok {11}create-only {8}second create refused: AlreadyExists; body unchanged\n/,
    );
    assert.match(text.stdout, /\n {2}unsupported {2}auth-failure {7}no credentials to falsify/);
    assert.match(
      text.stdout,
      /\n18 checks: 16 ok, 0 failed, 2 unsupported \([\d.]+ s\); \d+ scratch objects deleted\n$/,
    );
    assert.equal(text.stderr, "");
    const json = await run(node20, ["doctor", "memory:", "--checks", "create-only,metadata", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as DoctorReport;
    assert.deepEqual(
      [report.ok, report.store, statuses(report)],
      [true, "memory:", { "create-only": "ok", metadata: "ok" }],
    );
  });

  it("usage errors are one line and exit 2: an unknown check, a bad count", async () => {
    const unknown = await run(node20, ["doctor", "memory:", "--skip", "create-once"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /^tidemark: \[InvalidArgument\] --skip: unknown check "create-once" \(known: create-only, /,
    );
    const count = await run(node20, ["doctor", "memory:", "--concurrency", "1"]);
    assert.equal(count.code, 2);
    assert.match(
      count.stderr,
      /^tidemark: \[InvalidArgument\] concurrency must be an integer >= 2 and <= 64, got 1\n$/,
    );
  });

  it("an unreachable store: the failed rows are transient, exit 4 (run it again later)", async () => {
    const port = await freePort();
    const r = await run(
      node20,
      ["doctor", `s3://b?endpoint=http://127.0.0.1:${port}&path-style=true`, "--checks", "create-only"],
      {
        AWS_ACCESS_KEY_ID: "id",
        AWS_SECRET_ACCESS_KEY: "secret",
      },
    );
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /FAILED {7}create-only {8}first create: \[Transient\] s3 put .*network error/);
    // The scratch key may have landed before the network failed: cleanup is tried (every version:
    // it asks first whether the bucket keeps any), and it says it failed.
    assert.equal(
      r.stderr,
      "tidemark: doctor: deleting the scratch prefix failed: [Transient] s3 get bucket versioning: network error\n" +
        "tidemark: doctor: 1 failed: create-only\n",
    );
  });

  it.skipIf(!rgw)(
    "passes every check on Ceph RGW (Node 20 and Deno), a wrong secret refused with 403",
    {
      timeout: 120_000,
    },
    async () => {
      const { url, env } = s3(rgw!);
      for (const argv of [node20, deno]) {
        const r = await run(argv, ["doctor", url, "--json"], env);
        assert.equal(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout) as DoctorReport;
        assert.equal(report.ok, true, JSON.stringify(report.checks, null, 1));
        assert.equal(report.checks.length, 19);
        assert.equal(
          report.checks.find((c) => c.id === "auth-failure")?.detail,
          "refused: PermissionDenied (HTTP 403 SignatureDoesNotMatch)",
        );
        assert.ok(!r.stdout.includes(rgw!.secretAccessKey) && !r.stderr.includes(rgw!.secretAccessKey));
      }
    },
  );

  it.skipIf(!moto || !motoAuth)(
    "passes on moto: every check but auth-failure where signatures are unchecked, auth-failure where they are",
    {
      timeout: 120_000,
    },
    async () => {
      const open = s3(moto!);
      const all = await run(node20, ["doctor", open.url, "--skip", "auth-failure,sha256-checked"], open.env);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /\n17 checks: 16 ok, 0 failed, 1 unsupported/);
      assert.match(
        all.stdout,
        /if-match-missing {3}refused: PreconditionFailed \(HTTP 404 NoSuchKey\); nothing created/,
      );
      const unchecked = await run(node20, ["doctor", open.url, "--checks", "auth-failure"], open.env);
      assert.equal(unchecked.code, 1);
      assert.match(
        unchecked.stdout,
        /FAILED {7}auth-failure {7}a put signed with a wrong secret was accepted/,
      );
      const checked = s3(motoAuth!);
      const authOk = await run(
        node20,
        ["doctor", checked.url, "--checks", "auth-failure,create-only"],
        checked.env,
      );
      assert.equal(authOk.code, 0, authOk.stdout + authOk.stderr);
      assert.match(
        authOk.stdout,
        /ok {11}auth-failure {7}refused: PermissionDenied \(HTTP 403 SignatureDoesNotMatch\)/,
      );
    },
  );

  describe.skipIf(!moto)("on a store that drops If-None-Match", () => {
    let proxy: DroppingProxy | undefined;
    afterAll(() => proxy?.close());

    it("fails, naming create-only and concurrent-create; exit 1 (Node 20 and Deno)", {
      timeout: 120_000,
    }, async () => {
      proxy = await startDroppingProxy(moto!.endpoint, ["if-none-match"]);
      const { url, env } = s3(moto!, proxy.endpoint);
      for (const argv of [node20, deno]) {
        const r = await run(
          argv,
          ["doctor", url, "--checks", "create-only,concurrent-create,stale-if-match"],
          env,
        );
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stdout,
          /\n {2}FAILED {7}create-only {8}a second create-only put was accepted \(the store ignores If-None-Match: \*\)/,
        );
        assert.match(r.stdout, /\n {2}FAILED {7}concurrent-create {2}8 concurrent creators: 8 won/);
        assert.match(r.stdout, /\n {2}ok {11}stale-if-match /);
        assert.equal(r.stderr, "tidemark: doctor: 2 failed: create-only, concurrent-create\n");
      }
      const json = await run(node20, ["doctor", url, "--checks", "create-only", "--json"], env);
      assert.equal(json.code, 1);
      assert.deepEqual((JSON.parse(json.stdout) as DoctorReport).failed, ["create-only"]);
    });
  });
});
