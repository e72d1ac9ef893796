/**
 * `npm run build`: compiles src/ to plain JavaScript and declarations in
 * dist/ (what the npm package ships: Node refuses to strip types inside
 * node_modules, and Node 20 cannot at all), bundles the `tidemark` command
 * into dist/cli/ (below), makes its bin executable, and checks under the
 * system Node (20) that it starts and that every entry point of package.json
 * `exports` imports.
 *
 * The command is one esbuild bundle with a chunk per command (the commands'
 * dynamic imports in src/cli/main.ts): Node's ESM loader pays for every
 * module it resolves and links, and the library's dependencies are split
 * into many (@bufbuild/protobuf alone is 66), so the command as separate
 * modules took about twice the CPU to start, and its bigger heap made each
 * garbage collection of a copy dearer (BENCHMARKS.md, "Mirror").
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
const bin = join(dist, "cli", "bin.js");

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: ${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}

// Clean first: a file deleted from src/ must not linger in the package.
rmSync(dist, { recursive: true, force: true });
run("npx", ["tsc", "-p", "tsconfig.build.json"]);

// The command: tsc's modules of src/cli/ replaced by the bundle (its chunks
// beside bin.js, so `import.meta.url`-relative paths stay what they were).
rmSync(join(dist, "cli"), { recursive: true, force: true });
await build({
  entryPoints: [join(root, "src/cli/bin.ts")],
  outdir: join(dist, "cli"),
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "[name]-[hash]",
  // Whitespace and comments out (names kept, for --debug's stack traces): V8
  // keeps each chunk's source in the heap, and one non-ASCII character in a
  // dependency's comment stored a whole chunk as UTF-16, twice the bytes.
  minifyWhitespace: true,
  minifySyntax: true,
  // Positions back to src/ (which the package ships): `node --enable-source-maps`
  // stack traces, and bench/profile.ts's attribution of a CPU profile.
  sourcemap: "linked",
  sourcesContent: false,
  // CommonJS dependencies (commander, aws4, cli-progress) call require().
  banner: {
    js: "import { createRequire as __tidemarkRequire } from 'node:module'; const require = __tidemarkRequire(import.meta.url);",
  },
  logLevel: "warning",
});
if (!readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
  console.error("build: dist/cli/bin.js lost its shebang");
  process.exit(1);
}
chmodSync(bin, 0o755);

// The system Node (20) is the oldest runtime we promise; it cannot strip types,
// so this fails if anything in dist/ still needs TypeScript.
const systemNode = ["/usr/bin/node", "/usr/local/bin/node"].find((p) => existsSync(p));
if (systemNode) {
  const r = spawnSync(systemNode, [bin, "--help"], { cwd: root, encoding: "utf8" });
  if (r.status !== 0 || !r.stdout.includes("Usage: tidemark")) {
    console.error(`build: ${systemNode} dist/cli/bin.js --help failed (exit ${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  // Every entry point a user can import (tidemark, tidemark/node, tidemark/testing, ...).
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports: Record<string, string | { default?: string }>;
  };
  for (const [entry, target] of Object.entries(pkg.exports)) {
    const file = typeof target === "string" ? target : target.default;
    if (!file?.endsWith(".js")) continue;
    const imp = spawnSync(
      systemNode,
      ["--input-type=module", "-e", `await import(${JSON.stringify(file)})`],
      {
        cwd: root,
        encoding: "utf8",
      },
    );
    if (imp.status !== 0) {
      console.error(`build: export ${entry} (${file}) does not import under ${systemNode}:\n${imp.stderr}`);
      process.exit(1);
    }
  }
  const v = spawnSync(systemNode, ["--version"], { encoding: "utf8" }).stdout.trim();
  console.log(`build: dist/ ready; the bin and every export run under ${systemNode} ${v}`);
} else {
  console.log("build: dist/ ready (no system node found to smoke-test the bin)");
}
