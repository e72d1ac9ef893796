/**
 * Every TypeScript and JavaScript example in README.md and docs/*.md compiles
 * against the source, so the docs cannot drift from the API: each fenced
 * ```ts or ```js block is written to test-output/docs-examples/ as a module,
 * the package's entry points mapped to src/ (`tidemark` to src/index.ts, ...),
 * and type-checked with one `tsc` run, as strictly as src/ itself. What an
 * example takes from outside (its own store, the reader's token, Deno's
 * globals, a Workers R2 binding) is declared in GLOBALS below. The one example that
 * needs no service or credential (the README's table in a directory) also
 * runs, under Node with FileStore.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const out = join(root, "test-output", "docs-examples");
const tsc = join(root, "node_modules", ".bin", "tsc");

/** A fenced example: where it is (`README.md`, its first line) and its code. */
interface Example {
  doc: string;
  line: number;
  lang: "ts" | "js";
  code: string;
}

function examples(): Example[] {
  const docs = [
    "README.md",
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  const found: Example[] = [];
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), "utf8");
    for (const m of text.matchAll(/^```(ts|typescript|js|javascript)(?![\w-])[^\n]*\n([\s\S]*?)^```/gm)) {
      const lang = m[1]?.startsWith("t") ? "ts" : "js";
      // The code's first line is the one after the fence.
      found.push({ doc, line: text.slice(0, m.index).split("\n").length + 1, lang, code: m[2] ?? "" });
    }
  }
  return found;
}

/** The file an example is written to: its document and line, e.g. `README.md-90.ts`. */
const fileOf = (e: Example) => `${e.doc.replace(/\//g, "-")}-${e.line}.${e.lang}`;

/** What the examples take from outside, declared once for all of them. */
const GLOBALS = `// What the docs' examples take from outside.
/** The reader's credential (the Worker's READ_TOKEN), from wherever a page keeps it. */
declare const readToken: string;
/** The Deno globals the Deno examples use. */
declare namespace Deno {
  function makeTempDir(): Promise<string>;
  function test(name: string, fn: () => void | Promise<void>): void;
}
/** A Workers R2 binding, as R2Store takes it (worker/ passes it the Workers types' own R2Bucket). */
type R2Bucket = import("tidemark").R2BucketLike;
`;

/** "Your own store" of docs/store-contract.md: any ObjectStore will do. */
const MY_STORE = `export { MemoryStore as MyStore } from "tidemark";\n`;

function tsconfig(files: string[]): string {
  const src = (p: string) => [relative(out, join(root, "src", p))];
  return JSON.stringify(
    {
      compilerOptions: {
        target: "ES2023",
        lib: ["ES2023", "DOM", "DOM.Iterable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: ["node"],
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        verbatimModuleSyntax: true,
        allowImportingTsExtensions: true,
        allowJs: true,
        checkJs: true,
        skipLibCheck: true,
        noEmit: true,
        paths: {
          tidemark: src("index.ts"),
          "tidemark/server": src("server/index.ts"),
          "tidemark/node": src("node/index.ts"),
          "tidemark/testing": src("testing/index.ts"),
        },
      },
      files,
    },
    null,
    2,
  );
}

/** Runs `tsc -p` on one project; its errors, each pointed back at its document and line. */
function typecheck(project: string, all: Example[]): string[] {
  const r = spawnSync(tsc, ["-p", project, "--pretty", "false"], { cwd: out, encoding: "utf8" });
  const lines = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "");
  if (r.status !== 0 && lines.length === 0)
    return [`tsc -p ${project} failed (${r.error?.message ?? r.status})`];
  return lines.map((l) => {
    const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l);
    const e = m && all.find((x) => m[1]?.endsWith(fileOf(x)));
    return m && e ? `${e.doc}:${e.line + Number(m[2]) - 1}:${m[3]}: ${m[4]}` : l;
  });
}

describe("the docs' examples", () => {
  const all = examples();
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const e of all) writeFileSync(join(out, fileOf(e)), e.code);
  writeFileSync(join(out, "globals.d.ts"), GLOBALS);
  writeFileSync(join(out, "my-store.ts"), MY_STORE);
  writeFileSync(
    join(out, "tsconfig.json"),
    // aws4's types are src/node's own (tidemark/node's signer).
    tsconfig(["globals.d.ts", relative(out, join(root, "src/node/aws4.d.ts")), ...all.map(fileOf)]),
  );

  it("there are examples to check, in the README and in docs/", () => {
    assert.ok(all.some((e) => e.doc === "README.md") && all.some((e) => e.doc.startsWith("docs/")));
  });

  it("every TypeScript and JavaScript example compiles against the source", () => {
    const errors = typecheck("tsconfig.json", all);
    assert.deepEqual(errors, [], `${all.length} examples, errors:\n${errors.join("\n")}`);
  });

  it("the README's table in a directory runs as shown (under Node, with FileStore)", () => {
    const example = all.find((e) => e.doc === "README.md" && e.code.includes("Deno.makeTempDir"));
    assert.ok(example, "the README has the example");
    // Deno's one call, Node's way; the entry points mapped to src/ as above.
    const file = join(out, "run-readme-directory.ts");
    writeFileSync(
      file,
      `import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
const Deno = { makeTempDir: () => mkdtemp(join(tmpdir(), "tidemark-readme-")) };
${example.code
  .replace('from "tidemark/node"', `from ${JSON.stringify(join(root, "src/node/index.ts"))}`)
  .replace('from "tidemark"', `from ${JSON.stringify(join(root, "src/index.ts"))}`)}`,
    );
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^HEAD v1 \{[\s\S]*version: 1,[\s\S]*ok: true/);
  });
});
