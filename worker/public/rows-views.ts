/**
 * The table view and the row-level history, one part of the page loaded
 * after its first paint (lazy.ts): with them come the library's rows reader
 * (src/rows/) and hyparquet's decoders. Loading it wires their controls.
 */

import { clearRowHistory, renderRowHistory, wireRowHistory } from "./row-history.ts";
import { renderTable, wireTable } from "./table-view.ts";

wireTable();
wireRowHistory();

export { clearRowHistory, renderRowHistory, renderTable };
