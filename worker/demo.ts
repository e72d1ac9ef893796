/**
 * The demo writer: one synthetic snapshot per call into a table's SOURCE, as
 * an LSM-shaped table would produce them. Each commit flushes a few level-0
 * files; now and then it compacts the level-0 files into one level-1 file
 * (removing them), so snapshots both add and remove files.
 */
import { Catalog, type DataFileInput, numberOption, type ObjectStore } from "../src/index.ts";

/** Options of {@link demoCommit}. */
export interface DemoCommitOptions {
  /** New level-0 files per commit (default 2; 1 to 2,000). */
  files?: number;
  /** Bytes per new file (default 2,048; 1 to 1 MiB). */
  bytes?: number;
  /** Compact when this many level-0 files are live (default 8; 0: never; at most 10,000). */
  compactAt?: number;
}

const encoder = new TextEncoder();

function keyBytes(n: number): Uint8Array {
  return encoder.encode(`k${String(n).padStart(8, "0")}`);
}

/**
 * Writes the data files of one snapshot to `source`, commits it, and returns
 * the new version. `InvalidArgument` naming an option out of its range (never
 * clamped: a request for 5,000 files is refused, not served 2,000).
 */
export async function demoCommit(source: ObjectStore, opts: DemoCommitOptions = {}): Promise<number> {
  const files = numberOption("files", opts.files, 2, { min: 1, max: 2000 });
  const bytes = numberOption("bytes", opts.bytes, 2048, { min: 1, max: 1 << 20 });
  const compactAt = numberOption("compactAt", opts.compactAt, 8, { min: 0, max: 10_000 });
  const catalog = await Catalog.open(source);
  const head = await catalog.head();
  const add: DataFileInput[] = [];
  const remove: string[] = [];
  const batch = crypto.randomUUID().slice(0, 8);
  const writeFile = async (path: string, size: number) => {
    const body = new Uint8Array(size);
    crypto.getRandomValues(body.subarray(0, Math.min(size, 65_536)));
    await source.put(path, body, { mode: "create" });
  };

  if (head > 0 && compactAt > 0) {
    const m = await catalog.manifest(head);
    const l0 = m.dataFiles.filter((f) => f.status !== 2 && f.level === 0);
    if (l0.length >= compactAt) {
      const size = l0.reduce((s, f) => s + Number(f.fileSize), 0);
      const rows = l0.reduce((s, f) => s + Number(f.numRows), 0);
      const path = `data/L1/${head + 1}-${batch}-c.parquet`;
      await writeFile(path, Math.min(size, 4 << 20));
      add.push({
        path,
        fileSize: Math.min(size, 4 << 20),
        numRows: rows,
        level: 1,
        keyMin: l0[0]?.keyMin ?? keyBytes(0),
        keyMax: l0[l0.length - 1]?.keyMax ?? keyBytes(0),
      });
      remove.push(...l0.map((f) => f.path));
    }
  }

  const paths = Array.from({ length: files }, (_, i) => `data/L0/${head + 1}-${batch}-${i}.parquet`);
  for (let i = 0; i < paths.length; i += 50) {
    await Promise.all(paths.slice(i, i + 50).map((p) => writeFile(p, bytes)));
  }
  paths.forEach((path, i) => {
    const first = (head * files + i) * 100;
    add.push({
      path,
      fileSize: bytes,
      numRows: 100,
      level: 0,
      seqMin: first,
      seqMax: first + 99,
      keyMin: keyBytes(first),
      keyMax: keyBytes(first + 99),
    });
  });
  return catalog.commit({ add, remove, properties: { writer: "tidemark-demo" } });
}
