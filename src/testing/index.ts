/**
 * `tidemark/testing`: prove your own store with tidemark's store contract,
 * the suite every built-in adapter passes, and inject faults with `faulty`.
 * Framework-neutral: hand it a {@link Harness} for vitest, node:test or
 * Deno.test (see docs/store-contract.md). Web-standard globals only, so it
 * runs in Node, Deno, workerd and browsers.
 *
 * ```ts
 * import { it } from "vitest";
 * import { objectStoreContract } from "tidemark/testing";
 * objectStoreContract({ test: (name, fn, o) => it(name, fn, o?.timeoutMs) }, () => new MyStore());
 * ```
 *
 * @module
 */
export { type FaultKind, type FaultPlan, type FaultyStore, faulty, seededRandom } from "../store/faulty.ts";
export { type Assert, AssertionError, assert, isDeepEqual } from "./assert.ts";
export { codeOf, collect, type Harness, randomId, uniquePrefix } from "./harness.ts";
export { type ContractOptions, objectStoreContract } from "./store-contract.ts";
