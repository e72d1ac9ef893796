// The bindings the workers tests see (`env` from "cloudflare:workers"): the
// worker's own Env (wrangler.toml plus the test-only vars in vitest.config.ts).
type TidemarkWorkerEnv = import("../../worker/env.ts").Env;

declare namespace Cloudflare {
  // wrangler.toml binds both buckets (the worker's Env has them optional).
  interface Env extends TidemarkWorkerEnv {
    SOURCE: R2Bucket;
    MIRROR: R2Bucket;
    /** A source bucket whose event notifications reach the queue (PUSH_BUCKETS in vitest.config.ts). */
    PUSHED: R2Bucket;
    /** A producer of the worker's queue, for R2-shaped events (vitest.config.ts). */
    TEST_EVENTS: Queue;
    /** The workers-bench project only: tables per burst (`bench/workers.ts --tables`; empty: 100). */
    BENCH_TABLES?: string;
  }
}

// The shared contract suites import node:assert (workerd provides it under
// nodejs_compat); @types/node cannot be loaded beside workers-types, so the
// few functions they use are declared here.
declare module "node:assert/strict" {
  interface Assert {
    (value: unknown, message?: string): asserts value;
    ok(value: unknown, message?: string): asserts value;
    equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notDeepEqual(actual: unknown, expected: unknown, message?: string): void;
    match(value: string, regexp: RegExp, message?: string): void;
    doesNotMatch(value: string, regexp: RegExp, message?: string): void;
    rejects(
      block: Promise<unknown> | (() => Promise<unknown>),
      error?: unknown,
      message?: string,
    ): Promise<void>;
    throws(block: () => unknown, error?: unknown, message?: string): void;
    fail(message?: string): never;
  }
  const assert: Assert;
  export default assert;
}

// Vite's `?raw` imports: a file's text (test fixtures read inside workerd, which has no file system).
declare module "*?raw" {
  const text: string;
  export default text;
}
