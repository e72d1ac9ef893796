/**
 * The Iceberg view panel: for a table whose mirror carries Apache Iceberg
 * views (the table's `iceberg` setting, docs/iceberg.md), each view's
 * current snapshot (its id is the mirrored version it shows), its lag behind
 * the mirror, its latest metadata file, why its last update failed, and how
 * to query it, as snippets to copy with the view's own metadata location:
 * DuckDB's `iceberg_scan`, and for an `s3://` view pyiceberg's
 * `StaticTable` and Spark (see {@link querySnippets}). Loaded
 * after the first paint, when a table's status first names a view (lazy.ts).
 * The read token is never put into a snippet: a view read through the
 * Worker's object route names it as `<READ_TOKEN>`.
 */
import { $, el } from "./dom.ts";

/** A view as the table's status reports it (worker/view-status.ts). */
export interface ViewStatusJson {
  location: string;
  prefix: string;
  snapshotId: number | null;
  version: number;
  lagVersions: number;
  metadataLocation: string | null;
  lastError?: { message: string; atMs: number };
}

const PANEL = "view-panel";
/** What the panel shows now, so a refresh that changes nothing keeps a selection or a copied state. */
let shown = "";

/**
 * The snippets that query the view at `metadata` (one of its metadata
 * files), for the engines that read its location's scheme: DuckDB reads
 * `https://` and `s3://`; pyiceberg's and Spark's file IO read `s3://`, not
 * `https://` (pyiceberg maps no http scheme to a FileIO; Hadoop's HTTP file
 * system cannot seek), so an `https://` view names them the bucket's view.
 */
export function querySnippets(view: ViewStatusJson, metadata: string): Array<{ name: string; code: string }> {
  if (/^https?:/i.test(view.location)) {
    return [
      {
        name: "DuckDB",
        code:
          "INSTALL iceberg; LOAD iceberg; INSTALL httpfs; LOAD httpfs;\n" +
          "CREATE SECRET (TYPE http, EXTRA_HTTP_HEADERS MAP {'Authorization': 'Bearer <READ_TOKEN>'});\n" +
          `SELECT * FROM iceberg_scan('${metadata}');`,
      },
    ];
  }
  return [
    {
      name: "DuckDB",
      code:
        "INSTALL iceberg; LOAD iceberg; INSTALL httpfs; LOAD httpfs;\n" +
        "CREATE SECRET (TYPE s3, KEY_ID '<KEY_ID>', SECRET '<SECRET>', ENDPOINT '<ENDPOINT>', URL_STYLE 'path');\n" +
        `SELECT * FROM iceberg_scan('${metadata}');`,
    },
    {
      name: "pyiceberg",
      code:
        "from pyiceberg.table import StaticTable\n" +
        `t = StaticTable.from_metadata("${metadata}", properties={"s3.endpoint": "<ENDPOINT>", "s3.access-key-id": "<KEY_ID>", "s3.secret-access-key": "<SECRET>"})\n` +
        "t.scan().to_arrow()",
    },
    {
      name: "Spark",
      code: `spark.read.format("iceberg").load("${metadata}")`,
    },
  ];
}

function copyButton(text: string, label: string): HTMLButtonElement {
  const b = el("button", "copy");
  b.type = "button";
  b.setAttribute("aria-label", `copy ${label}`);
  b.addEventListener("click", () => {
    void navigator.clipboard?.writeText(text).then(
      () => {
        b.textContent = "copied";
      },
      () => {
        b.textContent = "select and copy";
      },
    );
  });
  return b;
}

function stat(value: string, label: string, id: string): HTMLElement {
  const d = el("div", undefined, "stat");
  const b = el("b", value);
  b.dataset.view = id;
  d.append(b, el("span", label));
  return d;
}

function renderView(view: ViewStatusJson): HTMLElement {
  const box = el("div");
  box.dataset.prefix = view.prefix;
  const h = el("h3", `${view.location} · ${view.prefix}/`, "mono");
  const stats = el("div", undefined, "stats");
  stats.append(
    stat(view.snapshotId === null ? "–" : String(view.snapshotId), "current snapshot id", "snapshot"),
    stat(view.version === 0 ? "–" : `v${view.version}`, "mirrored version it shows", "version"),
    stat(String(view.lagVersions), view.lagVersions === 1 ? "version behind" : "versions behind", "lag"),
  );
  box.append(h, stats);
  if (view.lastError) box.append(el("p", `last view error: ${view.lastError.message}`, "bad"));
  const metadata = view.metadataLocation;
  if (metadata === null) {
    box.append(el("p", "No snapshot yet: the view is written after the mirror's first version.", "muted"));
    return box;
  }
  const line = el("p");
  const code = el("code", metadata, "mono");
  code.id = `view-metadata-${view.prefix.replace(/[^a-z0-9_-]/gi, "-")}`;
  code.dataset.metadataLocation = metadata;
  line.append("latest metadata: ", code, " ", copyButton(metadata, "the metadata location"));
  box.append(line);
  box.append(
    el(
      "p",
      `An older version: its own metadata file, v{N}.metadata.json beside it; snapshot ids are the mirrored versions (VERSION AS OF N).`,
      "muted",
    ),
  );
  if (/^https?:/i.test(view.location)) {
    box.append(
      el(
        "p",
        "Read through an https:// location by DuckDB; pyiceberg and Spark read a view written for the bucket's s3:// location (add one to the table's iceberg setting).",
        "muted",
      ),
    );
  }
  for (const s of querySnippets(view, metadata)) {
    const pre = el("pre", s.code, "mono snippet");
    // Wrapped, not scrolled: a long location must not widen a narrow screen.
    pre.style.whiteSpace = "pre-wrap";
    pre.dataset.engine = s.name;
    const head = el("h3", s.name);
    head.append(" ", copyButton(s.code, `the ${s.name} query`));
    box.append(head, pre);
  }
  return box;
}

/** Shows the table's views (none: the panel goes). */
export function renderViewPanel(views: readonly ViewStatusJson[] | undefined): void {
  const key = JSON.stringify(views ?? []);
  if (key === shown && document.getElementById(PANEL)) return;
  shown = key;
  document.getElementById(PANEL)?.remove();
  if (!views || views.length === 0) return;
  const section = el("section", undefined, "wide");
  section.id = PANEL;
  section.style.overflowWrap = "anywhere";
  section.setAttribute("aria-labelledby", "h-view-panel");
  const h2 = el("h2", "Iceberg view");
  h2.id = "h-view-panel";
  section.append(h2, ...views.map(renderView));
  document.querySelector("main")?.append(section);
}

/** The panel's element, if shown (for the page's own checks). */
export const viewPanel = () => $(PANEL) as HTMLElement | null;
