/**
 * The parts of the page loaded after its first paint, each once: the
 * table's rows and row-level history (rows-views.ts: the library's rows
 * reader and hyparquet's decoders), when the table view first shows rows;
 * a data file's preview (file-preview.ts), when a file is first previewed;
 * the Iceberg view panel (view-panel.ts), when a table's status names a view;
 * the checkpoint roots' attempts (checkpoint-view.ts), when the worker has any.
 * A part that fails to load (the network) is asked for again next time.
 */
import type * as CheckpointView from "./checkpoint-view.ts";
import type * as FilePreview from "./file-preview.ts";
import type * as RowsViews from "./rows-views.ts";
import type * as ViewPanel from "./view-panel.ts";

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}

/** The table view and the row-level history. */
export const rowsViews: () => Promise<typeof RowsViews> = once(() => import("./rows-views.ts"));

/** A data file's preview. */
export const filePreview: () => Promise<typeof FilePreview> = once(() => import("./file-preview.ts"));

/** The Iceberg view panel (view-panel.ts). */
export const viewPanel: () => Promise<typeof ViewPanel> = once(() => import("./view-panel.ts"));

/** Shows the table's Iceberg views: the panel loads when a status first names one. */
export function renderViews(views: ViewPanel.ViewStatusJson[] | undefined): void {
  if (views?.length) void viewPanel().then((m) => m.renderViewPanel(views));
  else document.getElementById("view-panel")?.remove();
}

/** Shows the selected snapshot's rows (rows-views.ts loaded first). */
export function renderTable(): void {
  void rowsViews().then((m) => m.renderTable());
}

/** The checkpoint roots' attempts view (checkpoint-view.ts), shown when the worker lists roots. */
export const checkpointView: () => Promise<typeof CheckpointView> = once(
  () => import("./checkpoint-view.ts"),
);
