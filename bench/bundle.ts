/**
 * Browser bundle benchmark, side by side in one run (esbuild JS API, minified,
 * ESM, platform browser, target es2022, no legal comments; gzip level 9):
 *
 * 1. tidemark's browser reader: `openMirror` + `HttpStore` + `verifyMirror`
 *    (deep verification, which `verifyMirror` loads by `import()` only for
 *    `deep: true`, left out; and, apart, with it inlined, as a bundler that
 *    does not split makes it);
 * 2. tidemark's S3 writer for browsers: `S3Store` alone (aws4fetch +
 *    fast-xml-parser + md5), and `S3Store` + `openMirror`;
 * 3. the inspector page (worker/public/inspector.ts), built as it is served
 *    (scripts/build-inspector.ts: split by esbuild): what its first paint
 *    needs (the entry script, the chunks it imports, and index.html with its
 *    inline CSS, each gzipped as a server sends them; goal: under 50 KB),
 *    and, apart, what it loads later (the table's rows and row-level
 *    history when the table view first shows rows, a data file's preview
 *    when one is first previewed: the library's rows reader and hyparquet);
 * 4. the Parquet preview alone (worker/public/parquet-preview.ts: Range
 *    reads and hyparquet's decoders), and for comparison hyparquet's full
 *    reader (`parquetMetadataAsync` + `parquetReadObjects`, with its query
 *    planner), which the page does not use;
 * 5. `@aws-sdk/client-s3` (pinned below): S3Client + Put/Get/ListObjectsV2
 *    commands, and the minimal S3Client + PutObjectCommand. It is not a
 *    project dependency: it is installed into a temporary directory at run
 *    time and removed afterwards. If the install fails, only tidemark's
 *    figures are reported.
 *
 * Then what dominates the reader: the top inputs of esbuild's metafile and the
 * bytes per package.
 *
 *   npx node bench/bundle.ts [--json]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build, version as esbuildVersion, type Metafile, type Plugin } from "esbuild";
import { BROWSER_BUNDLE, INSPECTOR_BUILD, inspectorParts, type Sized } from "../scripts/build-inspector.ts";
import { headline } from "./result.ts";

/** Pinned: `npm view @aws-sdk/client-s3 version` on 2026-11-21. */
const AWS_SDK_VERSION = "3.1169.0";

const root = join(import.meta.dirname, "..");
const json = process.argv.includes("--json");

const common = { ...BROWSER_BUNDLE, write: false, metafile: true } as const;

interface Measured {
  name: string;
  min: number;
  gzip: number;
  metafile: Metafile;
}

/**
 * Bundles and measures an entry: `contents` (an entry module resolved from
 * `resolveDir`), or with `resolveDir` omitted, `contents` is an entry file
 * path (so a side-effect-only page module is bundled, not tree-shaken away).
 */
async function measure(
  name: string,
  contents: string,
  resolveDir?: string,
  plugins: Plugin[] = [],
): Promise<Measured> {
  const out = await build({
    ...common,
    plugins,
    ...(resolveDir === undefined
      ? { entryPoints: [contents] }
      : { stdin: { contents, resolveDir, sourcefile: "entry.ts", loader: "ts" as const } }),
  });
  const bytes = out.outputFiles[0]?.contents;
  if (!bytes) throw new Error(`esbuild produced no output for ${name}`);
  return { name, min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, metafile: out.metafile };
}

/** Installs @aws-sdk/client-s3 into a fresh temp directory; returns it, or an error message. */
function installAwsSdk(): { dir: string } | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), "tidemark-bundle-"));
  // A package.json of its own, so npm never walks up into another project.
  writeFileSync(join(dir, "package.json"), '{"name":"bundle-bench","private":true}\n');
  const r = spawnSync(
    "npm",
    [
      "install",
      "--prefix",
      dir,
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `@aws-sdk/client-s3@${AWS_SDK_VERSION}`,
    ],
    { encoding: "utf8", timeout: 300_000 },
  );
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why =
      r.error?.message ??
      (r.stderr || r.stdout)
        .split("\n")
        .filter((l) => l.trim() && !l.includes("npm warn"))
        .slice(0, 3)
        .join(" / ");
    return { error: `npm install @aws-sdk/client-s3@${AWS_SDK_VERSION} failed: ${why}` };
  }
  return { dir };
}

