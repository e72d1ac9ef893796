/**
 * What icebird's `hyparquet-compressors` import resolves to in the workers
 * projects (vitest.config.ts): no extra decompressors. The package's Snappy
 * is WebAssembly compiled at run time, which workerd refuses ("Wasm code
 * generation disallowed by embedder"); without it hyparquet decompresses
 * Snappy with its own JavaScript code. Only icebird imports the package.
 */
export const compressors = {};
