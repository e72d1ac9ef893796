/**
 * Builds the browser inspector (worker/public/inspector.js and, split off by
 * esbuild, the parts the page loads after its first paint in
 * worker/public/chunks/: the table's rows and row-level history, a data
 * file's preview) and measures it: what the first paint needs (the entry
 * script, the chunks it imports, index.html with its inline CSS, each
 * gzipped as a server sends it), what comes later, and the library's
 * browser reader (openMirror + HttpStore + verifyMirror, no UI), minified
 * and gzipped.
 *
 *   node scripts/build-inspector.ts            build, print sizes
 *   node scripts/build-inspector.ts --json     build, print sizes as JSON
 *
 * Used by `npm start`, the workers tests (vitest globalSetup) and the e2e
 * tests, so a clean clone never serves a stale or missing bundle.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build, type Metafile } from "esbuild";

const root = join(import.meta.dirname, "..");
const publicDir = join(root, "worker/public");

/** Sizes in bytes: minified, and gzipped (level 9) file by file. */
export interface Sized {
  min: number;
  gzip: number;
}

/** Sizes in bytes. */
export interface BundleSizes {
  /** The scripts the first paint needs: inspector.js and the chunks it imports. */
  inspector: Sized;
  /** What a browser downloads for the first paint: those scripts and index.html. */
  page: { bytes: number; gzip: number };
  /** The parts loaded later (the table's rows and history; a file's preview), each a chunk. */
  later: Sized & { chunks: Array<Sized & { file: string }> };
  reader: Sized;
}

/** esbuild options of every browser bundle we ship or measure (bench/bundle.ts reuses them). */
export const BROWSER_BUNDLE = {
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
} as const;

/** The inspector's build: its entry, split into the first paint's script and chunks loaded later. */
export const INSPECTOR_BUILD = {
  ...BROWSER_BUNDLE,
  entryPoints: { inspector: join(publicDir, "inspector.ts") },
  outdir: publicDir,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  metafile: true,
} satisfies BuildOptions;

/**
 * The inspector's outputs split by when the page loads them: the entry and
 * the chunks it imports statically (the first paint), the rest (loaded by
 * `import()` later). `bytesOf` gives an output's bytes by its metafile path.
 */
export function inspectorParts(
  metafile: Metafile,
  bytesOf: (output: string) => Uint8Array,
): { first: Array<Sized & { file: string }>; later: Array<Sized & { file: string }> } {
  const outputs = metafile.outputs;
  const entry = Object.keys(outputs).find((o) => outputs[o]?.entryPoint !== undefined && o.endsWith(".js"));
  if (!entry) throw new Error("esbuild made no entry script");
  const first = new Set<string>();
  const visit = (o: string) => {
    if (first.has(o)) return;
    first.add(o);
    for (const i of outputs[o]?.imports ?? []) if (i.kind === "import-statement") visit(i.path);
  };
  visit(entry);
  const sized = (o: string) => {
    const b = bytesOf(o);
    return {
      file: relative(join(root, "worker/public"), join(root, o)),
      min: b.length,
      gzip: gzipSync(b, { level: 9 }).length,
    };
  };
  const scripts = Object.keys(outputs).filter((o) => o.endsWith(".js"));
  return {
    first: scripts.filter((o) => first.has(o)).map(sized),
    later: scripts.filter((o) => !first.has(o)).map(sized),
  };
}

const sum = (xs: Sized[]): Sized => ({
  min: xs.reduce((n, x) => n + x.min, 0),
  gzip: xs.reduce((n, x) => n + x.gzip, 0),
});

/** Builds the inspector into worker/public and measures it and the reader; returns the sizes. */
export async function buildInspector(): Promise<BundleSizes> {
  // Chunks are named by their hash: the last build's would stay behind.
  rmSync(join(publicDir, "chunks"), { recursive: true, force: true });
  const out = await build({ ...INSPECTOR_BUILD, write: true });
  const parts = inspectorParts(out.metafile, (o) => readFileSync(join(root, o)));
  const inspector = sum(parts.first);
  const html = readFileSync(join(publicDir, "index.html"));
  const page = {
    bytes: inspector.min + html.length,
    gzip: inspector.gzip + gzipSync(html, { level: 9 }).length,
  };

  // The reader alone: what an application embedding tidemark's browser reader pays.
  const reader = await build({
    ...BROWSER_BUNDLE,
    stdin: {
      contents: 'export { HttpStore, openMirror, verifyMirror } from "./src/index.ts";',
      resolveDir: root,
      sourcefile: "reader-entry.ts",
      loader: "ts",
    },
    write: false,
  });
  const readerBytes = reader.outputFiles[0]?.contents ?? new Uint8Array();
  return {
    inspector,
    page,
    later: { ...sum(parts.later), chunks: parts.later },
    reader: { min: readerBytes.length, gzip: gzipSync(readerBytes, { level: 9 }).length },
  };
}

if (import.meta.main) {
  const t0 = Date.now();
  const sizes = await buildInspector();
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(sizes));
  } else {
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
    console.log(
      `inspector: first paint ${kb(sizes.page.gzip)} min+gzip (scripts ${kb(sizes.inspector.gzip)} and index.html), ` +
        `${kb(sizes.later.gzip)} more loaded later (${sizes.later.chunks.map((c) => `${c.file} ${kb(c.gzip)}`).join(", ")}); ` +
        `reader (openMirror + HttpStore + verifyMirror): ${kb(sizes.reader.min)} min, ${kb(sizes.reader.gzip)} min+gzip ` +
        `(${Date.now() - t0} ms)`,
    );
  }
}

/** vitest globalSetup hook (workers project): the worker serves the bundle as a static asset. */
export async function setup(): Promise<void> {
  await buildInspector();
}
