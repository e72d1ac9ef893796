/**
 * The `tidemark` command loads only what a command uses (src/cli/main.ts
 * imports each command's module when it runs; store-url.ts each store kind's
 * module when a URL names it): the modules a run loaded, as Node's module
 * hooks saw them, from the source.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "vitest";
import { runCli } from "../../src/cli/main.ts";
import { OPTIONS } from "../../src/options.ts";

const root = join(import.meta.dirname, "..", "..");

// Records every module Node loads and prints the list at exit.
const RECORD = `import { registerHooks } from "node:module";
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on("exit", () => process.stderr.write("\\nMODULES " + JSON.stringify(seen) + "\\n"));`;

/** The modules `tidemark ...args` loaded (paths relative to the checkout), and its exit code. */
function modulesOf(args: string[]): { code: number | null; modules: string[] } {
  const r = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(RECORD)}`, join(root, "src/cli/bin.ts"), ...args],
    { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
  );
  const line = r.stderr.split("\n").find((l) => l.startsWith("MODULES "));
  assert.ok(line, `no module list in:\n${r.stderr}`);
  const urls = JSON.parse(line.slice("MODULES ".length)) as string[];
  const modules = urls
    .filter((u) => u.startsWith("file:"))
    .map((u) => decodeURIComponent(new URL(u).pathname).replace(/^.*?\/(src|node_modules)\//, "$1/"));
  return { code: r.status, modules };
}

/** The loaded modules under any of `prefixes`. */
const under = (modules: string[], prefixes: string[]) =>
  modules.filter((m) => prefixes.some((p) => m.startsWith(p)));

describe("the tidemark command loads only what a command uses", () => {
  it("--help loads the command tree, no store, no mirror, no protobuf, XML or Parquet library", () => {
    const { code, modules } = modulesOf(["--help"]);
    assert.equal(code, 0);
    assert.ok(modules.includes("src/cli/main.ts"), "the hooks saw the command load");
    assert.deepEqual(
      under(modules, [
        "src/store/",
        "src/mirror/",
        "src/catalog/",
        "src/manifest/",
        "src/restore/",
        "src/checkpoint/",
        "src/node/",
        "src/doctor/checks",
        "src/cli/commands/mirror",
        "src/demo/",
        "node_modules/@bufbuild/",
        "node_modules/fast-xml-parser/",
        "node_modules/hyparquet",
        "node_modules/cli-progress/",
        "node_modules/aws4",
      ]),
      [],
    );
  });

  it("mirror between memory stores loads the mirror, not the demo's Parquet libraries, S3, directories or restore", () => {
    const { modules } = modulesOf(["mirror", "--from", "memory:a", "--to", "memory:b", "--no-progress"]);
    assert.ok(modules.includes("src/mirror/mirror.ts"), "the mirror ran");
    // The store-URL grammar checks an s3:// URL's ?endpoint= with the one endpoint rule,
    // src/store/s3/vendor.ts (no imports but errors.ts): not the S3 adapter. The mirror hashes
    // the checksums it records with node:crypto (src/node/sha256.ts): not the directory store.
    const adapter = modules.filter((m) => m !== "src/store/s3/vendor.ts" && m !== "src/node/sha256.ts");
    assert.deepEqual(
      under(adapter, [
        "src/demo/",
        "node_modules/hyparquet",
        "node_modules/cli-progress/",
        "src/store/s3/",
        "src/store/http.ts",
        "src/node/",
        "node_modules/aws4",
        "src/restore/",
        "src/checkpoint/",
        "src/cli/commands/restore",
        "src/cli/commands/inspect",
      ]),
      [],
    );
  });

  it("the help states the library's default parallelism for mirror and restore", async () => {
    for (const command of ["mirror", "restore"]) {
      let out = "";
      const code = await runCli([command, "--help"], {
        io: { stdout: (s) => (out += s), stderr: () => {}, stderrIsTTY: false },
        env: () => undefined,
        waitForStop: () => new Promise(() => {}),
      });
      assert.equal(code, 0);
      assert.match(
        out,
        new RegExp(`--parallel <n> +files copied at once \\(default: ${OPTIONS.parallelism.default}\\)`),
      );
    }
  });
});
