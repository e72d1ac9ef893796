/**
 * The real `tidemark` binary, as users run it: built dist/ under the system
 * Node (20) and the source under Deno, against local directories, memory:demo
 * and Ceph RGW (S3). Tables and checkpoints are written in-process through
 * the library, then inspected, mirrored, verified and pruned by the binary.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { seedDemo } from "../../src/demo/writer.ts";
import { Catalog, CheckpointStore, type ObjectStore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { ORDERS } from "../contract/rows.contract.ts";
import { randomId } from "../support/harness.ts";
import { interopPython } from "../support/interop.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";
import { rgwConfig } from "../support/rgw.ts";
import { RowsFixture } from "../support/rows-fixture.ts";
import { type FixtureCase, parseBundle, rootOf, writeRoot } from "../support/state-v2-fixtures.ts";

const root = join(import.meta.dirname, "..", "..");
const systemNode = "/usr/bin/node";
const denoBin = existsSync(join(root, "node_modules/.bin/deno"))
  ? join(root, "node_modules/.bin/deno")
  : "deno";
const tmp = mkdtempSync(join(tmpdir(), "tidemark-cli-"));
const rgw = rgwConfig((k) => process.env[k]);
const stateV2 = parseBundle(readFileSync(join(root, "test/fixtures/laminardb-state-v2.json"), "utf8"));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** How each runtime starts the CLI. */
const runtimes: Record<string, string[]> = {
  "node20 dist": [systemNode, join(root, "dist/cli/bin.js")],
  "deno source": [denoBin, "run", "-A", join(root, "src/cli/bin.ts")],
};

// No AWS_* or S3_* from the caller's environment: each test passes what it means.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && !k.startsWith("S3_")),
) as Record<string, string>;

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

/** Runs the CLI with a stdout whose reader has gone away before it writes (as after `| head -1`). */
function runClosingEarly(argv: string[], args: string[]): Promise<Run> {
  const [cmd, ...pre] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd ?? "", [...pre, ...args], {
      cwd: root,
      env: { ...baseEnv, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stdout.destroy();
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: "", stderr }));
  });
}

let orders: string | undefined | null = null;
/**
 * A merutable table written by pyarrow (test/support/rows-fixture.ts): v1
 * three rows with Int64 keys beyond 2^53, v2 a delete, an update and an
 * insert. `undefined` without pyarrow (loud skip; a failure under CI=true).
 */
function ordersTable(): string | undefined {
  if (orders !== null) return orders;
  const py = interopPython();
  if (!py) {
    orders = undefined;
    return orders;
  }
  const big = 2n ** 53n + 1n;
  const fx = new RowsFixture(ORDERS, { stringColumns: ["region", "customer"] });
  const row = (region: string, id: bigint, n: number, customer = `c${n}`) => [
    region,
    id,
    customer,
    n / 2,
    n,
    n % 2 === 0,
    n % 2 ? Uint8Array.of(1, 0, 255) : null,
  ];
  fx.flush([{ put: row("eu", -big, 0) }, { put: row("eu", big, 1) }, { put: row("eu\u0000", 5n, 2) }]);
  fx.flush([
    { del: row("eu", -big, 0) },
    { put: row("eu", big, 1, "changed") },
    { put: ["us", 7n, null, null, 7, null, null] },
  ]);
  const dir = join(tmp, `orders-${randomId()}`);
  fx.write(py, dir);
  orders = dir;
  return dir;
}

/** Asserts the one-line error contract: `tidemark: [Code] ...`, no stack trace. */
function assertOneLineError(r: Run, code: string): void {
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] ?? "", new RegExp(`^tidemark: \\[${code}\\] `));
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
}

const enc = new TextEncoder();

/** A table of three snapshots on `store` (files before manifests, as a primary writes). */
async function seedTable(store: ObjectStore, tag: string): Promise<void> {
  const c = await Catalog.open(store);
  for (let i = 1; i <= 3; i++) {
    const path = `data/${tag}-${i}.parquet`;
    const bytes = enc.encode(`${path} `.repeat(50 * i));
    await store.put(path, bytes, { mode: "create" });
    await c.commit({ add: [{ path, fileSize: bytes.length, numRows: i * 10 }] });
  }
}

/** Three sealed epochs and one unsealed, two vnodes each. */
async function seedCheckpoints(store: ObjectStore): Promise<void> {
  const cp = new CheckpointStore(store, { instanceId: "job-a", vnodeCapacity: 2 });
  for (let epoch = 1; epoch <= 4; epoch++) {
    for (const v of [0, 1]) await cp.writePartial(v, epoch, 1, enc.encode(`e${epoch}v${v}`));
    if (epoch < 4) assert.equal(await cp.sealEpoch(epoch, [0, 1]), true);
  }
}

