/**
 * Builds the browser inspector bundle (worker/public/inspector.js) with
 * esbuild, and measures it, the whole page (the bundle plus index.html with
 * its inline CSS, each gzipped as a server sends them) and the library's
 * browser reader (openMirror + HttpStore + verifyMirror, no UI), minified
 * and gzipped.
 *
 *   node scripts/build-inspector.ts            build, print sizes
 *   node scripts/build-inspector.ts --json     build, print sizes as JSON
 *
 * Used by `npm start`, the workers tests (vitest globalSetup) and the e2e
 * tests, so a clean clone never serves a stale or missing bundle.
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");

/** Sizes in bytes. */
export interface BundleSizes {
  /** worker/public/inspector.js: the page's script, the Parquet preview included. */
  inspector: { min: number; gzip: number };
  /** What a browser downloads for the page: inspector.js and index.html. */
  page: { bytes: number; gzip: number };
  reader: { min: number; gzip: number };
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

/** Builds worker/public/inspector.js and measures the reader; returns the sizes. */
export async function buildInspector(): Promise<BundleSizes> {
  const out = await build({
    ...BROWSER_BUNDLE,
    entryPoints: [join(root, "worker/public/inspector.ts")],
    outfile: join(root, "worker/public/inspector.js"),
    write: true,
    metafile: true,
  });
  const outputs = Object.values(out.metafile.outputs);
  const inspectorMin = outputs.reduce((s, o) => s + o.bytes, 0);
  const { readFileSync } = await import("node:fs");
  const inspectorGzip = gzipSync(readFileSync(join(root, "worker/public/inspector.js")), { level: 9 }).length;
  const html = readFileSync(join(root, "worker/public/index.html"));
  const page = {
    bytes: inspectorMin + html.length,
    gzip: inspectorGzip + gzipSync(html, { level: 9 }).length,
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
    inspector: { min: inspectorMin, gzip: inspectorGzip },
    page,
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
      `inspector bundle: ${kb(sizes.inspector.min)} min, ${kb(sizes.inspector.gzip)} min+gzip ` +
        `(whole page with index.html: ${kb(sizes.page.gzip)}); ` +
        `reader (openMirror + HttpStore + verifyMirror): ${kb(sizes.reader.min)} min, ${kb(sizes.reader.gzip)} min+gzip ` +
        `(${Date.now() - t0} ms)`,
    );
  }
}

/** vitest globalSetup hook (workers project): the worker serves the bundle as a static asset. */
export async function setup(): Promise<void> {
  await buildInspector();
}
