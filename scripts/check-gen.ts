/**
 * Fails (exit 1) when regenerating the protobuf code changes what is committed
 * in src/manifest/gen: the generated code is never hand-edited, and a .proto
 * change must come with its regenerated code.
 *
 *   npx node scripts/check-gen.ts
 *
 * Regenerates into a temporary directory (`buf generate -o`), so the working
 * tree is never touched, then compares file by file, byte for byte.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const genRel = "src/manifest/gen";
const tmp = mkdtempSync(join(tmpdir(), "tidemark-gen-"));

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

try {
  const r = spawnSync("npx", ["buf", "generate", "-o", tmp], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`check-gen: buf generate failed (exit ${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  const committedDir = join(root, genRel);
  const freshDir = join(tmp, genRel);
  const committed = files(committedDir);
  const fresh = files(freshDir);
  const differing: string[] = [];
  for (const f of new Set([...committed, ...fresh])) {
    const a = join(committedDir, f);
    const b = join(freshDir, f);
    if (!existsSync(a)) differing.push(`${genRel}/${f} (missing: not committed)`);
    else if (!existsSync(b)) differing.push(`${genRel}/${f} (stale: no longer generated)`);
    else if (!readFileSync(a).equals(readFileSync(b))) differing.push(`${genRel}/${f} (differs)`);
  }
  if (fresh.length === 0) {
    console.error("check-gen: buf generated nothing; check buf.gen.yaml");
    process.exit(1);
  }
  if (differing.length > 0) {
    console.error("check-gen: generated code is out of date; run `npx buf generate` and commit:");
    for (const d of differing) console.error(`  ${d}`);
    process.exit(1);
  }
  console.log(`check-gen: ${fresh.length} generated file(s) up to date`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
