/**
 * The parts of the page loaded after its first paint, each once: the
 * table's rows and row-level history (rows-views.ts: the library's rows
 * reader and hyparquet's decoders), when the table view first shows rows;
 * a data file's preview (file-preview.ts), when a file is first previewed;
 * the checkpoint roots' attempts (checkpoint-view.ts), when the worker has any.
 * A part that fails to load (the network) is asked for again next time.
 */
import type * as CheckpointView from "./checkpoint-view.ts";
import type * as FilePreview from "./file-preview.ts";
import type * as RowsViews from "./rows-views.ts";

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

/** Shows the selected snapshot's rows (rows-views.ts loaded first). */
export function renderTable(): void {
  void rowsViews().then((m) => m.renderTable());
}

/** The checkpoint roots' attempts view (checkpoint-view.ts), shown when the worker lists roots. */
export const checkpointView: () => Promise<typeof CheckpointView> = once(
  () => import("./checkpoint-view.ts"),
);
