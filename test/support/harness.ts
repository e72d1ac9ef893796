/**
 * The test harness and helpers the shared suites use: those of
 * `tidemark/testing` (src/testing/harness.ts), so the store contract users run
 * and tidemark's own suites share one implementation.
 */
export { codeOf, collect, type Harness, randomId, uniquePrefix } from "../../src/testing/harness.ts";
