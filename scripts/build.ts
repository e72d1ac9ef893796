/**
 * `npm run build`: compiles src/ to plain JavaScript and declarations in
 * dist/ (what the npm package ships: Node refuses to strip types inside
 * node_modules, and Node 20 cannot at all), makes the `tidemark` bin
 * executable, and checks under the system Node (20) that it starts and that
 * every entry point of package.json `exports` imports.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
const bin = join(dist, "cli", "bin.js");
const SHEBANG = "#!/usr/bin/env node\n";

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

const text = readFileSync(bin, "utf8");
if (!text.startsWith("#!")) writeFileSync(bin, SHEBANG + text);
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
