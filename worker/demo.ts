/**
 * The worker's demo writer (`POST /api/tables/:table/commit`, on where
 * `DEMO_WRITER=1`): one snapshot per call into a table's SOURCE, with real
 * Parquet data files laid out as merutable writes them and merutable's schema
 * in the manifest. The writer is shared with the CLI's `memory:demo` store.
 */
export { type DemoCommitOptions, demoCommit } from "../src/cli/demo.ts";
