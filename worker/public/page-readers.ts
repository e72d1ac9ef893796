/**
 * The page readers of the table being viewed (rows-reader.ts over the
 * page's signed or bucket URLs): the table view's pages and the history's,
 * each counting its own requests, made when first needed.
 */
import { httpTableRows, PageReader } from "./rows-reader.ts";
import { fileUrl, type View } from "./state.ts";

const readers = new WeakMap<View, { rows: PageReader; changes: PageReader }>();

/**
 * The page readers of a table being viewed: the table view's pages and the
 * history's, each counting its own requests.
 */
export function pageReaders(v: View): { rows: PageReader; changes: PageReader } {
  let r = readers.get(v);
  if (!r) {
    r = {
      rows: new PageReader(httpTableRows(v.reader, (key) => fileUrl(v, key))),
      changes: new PageReader(httpTableRows(v.reader, (key) => fileUrl(v, key))),
    };
    readers.set(v, r);
  }
  return r;
}