/** Package name of a metafile input path ("node_modules/@scope/pkg/..." → "@scope/pkg"). */
function packageOf(input: string): string {
  const i = input.lastIndexOf("node_modules/");
  if (i < 0) return input.startsWith("src/") ? "tidemark (src/)" : input;
  const parts = input.slice(i + "node_modules/".length).split("/");
  return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? input);
}

/** Bytes each input contributes to the (minified) output, largest first. */
function inputsOf(m: Metafile): { path: string; bytes: number }[] {
  const out = Object.values(m.outputs)[0];
  if (!out) return [];
  return Object.entries(out.inputs)
    .map(([path, v]) => ({ path, bytes: v.bytesInOutput }))
    .filter((i) => i.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

/** Bytes per package (tidemark's own sources as one), largest first. */
function packagesOf(m: Metafile): [string, number][] {
  const byPackage = new Map<string, number>();
  for (const { path, bytes } of inputsOf(m)) {
    const p = packageOf(path);
    byPackage.set(p, (byPackage.get(p) ?? 0) + bytes);
  }
  return [...byPackage.entries()].sort((a, b) => b[1] - a[1]);
}

/**
 * Leaves deep verification out of a bundle: `verifyMirror` loads it by
 * `import()` only when asked for `deep: true`; a bundler that splits (the
 * inspector's) makes it a chunk of its own, one that does not inlines it.
 */
const deepOnDemand: Plugin = {
  name: "deep-verification-on-demand",
  setup(b) {
    b.onResolve({ filter: /^\.\/verify\.ts$/ }, (a) =>
      a.importer.endsWith(join("src", "mirror", "reader.ts")) ? { path: a.path, external: true } : undefined,
    );
  },
};

const t0 = performance.now();
const results: Measured[] = [];

results.push(
  await measure(
    "reader: openMirror + HttpStore + verifyMirror",
    'export { HttpStore, openMirror, verifyMirror } from "./src/index.ts";',
    root,
    [deepOnDemand],
  ),
  await measure(
    "reader with deep verification inlined (no splitting)",
    'export { HttpStore, openMirror, verifyMirror } from "./src/index.ts";',
    root,
  ),
  await measure("S3 writer: S3Store", 'export { S3Store } from "./src/index.ts";', root),
  await measure("S3Store + openMirror", 'export { openMirror, S3Store } from "./src/index.ts";', root),
  await measure(
    "Parquet preview (worker/public/parquet-preview.ts)",
    'export { previewParquet } from "./worker/public/parquet-preview.ts";',
    root,
  ),
  await measure(
    "hyparquet full reader (not used by the page)",
    'export { parquetMetadataAsync, parquetReadObjects } from "hyparquet";',
    root,
  ),
);
// The inspector as served: the first paint's scripts and index.html (its CSS inline), then what comes later.
const split = await build({ ...INSPECTOR_BUILD, write: false });
const files = new Map(split.outputFiles.map((f) => [relative(root, f.path), f.contents]));
const parts = inspectorParts(split.metafile, (o) => files.get(o) ?? new Uint8Array());
const total = (name: string, xs: Sized[]) => ({
  name,
  min: xs.reduce((n, x) => n + x.min, 0),
  gzip: xs.reduce((n, x) => n + x.gzip, 0),
});
const html = readFileSync(join(root, "worker/public/index.html"));
const firstScripts = total("inspector, first paint: scripts", parts.first);
const page = {
  name: "inspector, first paint: scripts + index.html",
  min: firstScripts.min + html.length,
  gzip: firstScripts.gzip + gzipSync(html, { level: 9 }).length,
};
const later = total("inspector, loaded later (rows, history, preview)", parts.later);
const inspectorRows = [
  firstScripts,
  page,
  later,
  ...parts.later.map((c) => ({ ...c, name: `  later: ${c.file}` })),
];

const install = installAwsSdk();
let sdkNote: string;
if ("dir" in install) {
  try {
    results.push(
      await measure(
        "@aws-sdk/client-s3: S3Client + Put/Get/ListObjectsV2",
        "export { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } " +
          'from "@aws-sdk/client-s3";',
        install.dir,
      ),
      await measure(
        "@aws-sdk/client-s3: S3Client + PutObjectCommand",
        'export { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";',
        install.dir,
      ),
    );
    sdkNote = `@aws-sdk/client-s3 ${AWS_SDK_VERSION}, installed into a temp directory (removed)`;
  } finally {
    rmSync(install.dir, { recursive: true, force: true });
  }
} else {
  sdkNote = `${install.error}\n@aws-sdk/client-s3 NOT measured: only tidemark's figures are reported.`;
}

const reader = results[0]!;
const readerInputs = inputsOf(reader.metafile);
const packages = packagesOf(reader.metafile);
const writer = results.find((r) => r.name === "S3 writer: S3Store")!;
const writerPackages = packagesOf(writer.metafile);
const elapsed = Math.round(performance.now() - t0);
const sdkPut = results.find((r) => r.name === "@aws-sdk/client-s3: S3Client + PutObjectCommand");
headline({
  "reader min+gzip (bytes)": reader.gzip,
  "S3Store min+gzip (bytes)": writer.gzip,
  "inspector page, first paint, min+gzip (bytes; goal < 51200)": page.gzip,
  "inspector, loaded later, min+gzip (bytes)": later.gzip,
  "@aws-sdk S3Client + Put min+gzip (bytes)": sdkPut?.gzip ?? "not measured",
});

if (json) {
  console.log(
    JSON.stringify({
      esbuild: esbuildVersion,
      awsSdk: "dir" in install ? AWS_SDK_VERSION : null,
      bundles: [...results, ...inspectorRows].map(({ name, min, gzip }) => ({
        name,
        min,
        gzip,
        ratio: gzip / reader.gzip,
      })),
      readerTopInputs: readerInputs.slice(0, 5),
      readerPackages: Object.fromEntries(packages),
      s3StorePackages: Object.fromEntries(writerPackages),
      ms: elapsed,
    }),
  );
} else {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(0)}%`;
  const w = Math.max(...[...results, ...inspectorRows].map((r) => r.name.length));
  console.log(`esbuild ${esbuildVersion}, minify, ESM, platform browser, target es2022; gzip level 9`);
  console.log(sdkNote);
  console.log();
  console.log(
    `${"bundle".padEnd(w)}  ${"min (bytes)".padStart(18)}  ${"min+gzip (bytes)".padStart(18)}  ${"× reader".padStart(8)}`,
  );
  for (const r of [...results, ...inspectorRows]) {
    console.log(
      `${r.name.padEnd(w)}  ${`${r.min} (${kb(r.min)})`.padStart(18)}  ` +
        `${`${r.gzip} (${kb(r.gzip)})`.padStart(18)}  ${(r.gzip / reader.gzip).toFixed(2).padStart(8)}`,
    );
  }
  console.log(`(ratio: min+gzip vs the reader's min+gzip)`);
  console.log();
  console.log(`reader: top 5 inputs by minified bytes in output (of ${reader.min}):`);
  for (const { path, bytes } of readerInputs.slice(0, 5)) {
    console.log(
      `  ${String(bytes).padStart(7)}  ${pct(bytes, reader.min).padStart(4)}  ${relative(".", path)}`,
    );
  }
  console.log(`reader: by package:`);
  for (const [p, bytes] of packages) {
    console.log(`  ${String(bytes).padStart(7)}  ${pct(bytes, reader.min).padStart(4)}  ${p}`);
  }
  console.log(`S3Store: by package (of ${writer.min}):`);
  for (const [p, bytes] of writerPackages) {
    console.log(`  ${String(bytes).padStart(7)}  ${pct(bytes, writer.min).padStart(4)}  ${p}`);
  }
  console.log();
  console.log(`(${elapsed} ms, npm install included)`);
}
