/**
 * The preview of one data file: reads it with previewParquet (Range reads of
 * a signed or bucket URL, parquet-preview.ts) and fills the page's summary
 * facts, merutable's schema, the Parquet schema and the first rows
 * (preview-rows.ts); a file that cannot be read names why (unauthorised, not
 * found, not Parquet, corrupt, unreachable) in the preview's status line.
 * Loaded (with the Parquet reader) when a file is first previewed.
 */
import { errorCodeOf } from "../../src/errors.ts";
import { liveDataFiles } from "../../src/manifest/live.ts";
import { $, el, fmtBytes, fmtInt } from "./dom.ts";
import { meruType, parseMeruSchema } from "./meru.ts";
import { clearPreview, renderFacts } from "./page-status.ts";
import { isNotParquet, type Preview, previewParquet } from "./parquet-preview.ts";
import { renderRows } from "./preview-rows.ts";
import { fileUrl, schemaOf, view } from "./state.ts";

/** A file's preview error as the page names it: unauthorised, not found, not Parquet, corrupt, unreachable. */
export function previewError(e: unknown, path: string): [kind: string, message: string] {
  const code = errorCodeOf(e);
  if (code === "PermissionDenied") return ["unauthorised", `Not authorised to read ${path} (HTTP 401/403).`];
  if (code === "NotFound") {
    return [
      "not-found",
      `${path} is not on the mirror (HTTP 404): expired at the source, or not mirrored yet.`,
    ];
  }
  if (isNotParquet(e)) return ["not-parquet", `${path} is not a Parquet file (no PAR1 magic).`];
  if (code === "Corrupt") return ["corrupt", `Corrupt file: ${(e as Error).message}`];
  if (code === "Transient")
    return ["unreachable", `Cannot reach the mirror (network error, 429 or 5xx): try again.`];
  return ["error", (e as Error).message];
}

export async function preview(path: string): Promise<void> {
  const v = view;
  const s = v?.snapshots.find((x) => x.version === v.selected);
  const entry = s && liveDataFiles(s.manifest).find((f) => f.path === path);
  if (!v || !s || !entry) return;
  v.file = path;
  for (const tr of $("files").querySelectorAll("tr")) {
    tr.classList.toggle("sel", tr.querySelector("button")?.dataset.path === path);
  }
  $("preview-path").textContent = path;
  clearPreview(`Reading ${path}…`, "loading");
  let p: Preview;
  try {
    p = await previewParquet({ key: path, size: Number(entry.fileSize), url: () => fileUrl(v, path) });
  } catch (e) {
    if (view !== v || v.file !== path) return;
    const [kind, message] = previewError(e, path);
    clearPreview(message, kind);
    return;
  }
  if (view !== v || v.file !== path) return;
  const status = $("preview-status");
  status.textContent = `First ${fmtInt(p.rows.length)} of ${fmtInt(p.numRows)} rows, read with ${p.requests} HTTP range request${p.requests === 1 ? "" : "s"}.`;
  status.className = "line ok";
  status.dataset.kind = "ok";
  status.dataset.requests = String(p.requests);
  const schema = schemaOf(s) ?? parseMeruSchema(p.kv["merutable.schema"]);
  renderFacts([
    `${fmtInt(p.numRows)}${p.numRows === Number(entry.numRows) ? "" : ` (manifest: ${fmtInt(entry.numRows)})`}`,
    fmtInt(p.rowGroups),
    p.compression.join(", "),
    fmtBytes(Number(entry.fileSize)),
    `L${entry.level}${entry.format === 1 ? " (dual)" : entry.format === 0 ? " (columnar)" : ""}`,
    `${entry.seqMin} … ${entry.seqMax}`,
    p.createdBy || "–",
  ]);
  $("meru-schema").replaceChildren(
    ...(schema
      ? schema.columns.map((c, i) => {
          const tr = el("tr");
          const key = schema.primary_key.indexOf(i);
          tr.append(
            el("td", c.name, "mono"),
            el("td", meruType(c.col_type)),
            el("td", c.nullable ? "yes" : "no"),
            el("td", key < 0 ? "" : `PK ${key + 1}`),
            el("td", c.field_id == null ? "" : String(c.field_id), "num"),
          );
          return tr;
        })
      : [el("tr")]),
  );
  if (!schema) $("meru-schema").firstElementChild?.append(el("td", "no merutable.schema.json", "muted"));
  $("pq-schema").replaceChildren(
    ...p.columns.map((c) => {
      const tr = el("tr");
      tr.append(
        el("td", c.name, "mono"),
        el("td", c.type),
        el("td", c.repetition),
        el("td", c.codec),
        el("td", c.encodings),
      );
      return tr;
    }),
  );
  renderRows(p, schema);
}