beforeAll(() => {
  const r = spawnSync("npm", ["run", "-s", "build"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}\n${r.stderr}`);
}, 60_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it("runs from source under Node 24 too", async () => {
  const r = await run([process.execPath, join(root, "src/cli/bin.ts")], ["inspect", "memory:demo", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).head, 3);
});

for (const [runtime, argv] of Object.entries(runtimes)) {
  describe(runtime, () => {
    it("--help works for every command and lists stores and exit codes", async () => {
      const commands = [
        [],
        ["inspect"],
        ["rows"],
        ["diff"],
        ["mirror"],
        ["restore"],
        ["verify"],
        ["checkpoint"],
        ["checkpoint", "ls"],
        ["checkpoint", "verify"],
        ["checkpoint", "mirror"],
        ["checkpoint", "prune"],
        ["iceberg"],
      ];
      const results = await Promise.all(commands.map((c) => run(argv, [...c, "--help"])));
      results.forEach((r, i) => {
        const name = ["tidemark", ...(commands[i] ?? [])].join(" ");
        assert.equal(r.code, 0, `${name} --help: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`Usage: ${name}`), name);
        assert.equal(r.stderr, "");
      });
      assert.match(results[0]?.stdout ?? "", /Exit codes:[\s\S]*2 {2}usage error/);
      assert.match(results[1]?.stdout ?? "", /s3:\/\/bucket\/prefix/);
      const version = await run(argv, ["--version"]);
      assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    });

    it("usage errors: one line, [InvalidArgument], exit 2, no stack trace; --json still parses", async () => {
      const cases = [
        ["inspect", "ftp://example.com/x"],
        ["inspect"],
        ["mirror", "--from", "memory:demo"],
        ["verify", join(tmp, "nothing"), "--version", "abc"],
        ["inspect", "memory:demo", "--bogus"],
        ["mirror", "--from", "memory:demo", "--to", "memory:x", "--once", "--watch"],
        // Malformed percent-encoding in the prefix: a usage error, not [Unknown] exit 1.
        ["inspect", "s3://bucket/%zz"],
      ];
      for (const c of cases) {
        const r = await run(argv, c);
        assert.equal(r.code, 2, `${c.join(" ")}: exit ${r.code}\n${r.stderr}`);
        assertOneLineError(r, "InvalidArgument");
      }
      const j = await run(argv, ["inspect", "s3://bucket/p?endpoint=http://127.0.0.1:1", "--json"]);
      assert.equal(j.code, 2);
      assertOneLineError(j, "InvalidArgument");
      assert.equal(JSON.parse(j.stdout).error.code, "InvalidArgument");
      // --debug adds the stack.
      const d = await run(argv, ["inspect", "ftp://x", "--debug"]);
      assert.equal(d.code, 2);
      assert.match(d.stderr, /\n\s+at /);
    });

    it("every numeric flag refuses a bad value: exit 2, one line naming the flag, nothing done", async () => {
      const target = join(tmp, `flags-${runtime.replace(/\W/g, "")}`);
      const mirror = ["mirror", "--from", "memory:demo", "--to", target];
      // Never a number: NaN, Infinity, a fraction, a negative, units, exponent or hex, blank, unsafe.
      const bad = ["NaN", "Infinity", "1.5", "-1", "8x", "1e3", "0x10", "", " ", "9007199254740993"];
      const flags: Array<[string[], string, string[]]> = [
        [["inspect", "memory:demo"], "--limit", bad],
        [mirror, "--parallel", [...bad, "0"]],
        // Above 2^31-1 ms a timer fires at once: a poll loop, not a pause.
        [mirror, "--poll-interval", [...bad, "9", "2147483648"]],
        [mirror, "--lag-alert", bad],
        [["verify", "memory:demo"], "--version", [...bad, "0"]],
        [["restore", "--from", "memory:demo", "--to", target], "--version", [...bad, "0"]],
        [["restore", "--from", "memory:demo", "--to", target], "--parallel", [...bad, "0"]],
        [["checkpoint", "prune", "memory:demo"], "--before", bad],
      ];
      const cases = flags.flatMap(([pre, flag, values]) => values.map((v) => [...pre, flag, v]));
      const results: Run[] = [];
      for (let i = 0; i < cases.length; i += 8) {
        results.push(...(await Promise.all(cases.slice(i, i + 8).map((c) => run(argv, c)))));
      }
      results.forEach((r, i) => {
        const c = cases[i] ?? [];
        const flag = c.at(-2) ?? "";
        assert.equal(r.code, 2, `${JSON.stringify(c)}: exit ${r.code}\n${r.stderr}`);
        assertOneLineError(r, "InvalidArgument");
        assert.match(
          r.stderr,
          new RegExp(`\\[InvalidArgument\\] ${flag} must be an integer`),
          JSON.stringify(c),
        );
      });
      assert.ok(!existsSync(target), "no mirror was started");
    });

    it("credentials on the command line are refused and never echoed", async () => {
      const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
      for (const url of [
        `s3://bucket/p?secret_access_key=${secret}`,
        `s3://AKIAEXAMPLE:${secret}@bucket/p`,
        `https://host/base?X-Amz-Signature=${secret}`,
        // Malformed URLs (a bad port) that carry credentials: the parse error must not echo them.
        `s3://AKIAEXAMPLE:${secret}@bucket:99999/p`,
        `https://AKIAEXAMPLE:${secret}@host:99999/base`,
        `file://AKIAEXAMPLE:${secret}@host:99999/dir`,
      ]) {
        const r = await run(argv, ["inspect", url, "--json"]);
        assert.equal(r.code, 2, url);
        assertOneLineError(r, "InvalidArgument");
        assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), "the secret is not printed");
      }
    });

    it("a missing table, a missing snapshot and an unwritable target are one-line errors", async () => {
      // An empty directory is an empty table; one that does not exist is NotFound (an unmounted volume).
      const empty = join(tmp, `empty-${randomId()}`);
      mkdirSync(empty);
      const i = await run(argv, ["inspect", empty, "--json"]);
      assert.equal(i.code, 0, i.stderr);
      assert.equal(JSON.parse(i.stdout).head, 0);
      for (const args of [
        ["inspect", `${empty}-missing`],
        ["mirror", "--from", `${empty}-missing`, "--to", "memory:"],
      ]) {
        const gone = await run(argv, args);
        assert.equal(gone.code, 1, args.join(" "));
        assertOneLineError(gone, "NotFound");
      }
      const v = await run(argv, ["verify", "memory:demo", "--version", "9"]);
      assert.equal(v.code, 1);
      assertOneLineError(v, "NotFound");
      const m = await run(argv, ["mirror", "--from", "memory:demo", "--to", "https://127.0.0.1:9/x"]);
      assert.equal(m.code, 2);
      assertOneLineError(m, "InvalidArgument");
    });

    it("rows and diff: merutable's rows as a table, JSON lines and CSV (Int64 beyond 2^53 a string, bytes base64, keys as JSON); the history between versions", async () => {
      const t = await run(argv, ["rows", "memory:demo", "--limit", "2"]);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /^id\s+customer\s+amount\s+quantity\s+paid\n/);
      assert.equal(t.stdout.trimEnd().split("\n").length, 3);
      const dir = ordersTable();
      if (!dir) return;
      const j = await run(argv, [
        "rows",
        dir,
        "--format",
        "jsonl",
        "--from-key",
        '["eu", 9007199254740993]',
        "--limit",
        "2",
      ]);
      assert.equal(j.code, 0, j.stderr);
      const rows = j.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(rows[0], {
        region: "eu",
        id: "9007199254740993",
        customer: "changed",
        amount: 0.5,
        qty: 1,
        paid: false,
        blob: "AQD/",
      });
      assert.equal(rows[1].region, "eu\u0000");
      const c = await run(argv, [
        "rows",
        dir,
        "--format",
        "csv",
        "--version",
        "1",
        "--to-key",
        String.raw`"eu\u0000"`,
      ]);
      assert.equal(c.code, 0, c.stderr);
      assert.deepEqual(c.stdout.trimEnd().split("\n"), [
        "region,id,customer,amount,qty,paid,blob",
        "eu,-9007199254740993,c0,0,0,true,",
        "eu,9007199254740993,c1,0.5,1,false,AQD/",
      ]);
      const d = await run(argv, ["diff", dir, "1", "2", "--format", "jsonl"]);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(
        d.stdout
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l)),
        [
          {
            op: "delete",
            key: { region: "eu", id: "-9007199254740993" },
            before: {
              region: "eu",
              id: "-9007199254740993",
              customer: "c0",
              amount: 0,
              qty: 0,
              paid: true,
              blob: null,
            },
            after: null,
          },
          {
            op: "update",
            key: { region: "eu", id: "9007199254740993" },
            before: {
              region: "eu",
              id: "9007199254740993",
              customer: "c1",
              amount: 0.5,
              qty: 1,
              paid: false,
              blob: "AQD/",
            },
            after: {
              region: "eu",
              id: "9007199254740993",
              customer: "changed",
              amount: 0.5,
              qty: 1,
              paid: false,
              blob: "AQD/",
            },
          },
          {
            op: "insert",
            key: { region: "us", id: 7 },
            before: null,
            after: { region: "us", id: 7, customer: null, amount: null, qty: 7, paid: null, blob: null },
          },
        ],
      );
      const dt = await run(argv, ["diff", dir, "1", "2"]);
      assert.match(dt.stdout, /update\s+eu\s+9007199254740993\s+c1 → changed/);
      const bad = await run(argv, ["rows", dir, "--from-key", "[1, 2, 3]"]);
      assert.equal(bad.code, 2);
      assertOneLineError(bad, "InvalidArgument");
    });

    it("a reader that goes away (| head) ends rows and --help quietly: exit 0, nothing on stderr", async () => {
      for (const args of [["rows", "memory:demo", "--format", "jsonl"], ["--help"]]) {
        const r = await runClosingEarly(argv, args);
        assert.equal(r.stderr, "", `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.code, 0);
      }
    });

    it("memory:demo: inspect, mirror into memory, checkpoint ls within one process", async () => {
      const i = await run(argv, ["inspect", "memory:demo", "--files"]);
      assert.equal(i.code, 0, i.stderr);
      assert.match(i.stdout, /HEAD\s+v3/);
      assert.match(i.stdout, /data\/part-00004\.parquet/);
      const m = await run(argv, ["mirror", "--from", "memory:demo", "--to", "memory:copy", "--json"]);
      assert.equal(m.code, 0, m.stderr);
      assert.equal(JSON.parse(m.stdout).mirrorSeq, 3);
      const c = await run(argv, ["checkpoint", "ls", "memory:demo", "--json"]);
      assert.equal(JSON.parse(c.stdout).latestCommittedEpoch, 3);
    });

    it("iceberg: an Iceberg view of memory:demo's three versions, the metadata file named", async () => {
      const r = await run(argv, ["iceberg", "memory:demo", "--location", "s3://bucket/demo", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual([out.ok, out.version, out.written], [true, 3, [1, 2, 3]]);
      assert.equal(out.metadataLocation, "s3://bucket/demo/iceberg/metadata/v3.metadata.json");
      const bad = await run(argv, ["iceberg", "memory:demo", "--location", "not-a-uri"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /InvalidArgument.*absolute URI/);
    });

    it("verify --deep: a mirror from the mirror alone (0), a flipped byte named (1), files with no recorded checksum (5), adopted with --source", async () => {
      const src = join(tmp, `deep-src-${randomId()}`);
      await seedDemo(new FileStore(src));
      const dst = join(tmp, `deep-${randomId()}`);
      assert.equal((await run(argv, ["mirror", "--from", src, "--to", dst])).code, 0);
      const ok = await run(argv, ["verify", dst, "--deep", "--all", "--json"]);
      assert.equal(ok.code, 0, ok.stderr);
      const oj = JSON.parse(ok.stdout);
      assert.deepEqual([oj.status, oj.versions, oj.files, oj.problems], ["ok", [1, 2, 3], 4, []]);
      const file = join(dst, "data/part-00003.parquet");
      const original = readFileSync(file);
      const flipped = Buffer.from(original);
      flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] as number) ^ 0xff;
      writeFileSync(file, flipped);
      const bad = await run(argv, ["verify", dst, "--deep"]);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(
        bad.stdout,
        /^DAMAGED {5}data\/part-00003\.parquet \(v3\): checksum: its bytes have SHA-256 [0-9a-f]{64}, the mirror recorded/m,
      );
      assert.match(bad.stderr, /verify --deep: \d+ problem\(s\) found/);
      writeFileSync(file, original);
      rmSync(join(dst, "_tidemark"), { recursive: true });
      const before = await run(argv, ["verify", dst, "--deep"]);
      assert.equal(before.code, 5, before.stderr);
      assert.match(before.stdout, /^unrecorded {2}data\/part-00002\.parquet/m);
      assert.equal((await run(argv, ["verify", dst, "--deep", "--adopt"])).code, 2, "--adopt needs --source");
      const adopt = await run(argv, ["verify", dst, "--deep", "--all", "--source", src, "--adopt"]);
      assert.equal(adopt.code, 0, adopt.stdout + adopt.stderr);
      assert.match(adopt.stdout, /^adopted {5}data\/part-00003\.parquet/m);
      assert.equal((await run(argv, ["verify", dst, "--deep", "--all"])).code, 0);
    });

    it("local directories: mirror --once, inspect --source, verify, checkpoint ls/prune", async () => {
      const src = join(tmp, `src-${randomId()}`);
      const dst = `file://${join(tmp, `dst-${randomId()}`)}`;
      await seedTable(new FileStore(src), "t");
      await seedCheckpoints(new FileStore(src));

      const m = await run(argv, [
        "mirror",
        "--from",
        src,
        "--to",
        dst,
        "--once",
        "--parallel",
        "2",
        "--json",
      ]);
      assert.equal(m.code, 0, m.stderr);
      const ms = JSON.parse(m.stdout);
      assert.deepEqual(
        [ms.mirrorSeq, ms.sourceHead, ms.caughtUp, ms.snapshots, ms.filesCopied],
        [3, 3, true, 3, 3],
      );
      // Again: nothing to do.
      const again = JSON.parse((await run(argv, ["mirror", "--from", src, "--to", dst, "--json"])).stdout);
      assert.equal(again.snapshots, 0);

      const i = await run(argv, ["inspect", dst, "--source", src, "--json", "--files"]);
      assert.equal(i.code, 0, i.stderr);
      const is = JSON.parse(i.stdout);
      assert.equal(is.head, 3);
      assert.deepEqual(
        is.chain.map((s: { version: number }) => s.version),
        [3, 2, 1],
      );
      assert.equal(is.files.length, 3);
      assert.deepEqual(is.source, { store: src, head: 3, lagVersions: 0, lagSeconds: 0 });

      // A new commit on the source: the mirror lags by one version until mirrored.
      const c = await Catalog.open(new FileStore(src));
      await new FileStore(src).put("data/t-4.parquet", "four", { mode: "create" });
      await c.commit({ add: [{ path: "data/t-4.parquet", fileSize: 4, numRows: 1 }] });
      const lag = JSON.parse((await run(argv, ["inspect", dst, "--source", src, "--json"])).stdout);
      assert.equal(lag.source.lagVersions, 1);
      assert.ok(lag.source.lagSeconds >= 0);
      const text = await run(argv, ["inspect", dst, "--source", src]);
      assert.match(text.stdout, /1 version\(s\) behind/);

      const v = await run(argv, ["verify", dst, "--json"]);
      assert.equal(v.code, 0, v.stderr);
      assert.deepEqual(JSON.parse(v.stdout).ok, true);
      assert.equal((await run(argv, ["verify", dst, "--version", "1"])).code, 0);
      assert.equal((await run(argv, ["verify", dst, "--source", src])).code, 0);
      // Another tool's bytes of the same size: only --source tells.
      const dstDir = dst.slice("file://".length);
      const original = readFileSync(join(dstDir, "data/t-1.parquet"));
      writeFileSync(
        join(dstDir, "data/t-1.parquet"),
        original.map((b) => b ^ 0xff),
      );
      assert.equal((await run(argv, ["verify", dst])).code, 0);
      const foreign = await run(argv, ["verify", dst, "--source", src]);
      assert.equal(foreign.code, 1, foreign.stderr);
      assert.match(foreign.stdout, /foreign\s+data\/t-1\.parquet/);
      writeFileSync(join(dstDir, "data/t-1.parquet"), original);
      // Damage the mirror: verify fails with exit 1 and names the file.
      unlinkSync(join(dst.slice("file://".length), "data/t-2.parquet"));
      const bad = await run(argv, ["verify", dst]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /missing\s+data\/t-2\.parquet/);
      assert.match(bad.stderr, /^tidemark: verify failed/);

      const ls = await run(argv, ["checkpoint", "ls", src, "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      const lj = JSON.parse(ls.stdout);
      assert.equal(lj.latestCommittedEpoch, 3);
      assert.deepEqual(
        lj.epochs.map((e: { epoch: number; sealed: boolean; committer?: string }) => [
          e.epoch,
          e.sealed,
          e.committer ?? null,
        ]),
        [
          [1, true, "job-a"],
          [2, true, "job-a"],
          [3, true, "job-a"],
          [4, false, null],
        ],
      );
      const refused = await run(argv, ["checkpoint", "prune", src, "--before", "4"]);
      assert.equal(refused.code, 2);
      assertOneLineError(refused, "InvalidArgument");
      const p = await run(argv, ["checkpoint", "prune", src, "--json"]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(JSON.parse(p.stdout).before, 3);
      assert.equal(JSON.parse(p.stdout).deleted, 6); // epochs 1 and 2: 2 partials + 1 marker each
      const after = JSON.parse((await run(argv, ["checkpoint", "ls", src, "--json"])).stdout);
      assert.deepEqual(
        after.epochs.map((e: { epoch: number }) => e.epoch),
        [3, 4],
      );
    });

    it("a merutable primary directory: inspect it, mirror it (to s3:// too), restore the mirror into merutable's layout, refusals", async () => {
      const primaryDir = join(tmp, `merutable-${randomId()}`);
      const primary = new PosixPrimary(new FileStore(primaryDir));
      await primary.commit([{ path: "data/L0/a.parquet", size: 40 }]);
      await primary.commit([{ path: "data/L0/b.parquet", size: 50 }]);
      await primary.commit(
        [{ path: "data/L1/c.parquet", size: 90 }],
        ["data/L0/a.parquet", "data/L0/b.parquet"],
      );

      const i = await run(argv, ["inspect", primaryDir, "--json"]);
      assert.equal(i.code, 0, i.stderr);
      const ij = JSON.parse(i.stdout);
      assert.deepEqual(
        [ij.layout, ij.head, ij.chainEnd, ij.schema?.table_name],
        ["posix", 3, "start", "events"],
      );
      const shown = await run(argv, ["inspect", primaryDir]);
      assert.match(shown.stdout, /layout\s+posix \(merutable's primary/);
      assert.match(shown.stdout, /schema\s+events: id, payload \(key id\)/);

      const mirrorDir = join(tmp, `merutable-mirror-${randomId()}`);
      const m = await run(argv, ["mirror", "--from", primaryDir, "--to", mirrorDir, "--json"]);
      assert.equal(m.code, 0, m.stderr);
      assert.deepEqual([JSON.parse(m.stdout).mirrorSeq, JSON.parse(m.stdout).gaps], [3, []]);
      for (const v of [1, 2, 3]) {
        assert.deepEqual(
          readFileSync(join(mirrorDir, `metadata/v${v}.manifest.bin`)),
          readFileSync(join(primaryDir, `metadata/v${v}.metadata.pb`)),
        );
      }
      // Swapped --from and --to: the primary is never written.
      const swapped = await run(argv, ["mirror", "--from", mirrorDir, "--to", primaryDir]);
      assert.equal(swapped.code, 1);
      assertOneLineError(swapped, "NotSupported");
      assert.ok(!existsSync(join(primaryDir, "metadata/v1.manifest.bin")));

      const restored = join(tmp, `merutable-restored-${randomId()}`);
      const r = await run(argv, ["restore", "--from", mirrorDir, "--to", restored, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const rj = JSON.parse(r.stdout);
      assert.deepEqual([rj.ok, rj.version, rj.versions, rj.files], [true, 3, [1, 2, 3], 3]);
      assert.equal(readFileSync(join(restored, "version-hint.text"), "utf8"), "3");
      for (const k of ["metadata/v3.metadata.pb", "data/L1/c.parquet", "data/L0/a.parquet"]) {
        assert.deepEqual(readFileSync(join(restored, k)), readFileSync(join(primaryDir, k)), k);
      }
      const text = await run(argv, [
        "restore",
        "--from",
        mirrorDir,
        "--to",
        join(tmp, `older-${randomId()}`),
        "--version",
        "2",
      ]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^restored v2 of .*: 2 file\(s\) copied/);
      assert.match(text.stdout, /manifests\s+v1-v2/);
      // Another table there: refused, exit 1, one line.
      const other = join(tmp, `other-${randomId()}`);
      await new PosixPrimary(new FileStore(other), {
        uuid: "99999999-0000-4000-8000-000000000000",
      }).commitMany(1, 1);
      const refused = await run(argv, ["restore", "--from", mirrorDir, "--to", other]);
      assert.equal(refused.code, 1);
      assertOneLineError(refused, "AlreadyExists");
      // A table without merutable.schema.json: refused with merutable's reason.
      const noSchema = join(tmp, `noschema-${randomId()}`);
      await seedTable(new FileStore(noSchema), "n");
      const ns = await run(argv, ["restore", "--from", noSchema, "--to", join(tmp, `x-${randomId()}`)]);
      assert.equal(ns.code, 1);
      assertOneLineError(ns, "NotSupported");
      assert.match(ns.stderr, /merutable cannot open a table without it/);

      if (rgw) {
        const url = `s3://${rgw.bucket}/cli-posix-${randomId()}?endpoint=${encodeURIComponent(rgw.endpoint)}&region=${rgw.region}&path-style=true`;
        const env = { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey };
        const s3 = await run(argv, ["mirror", "--from", primaryDir, "--to", url, "--json"], env);
        assert.equal(s3.code, 0, s3.stderr);
        const back = join(tmp, `s3-restored-${randomId()}`);
        const rb = await run(argv, ["restore", "--from", url, "--to", back], env);
        assert.equal(rb.code, 0, rb.stderr);
        assert.deepEqual(
          readFileSync(join(back, "metadata/v3.metadata.pb")),
          readFileSync(join(primaryDir, "metadata/v3.metadata.pb")),
        );
      }
    });

    it("checkpoint ls shows LaminarDB's commit descriptors and source offsets per epoch", async () => {
      const dir = join(tmp, `cp-${randomId()}`);
      const cp = new CheckpointStore(new FileStore(dir), { instanceId: "job-b", vnodeCapacity: 1 });
      await cp.writePartial(0, 5, 1, enc.encode("state"));
      await cp.writeCommitDescriptor(5, "node=1/sink=out", 1, enc.encode("txn"));
      await cp.writeSourceOffsets(5, "node-1", 1, enc.encode('{"p0":"10"}'));
      assert.equal(await cp.sealEpoch(5, [0], ["node=1/sink=out"]), true);
      const ls = await run(argv, ["checkpoint", "ls", dir, "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      const e = JSON.parse(ls.stdout).epochs[0];
      assert.deepEqual(
        [e.epoch, e.sealed, e.partials, e.descriptors, e.sourceOffsets, e.committer],
        [5, true, 1, ["node=1/sink=out"], ["node-1"], "job-b"],
      );
      const t = await run(argv, ["checkpoint", "ls", dir]);
      assert.match(t.stdout, /epoch\s+state\s+partials\s+descr\s+srcoff/);
      assert.match(t.stdout, /5\s+sealed\s+1\s+1\s+1\s/);
    });

    it("checkpoint ls, verify and mirror on LaminarDB's state-v2 roots (written by the Python generator), and verify and mirror on the layout before", async () => {
      const good = join(tmp, `v2-good-${randomId()}`);
      const bad = join(tmp, `v2-bad-${randomId()}`);
      for (const [dir, name] of [
        [good, "floor-leftovers"],
        [bad, "missing-ancestor"],
      ] as const) {
        await writeRoot(new FileStore(dir), rootOf(stateV2, stateV2.cases[name] as FixtureCase));
      }
      const legacy = join(tmp, `legacy-${randomId()}`);
      await seedCheckpoints(new FileStore(legacy));
      const copy = join(tmp, `v2-copy-${randomId()}`);
      const legacyCopy = join(tmp, `legacy-copy-${randomId()}`);
      // Independent runs at once; the mirrors, then a verify of their copies.
      const [ls, ok, damaged, nothing, prune, lv, m, lm] = await Promise.all([
        run(argv, ["checkpoint", "ls", good, "--json"]),
        run(argv, ["checkpoint", "verify", good]),
        run(argv, ["checkpoint", "verify", bad]),
        run(argv, ["checkpoint", "verify", join(tmp, `empty-${randomId()}`)]),
        run(argv, ["checkpoint", "prune", good]),
        run(argv, ["checkpoint", "verify", legacy, "--json"]),
        run(argv, ["checkpoint", "mirror", "--from", good, "--to", copy, "--json"]),
        run(argv, ["checkpoint", "mirror", "--from", legacy, "--to", legacyCopy]),
      ]);
      assert.equal(ls.code, 0, ls.stderr);
      const l = JSON.parse(ls.stdout);
      assert.deepEqual(
        [l.layout, l.candidate.epoch, l.restorable, l.attempts.map((a: { state: string }) => a.state)],
        ["state-v2", 11, true, ["below-floor", "below-floor", "sealed", "sealed"]],
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /candidate {2}attempt 11: restorable/);
      assert.match(ok.stdout, /verdict {4}intact, 2 warning\(s\)/);
      assert.equal(damaged.code, 1);
      assert.match(damaged.stdout, /^DAMAGED state-v2\/epoch=2\/checkpoint=2\/_SEAL: \[ancestor-missing\]/m);
      assert.match(damaged.stdout, /attempt 3: NOT restorable/);
      assert.equal(nothing.code, 5, "could not check");
      assertOneLineError(nothing, "NotFound");
      assert.equal(prune.code, 1);
      assertOneLineError(prune, "NotSupported");
      assert.equal(lv.code, 0, lv.stderr);
      assert.deepEqual([JSON.parse(lv.stdout).layout, JSON.parse(lv.stdout).candidate.epoch], ["legacy", 3]);
      assert.equal(m.code, 0, m.stderr);
      assert.deepEqual([JSON.parse(m.stdout).newestCopied, JSON.parse(m.stdout).floor.target], ["11", "10"]);
      const verified = JSON.parse((await run(argv, ["checkpoint", "verify", copy, "--json"])).stdout);
      assert.deepEqual([verified.ok, verified.restorable, verified.problems], [true, true, []]);
      // The layout before state-v2: the three sealed epochs, not the unsealed fourth.
      assert.equal(lm.code, 0, lm.stderr);
      assert.match(
        lm.stdout,
        /^copied 3 epoch\(s\), 6 object\(s\) .* target at epoch 3, source newest 4, caught up$/m,
      );
      const lc = JSON.parse((await run(argv, ["checkpoint", "verify", legacyCopy, "--json"])).stdout);
      assert.deepEqual([lc.layout, lc.ok, lc.candidate.epoch, lc.epochs.length], ["legacy", true, 3, 3]);
    });

    it("S3 (Ceph RGW): mirror a directory to s3://, inspect, verify, checkpoint ls/prune", async (t) => {
      if (!rgw) {
        t.skip();
        return;
      }
      const prefix = `cli-${randomId()}`;
      const url = `s3://${rgw.bucket}/${prefix}?endpoint=${encodeURIComponent(rgw.endpoint)}&region=${rgw.region}&path-style=true`;
      const env = { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey };
      const src = join(tmp, `s3src-${randomId()}`);
      await seedTable(new FileStore(src), "s");
      const m = await run(argv, ["mirror", "--from", src, "--to", url, "--json"], env);
      assert.equal(m.code, 0, m.stderr);
      assert.equal(JSON.parse(m.stdout).mirrorSeq, 3);
      const i = JSON.parse((await run(argv, ["inspect", url, "--source", src, "--json"], env)).stdout);
      assert.equal(i.head, 3);
      assert.equal(i.lowWater, 3);
      assert.equal(i.source.lagVersions, 0);
      const v = await run(argv, ["verify", url], env);
      assert.equal(v.code, 0, v.stderr);
      // And back from S3 to a directory.
      const back = join(tmp, `s3back-${randomId()}`);
      assert.equal((await run(argv, ["mirror", "--from", url, "--to", back], env)).code, 0);
      assert.equal((await run(argv, ["verify", back])).code, 0);

      const s3 = new S3Store({ ...rgw, prefix: `${prefix}-cp`, forcePathStyle: true });
      await seedCheckpoints(s3);
      const cpUrl = url.replace(`/${prefix}?`, `/${prefix}-cp?`);
      const ls = JSON.parse((await run(argv, ["checkpoint", "ls", cpUrl, "--json"], env)).stdout);
      assert.equal(ls.latestCommittedEpoch, 3);
      const p = await run(argv, ["checkpoint", "prune", cpUrl, "--before", "3"], env);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /deleted 6 object/);
      // Wrong credentials: PermissionDenied, one line, the secret not printed.
      const denied = await run(argv, ["inspect", url], {
        ...env,
        AWS_SECRET_ACCESS_KEY: "not-the-secret-123",
      });
      assert.equal(denied.code, 1);
      assertOneLineError(denied, "PermissionDenied");
      assert.ok(!denied.stderr.includes("not-the-secret-123"));
    });
  });
}

it("mirror --watch follows new commits and stops cleanly on SIGTERM (node20 dist)", async () => {
  const src = join(tmp, `watch-src-${randomId()}`);
  const dst = join(tmp, `watch-dst-${randomId()}`);
  const store = new FileStore(src);
  await seedTable(store, "w");
  const child = spawn(
    systemNode,
    [
      join(root, "dist/cli/bin.js"),
      "mirror",
      "--from",
      src,
      "--to",
      dst,
      "--watch",
      "--poll-interval",
      "50",
      "--json",
    ],
    { cwd: root, env: baseEnv, stdio: ["ignore", "pipe", "pipe"] },
  );
  const events: { event: string; mirrorSeq: number }[] = [];
  let buf = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const waitFor = (pred: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const check = setInterval(() => {
        if (pred()) {
          clearInterval(check);
          resolve();
        } else if (Date.now() - t0 > 15_000) {
          clearInterval(check);
          reject(new Error(`timed out waiting for ${what}; stderr: ${stderr}`));
        }
      }, 20);
    });
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  await waitFor(() => events.some((e) => e.mirrorSeq === 3), "v3");
  const c = await Catalog.open(store);
  await store.put("data/w-4.parquet", "4", { mode: "create" });
  await c.commit({ add: [{ path: "data/w-4.parquet", fileSize: 1, numRows: 1 }] });
  await waitFor(() => events.some((e) => e.mirrorSeq === 4), "v4");
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  assert.equal(events[events.length - 1]?.event, "stopped");
});
