/**
 * `tidemark iceberg <store> --location LOCATION [--prefix P] [--json]`: builds
 * the Apache Iceberg view of a mirror (or brings it up to date): one Iceberg
 * snapshot per mirrored version, data files referenced in place, position
 * deletes for the rows the table does not contain. Idempotent and
 * incremental: a second run writes only the versions mirrored since.
 *
 * @module
 */
import { openTable } from "../../catalog/table.ts";
import { TidemarkError } from "../../errors.ts";
import { IcebergView } from "../../iceberg/view.ts";
import { capabilitiesOf } from "../../store/types.ts";
import type { CliContext } from "../context.ts";
import { EXIT, formatBytes, type OutputOptions, printJson, progressBar } from "../output.ts";
import { openStoreUrl } from "../store-url.ts";

interface IcebergCliOptions extends OutputOptions {
  location: string;
  prefix?: string;
}

export async function icebergCommand(
  ctx: CliContext,
  spec: string,
  opts: IcebergCliOptions,
): Promise<number> {
  const { store, label, kind } = await openStoreUrl(spec, ctx.env);
  if (!capabilitiesOf(store).write) {
    throw new TidemarkError(
      "InvalidArgument",
      `${label} is read-only (${kind}): the view is written into the mirror's store (a directory or s3://...)`,
    );
  }
  const view = new IcebergView(store, {
    location: opts.location,
    ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
  });
  const bar = await progressBar(ctx.io, opts);
  let result: Awaited<ReturnType<IcebergView["update"]>>;
  try {
    const head = await (await openTable(store)).head();
    if (head === 0) throw new TidemarkError("NotFound", `${label} holds no table version`);
    const start = (await view.status()).version;
    bar.start(Math.max(0, head - start), "writing Iceberg snapshots");
    result = await view.update({ through: head, onVersion: (v) => bar.update(v - start) });
  } finally {
    bar.stop();
  }
  if (opts.json) {
    printJson(ctx.io, { ok: true, store: label, ...result });
    return EXIT.ok;
  }
  const gaps =
    result.skipped.length > 0 ? `, ${result.skipped.length} version(s) the mirror lacks skipped` : "";
  const wrote =
    result.written.length === 0
      ? "up to date"
      : `wrote ${result.written.length} snapshot(s) (v${result.written[0]}-v${result.written.at(-1)}; ${result.writes.requests} writes, ${formatBytes(result.writes.bytes)})${gaps}`;
  ctx.io.stdout(
    `Iceberg view of ${label} at v${result.version}: ${wrote}\n` +
      `  metadata: ${result.metadataLocation}\n` +
      `  table location: ${view.where.table}\n`,
  );
  return EXIT.ok;
}
