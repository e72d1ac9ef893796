/**
 * `tidemark inspect <store>`: HEAD, low_water, the snapshot chain, HEAD's
 * live files and sizes, and (with `--source`) the lag behind a primary.
 * Reads only (`get`/`head`, no listing), so it works on HTTP stores.
 *
 * @module
 */
import { discoverHead } from "../../catalog/index.ts";
import { isTidemarkError } from "../../errors.ts";
import { liveFileInfo, type Manifest } from "../../manifest/index.ts";
import { openMirror } from "../../mirror/index.ts";
import type { CliContext } from "../main.ts";
import { EXIT, formatBytes, formatTime, type OutputOptions, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface InspectOptions extends OutputOptions {
  source?: string;
  limit: number;
  files?: boolean;
}

/** One snapshot of the chain, as printed. */
interface SnapshotRow {
  version: number;
  snapshotId: bigint;
  sequenceNumber: bigint;
  lastUpdatedMs: number;
  liveFiles: number;
  liveBytes: number;
}

function summarise(version: number, m: Manifest): SnapshotRow {
  const files = liveFileInfo(m);
  return {
    version,
    snapshotId: m.snapshotId,
    sequenceNumber: m.sequenceNumber,
    lastUpdatedMs: Number(m.lastUpdatedMs),
    liveFiles: files.length,
    liveBytes: files.reduce((n, f) => n + (f.size ?? f.minSize), 0),
  };
}

export async function inspectCommand(ctx: CliContext, spec: string, opts: InspectOptions): Promise<number> {
  const { store, label } = await openStoreUrl(spec, ctx.env);
  const reader = openMirror(store);
  const found = await discoverHead(store);
  const head = found.version;
  const bar = progressBar(ctx.io, opts);

  const chain: SnapshotRow[] = [];
  let headManifest: Manifest | undefined;
  let chainEnd: "start" | "missing" | "limit" = "start";
  if (head > 0) {
    const want = opts.limit === 0 ? head : Math.min(opts.limit, head);
    bar.start(want, "reading manifests");
    for await (const { version, manifest } of reader.snapshots()) {
      if (version === head) headManifest = manifest;
      chain.push(summarise(version, manifest));
      bar.update(chain.length);
      if (opts.limit !== 0 && chain.length >= opts.limit) {
        chainEnd = "limit";
        break;
      }
    }
    bar.stop();
    // The walk stops at the first missing manifest: expired on the primary, or never mirrored.
    const last = chain[chain.length - 1];
    if (chainEnd !== "limit" && last !== undefined && last.version > 1) chainEnd = "missing";
    headManifest ??= await reader.manifest(head);
  }
  const files = headManifest ? liveFileInfo(headManifest) : [];
  const liveBytes = files.reduce((n, f) => n + (f.size ?? f.minSize), 0);

  let source: { store: string; head: number; lagVersions: number; lagSeconds: number | null } | undefined;
  if (opts.source !== undefined) {
    const src = await openStoreUrl(opts.source, ctx.env);
    const srcHead = (await discoverHead(src.store)).version;
    const lagVersions = Math.max(0, srcHead - head);
    // As Mirror.lagSeconds: the age of the oldest source commit not on this store (0 when caught up).
    let lagSeconds: number | null = 0;
    if (lagVersions > 0) {
      try {
        const next = await openMirror(src.store).manifest(head + 1);
        const ms = Number(next.lastUpdatedMs);
        lagSeconds = ms > 0 ? Math.max(0, (Date.now() - ms) / 1000) : null;
      } catch (e) {
        if (!isTidemarkError(e, "NotFound")) throw e;
        lagSeconds = null; // expired on the source already: the mirror has a gap to skip
      }
    }
    source = { store: src.label, head: srcHead, lagVersions, lagSeconds };
  }

  if (opts.json) {
    printJson(ctx.io, {
      ok: true,
      store: label,
      head,
      lowWater: found.lowWater,
      lowWaterStatus: found.lowWaterStatus,
      probes: found.probes,
      tableUuid: headManifest?.tableUuid ?? null,
      liveFiles: files.length,
      liveBytes,
      chain,
      chainEnd: head === 0 ? "empty" : chainEnd,
      ...(opts.files
        ? { files: files.map((f) => ({ path: f.path, kind: f.kind, size: f.size ?? null })) }
        : {}),
      ...(source ? { source } : {}),
    });
    return EXIT.ok;
  }

  const out: string[] = [];
  out.push(`store       ${label}`);
  if (head === 0) {
    out.push("HEAD        none (no snapshot on this store)");
  } else {
    out.push(`HEAD        v${head}  (table ${headManifest?.tableUuid || "-"})`);
    out.push(
      `low_water   ${found.lowWaterStatus === "ok" ? found.lowWater : found.lowWaterStatus}  (${found.probes} probes)`,
    );
    out.push(`live files  ${files.length}, ${formatBytes(liveBytes)}`);
  }
  if (source) {
    const lag =
      source.lagVersions === 0
        ? "caught up"
        : `${source.lagVersions} version(s) behind, ${source.lagSeconds === null ? "age unknown" : `${source.lagSeconds.toFixed(0)} s`}`;
    out.push(`source      ${source.store}  HEAD v${source.head}: ${lag}`);
  }
  if (chain.length > 0) {
    out.push("", "version  snapshot_id  sequence  committed                 files  bytes");
    for (const r of chain) {
      out.push(
        `v${String(r.version).padEnd(7)} ${String(r.snapshotId).padEnd(12)} ${String(r.sequenceNumber).padEnd(9)} ${formatTime(r.lastUpdatedMs).padEnd(25)} ${String(r.liveFiles).padEnd(6)} ${formatBytes(r.liveBytes)}`,
      );
    }
    if (chainEnd === "limit") out.push(`... (older snapshots not shown: --limit ${opts.limit}, 0 for all)`);
    if (chainEnd === "missing")
      out.push("(older snapshots are not on this store: expired, or never mirrored)");
  }
  if (opts.files && files.length > 0) {
    out.push("", "live files of HEAD:");
    for (const f of files)
      out.push(`  ${f.path}  ${f.size === undefined ? `>= ${f.minSize} B (dv)` : formatBytes(f.size)}`);
  }
  ctx.io.stdout(`${out.join("\n")}\n`);
  return EXIT.ok;
}
