/**
 * The output formats of `rows` and `diff`: in a module of their own so the
 * command tree (main.ts) can offer them as choices without loading the
 * commands (and the rows reader) before one of them runs.
 *
 * @module
 */

/** `tidemark rows --format`. */
export const ROW_FORMATS = ["table", "jsonl", "csv"] as const;

/** `tidemark diff --format`. */
export const DIFF_FORMATS = ["table", "jsonl"] as const;
