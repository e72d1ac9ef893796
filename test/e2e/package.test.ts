/**
 * What users install is what we test: build, `npm pack`, install the tarball
 * into a scratch project (offline, from this machine's npm cache), then
 * import `tidemark`, `tidemark/node` and `tidemark/testing` under the system
 * Node (20) and under Deno (the store contract run by node:test and by
 * Deno.test), and run the installed `tidemark` bin.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const systemNode = "/usr/bin/node";
const denoBin = existsSync(join(root, "node_modules/.bin/deno"))
  ? join(root, "node_modules/.bin/deno")
  : "deno";
const tmp = mkdtempSync(join(tmpdir(), "tidemark-pkg-"));
const project = join(tmp, "scratch");

function sh(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}

// Exercises the public entry points as a user script would: stores, a
// manifest round trip, a catalog commit on a directory, the mirror reader.
const SMOKE = `
import { MemoryStore, Catalog, encodeManifest, decodeManifest, createManifest, liveFiles, openMirror, verifyMirror, isTidemarkError } from "tidemark";
import { FileStore } from "tidemark/node";
import { inspectApp } from "tidemark/server";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const mem = new MemoryStore();
await mem.put("a/b.txt", "hello", { mode: "create" });
if ((await (await mem.get("a/b.txt")).text()) !== "hello") throw new Error("memory round trip");
try { await mem.put("a/b.txt", "x", { mode: "create" }); throw new Error("create twice succeeded"); }
catch (e) { if (!isTidemarkError(e, "AlreadyExists")) throw e; }

const m = createManifest({ snapshotId: 7n, tableUuid: "t-1", dataFiles: [{ path: "data/x.parquet", fileSize: 10n, numRows: 1n }] });
const back = decodeManifest(encodeManifest(m));
if (back.snapshotId !== 7n || back.tableUuid !== "t-1" || liveFiles(back).join() !== "data/x.parquet") throw new Error("manifest round trip");

const dir = mkdtempSync(join(tmpdir(), "tidemark-smoke-"));
const fs = new FileStore(dir);
const cat = await Catalog.open(fs);
await fs.put("data/x.parquet", new Uint8Array(10), { mode: "create" });
const v = await cat.commit({ add: [{ path: "data/x.parquet", fileSize: 10, numRows: 1 }] });
const head = await openMirror(fs).head();
const ok = (await verifyMirror(fs)).ok;
if (v !== 1 || head !== 1 || !ok) throw new Error("catalog on FileStore: " + JSON.stringify({ v, head, ok }));
const status = await (await inspectApp({ store: fs }).request("/status")).json();
if (status.head !== 1) throw new Error("tidemark/server: " + JSON.stringify(status));
console.log("SMOKE OK " + (globalThis.Deno ? "deno " + Deno.version.deno : "node " + process.version));
`;

// A user proving a store with tidemark/testing: the contract on node:test (Node 20).
const CONTRACT_NODE_TEST = `
import { test } from "node:test";
import { MemoryStore } from "tidemark";
import { faulty, objectStoreContract } from "tidemark/testing";
let registered = 0;
objectStoreContract({ test: (name, fn, o) => { registered++; test(name, { timeout: o?.timeoutMs }, fn); } }, () => new MemoryStore());
registered++;
test("faulty comes with it", async () => {
  const f = faulty(new MemoryStore(), { failAt: [1] });
  await f.put("k", "v").then(() => { throw new Error("no fault injected"); }, (e) => { if (!e.message.startsWith("[Transient]")) throw e; });
});
console.log("REGISTERED " + registered);
`;

// The same on Deno.test.
const CONTRACT_DENO_TEST = `
import { MemoryStore } from "tidemark";
import { objectStoreContract } from "tidemark/testing";
objectStoreContract({ test: (name, fn) => Deno.test(name, fn) }, () => new MemoryStore());
`;

beforeAll(() => {
  const build = sh("npm", ["run", "-s", "build"], root);
  assert.equal(build.code, 0, `build failed:\n${build.stdout}\n${build.stderr}`);
  const pack = sh("npm", ["pack", "--json", "--pack-destination", tmp], root);
  assert.equal(pack.code, 0, `npm pack failed:\n${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(info, "npm pack printed its result");
  const paths = info.files.map((f) => f.path);
  for (const p of [
    "dist/index.js",
    "dist/index.d.ts",
    "dist/node/index.js",
    "dist/server/index.js",
    "dist/server/index.d.ts",
    "dist/testing/index.js",
    "dist/testing/index.d.ts",
    "dist/cli/bin.js",
    "package.json",
    "README.md",
  ]) {
    assert.ok(paths.includes(p), `the tarball has ${p}`);
  }
  assert.ok(
    !paths.some((p) => p.startsWith("test/") || p.startsWith("worker/")),
    "no tests or worker in the package",
  );

  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }),
  );
  writeFileSync(join(project, "deno.json"), JSON.stringify({ nodeModulesDir: "manual", lock: false }));
  writeFileSync(join(project, "smoke.mjs"), SMOKE);
  writeFileSync(join(project, "contract.node-test.mjs"), CONTRACT_NODE_TEST);
  writeFileSync(join(project, "contract.deno-test.mjs"), CONTRACT_DENO_TEST);
  const tgz = join(tmp, info.filename);
  const flags = ["--no-audit", "--no-fund", "--no-save", "--loglevel=error"];
  // Offline: the runtime dependencies are in this machine's npm cache from its own install.
  let install = sh("npm", ["install", "--offline", ...flags, tgz], project);
  if (install.code !== 0) install = sh("npm", ["install", "--prefer-offline", ...flags, tgz], project);
  assert.equal(install.code, 0, `installing the tarball failed:\n${install.stderr}`);
}, 180_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the packed tarball", () => {
  it("installs only ESM JavaScript entry points (no .ts imports in dist)", () => {
    const pkg = JSON.parse(readFileSync(join(project, "node_modules/tidemark/package.json"), "utf8"));
    assert.equal(pkg.type, "module");
    const index = readFileSync(join(project, "node_modules/tidemark/dist/index.js"), "utf8");
    assert.doesNotMatch(index, /from "\.[^"]*\.ts"/);
  });

  it("imports tidemark, tidemark/node and tidemark/server under the system Node 20", () => {
    const v = sh(systemNode, ["--version"], project);
    assert.match(v.stdout, /^v20\./);
    const r = sh(systemNode, ["smoke.mjs"], project);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SMOKE OK node v20\./);
  });

  it("imports tidemark, tidemark/node and tidemark/server under Deno (node_modules)", () => {
    const r = sh(denoBin, ["run", "-A", "smoke.mjs"], project);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SMOKE OK deno 2\./);
  });

  it("tidemark/testing: the store contract passes on MemoryStore under node:test (Node 20)", () => {
    const r = sh(systemNode, ["--test-reporter=tap", "contract.node-test.mjs"], project);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const registered = Number(/REGISTERED (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(registered > 15, `registered ${registered} tests`);
    assert.match(r.stdout, new RegExp(`# pass ${registered}\n`));
    assert.match(r.stdout, /# fail 0\n/);
  });

  it("tidemark/testing: the store contract passes on MemoryStore under Deno.test", () => {
    const r = sh(denoBin, ["test", "-A", "contract.deno-test.mjs"], project);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ok \| (1\d|[2-9]\d) passed \| 0 failed/);
  });

  it("runs the installed tidemark bin under Node 20 (shebang, executable)", () => {
    // PATH with the system Node first, as in a user's shell: the shebang says `env node`.
    const env = { PATH: `/usr/bin:/bin:${process.env.PATH ?? ""}` };
    const bin = join(project, "node_modules/.bin/tidemark");
    const help = sh(bin, ["--help"], project, env);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: tidemark/);
    const demo = sh(bin, ["inspect", "memory:demo", "--json"], project, env);
    assert.equal(demo.code, 0, demo.stderr);
    assert.equal(JSON.parse(demo.stdout).head, 3);
    const npx = sh("npx", ["--no-install", "tidemark", "verify", "memory:demo"], project, env);
    assert.equal(npx.code, 0, npx.stderr);
  });
});
