/**
 * `tidemark inspect <store>`: the table's layout, HEAD, low_water, the
 * snapshot chain (with anomalies), HEAD's schema, live files and sizes, and
 * (with `--source`) the lag behind a primary. Reads only (`get`/`head`; a
 * listing only when the table looks empty), so it works on HTTP stores.
 *
 * @module
 */
import type { ChainEnd } from "../../catalog/chain.ts";
import { readTableSchema, type TableSchema } from "../../catalog/schema.ts";
import { openTable } from "../../catalog/table.ts";
import { isTidemarkError } from "../../errors.ts";
import type { Manifest } from "../../manifest/gen/manifest_pb.ts";
import { referencedFiles, snapshotTotals } from "../../manifest/live.ts";
import { ifExists } from "../../store/exists.ts";
import type { CliContext } from "../context.ts";
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

const LAYOUT_TEXT = {
  posix: "posix (merutable's primary: version-hint.text, metadata/vN.metadata.pb)",
  "object-store": "object-store (metadata/vN.manifest.bin, low_water.txt)",
  empty: "empty",
} as const;

function summarise(version: number, m: Manifest): SnapshotRow {
  const totals = snapshotTotals(m);
  return {
    version,
    snapshotId: m.snapshotId,
    sequenceNumber: m.sequenceNumber,
    lastUpdatedMs: Number(m.lastUpdatedMs),
    liveFiles: totals.files,
    liveBytes: totals.bytes,
  };
}

/** Why the chain shown ends: where the walk stopped, or `limit` (`--limit`). */
type ChainEndShown = ChainEnd["reason"] | "limit" | "empty";

const CHAIN_END_TEXT: Partial<Record<ChainEndShown, string>> = {
  missing: "older snapshots are not on this store: expired, or never mirrored",
  boundary: "older snapshots are below the table's boundary: a mirror's retention expired them",
  "not-built-on":
    "the next older manifest is not the one its successor was built on (a leftover or a withdrawn commit)",
  legacy: "older snapshots are legacy JSON manifests (merutable before protobuf): not read",
};

export async function inspectCommand(ctx: CliContext, spec: string, opts: InspectOptions): Promise<number> {
  const { store, label } = await openStoreUrl(spec, ctx.env, { mustExist: true });
  const table = await openTable(store);
  const found = await table.discover();
  const head = found.version;
  // A mirror with a retention policy: the oldest version it keeps (0: it publishes none).
  const oldestRetained = head > 0 ? await table.retentionBoundary() : 0;
  const bar = await progressBar(ctx.io, opts);

  const chain: SnapshotRow[] = [];
  const anomalies: Array<{ version: number; message: string }> = [];
  let headManifest: Manifest | undefined;
  let chainEnd: ChainEndShown = "empty";
  if (head > 0) {
    const want = opts.limit === 0 ? head : Math.min(opts.limit, head);
    bar.start(want, "reading manifests");
    const onEnd = (e: ChainEnd) => {
      chainEnd = e.reason;
    };
    for await (const { version, manifest, anomaly } of table.snapshots(head, { onEnd })) {
      if (version === head) headManifest = manifest;
      if (anomaly !== undefined) anomalies.push({ version, message: anomaly });
      chain.push(summarise(version, manifest));
      bar.update(chain.length);
      if (opts.limit !== 0 && chain.length >= opts.limit) {
        chainEnd = "limit";
        break;
      }
    }
    bar.stop();
    headManifest ??= await table.manifest(head);
  }
  const files = headManifest ? referencedFiles(headManifest) : [];
  const liveBytes = headManifest ? snapshotTotals(headManifest).bytes : 0;
  let schema: TableSchema | undefined;
  let schemaProblem: string | undefined;
  if (headManifest) {
    try {
      schema = readTableSchema(headManifest, table.manifestKey(head));
    } catch (e) {
      if (!isTidemarkError(e, "Corrupt")) throw e;
      schemaProblem = e.message;
    }
  }

  let source: { store: string; head: number; lagVersions: number; lagSeconds: number | null } | undefined;
  if (opts.source !== undefined) {
    const src = await openStoreUrl(opts.source, ctx.env, { mustExist: true });
    const srcTable = await openTable(src.store);
    const srcHead = await srcTable.head();
    const lagVersions = Math.max(0, srcHead - head);
    // As Mirror.lagSeconds: the age of the oldest source commit not on this store (0 when caught up).
    let lagSeconds: number | null = 0;
    if (lagVersions > 0) {
      // Missing: expired on the source already, the mirror has a gap to skip.
      const next = await ifExists(srcTable.manifest(head + 1));
      const ms = next === undefined ? 0 : Number(next.lastUpdatedMs);
      lagSeconds = ms > 0 ? Math.max(0, (Date.now() - ms) / 1000) : null;
    }
    source = { store: src.label, head: srcHead, lagVersions, lagSeconds };
  }

  if (opts.json) {
    printJson(ctx.io, {
      ok: true,
      store: label,
      layout: found.layout,
      head,
      lowWater: found.lowWater,
      lowWaterStatus: found.lowWaterStatus,
      probes: found.probes,
      oldestRetained,
      tableUuid: headManifest?.tableUuid ?? null,
      schema: schema ?? null,
      ...(schemaProblem !== undefined ? { schemaProblem } : {}),
      liveFiles: files.length,
      liveBytes,
      chain,
      chainEnd,
      anomalies,
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
    out.push(`layout      ${LAYOUT_TEXT[found.layout]}`);
    out.push(`HEAD        v${head}  (table ${headManifest?.tableUuid || "-"})`);
    if (found.layout === "object-store") {
      out.push(
        `low_water   ${found.lowWaterStatus === "ok" ? found.lowWater : found.lowWaterStatus}  (${found.probes} probes)`,
      );
    }
    if (oldestRetained > 0)
      out.push(`retention   oldest version kept v${oldestRetained} (older ones expired)`);
    out.push(
      `schema      ${
        schema
          ? `${schema.table_name}: ${schema.columns.map((c) => c.name).join(", ")} (key ${schema.primary_key.map((i) => schema?.columns[i]?.name).join(", ")})`
          : (schemaProblem ?? "none (no merutable.schema.json: merutable cannot open this table)")
      }`,
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
    const why = CHAIN_END_TEXT[chainEnd];
    if (why !== undefined && (chain.at(-1)?.version ?? 0) > 1) out.push(`(${why})`);
  }
  for (const a of anomalies) out.push(`anomaly     v${a.version}: ${a.message}`);
  if (opts.files && files.length > 0) {
    out.push("", "live files of HEAD:");
    for (const f of files)
      out.push(`  ${f.path}  ${f.size === undefined ? `>= ${f.minSize} B (dv)` : formatBytes(f.size)}`);
  }
  ctx.io.stdout(`${out.join("\n")}\n`);
  return EXIT.ok;
}
