import { availableParallelism } from "node:os";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Projects: "node" (unit and integration tests in Node), "e2e" (real binaries,
// browsers, packaging; run one file at a time), and "workers" (inside workerd,
// see workersProject below).
export default defineConfig({
  test: {
    // At least two files at a time. Vitest's default is one less than the
    // cores, so one at a time on a 2-core machine, while most files spend
    // their time waiting on Ceph RGW, moto, workerd or a child process, not
    // on the CPU: two at once took 68-131 s where one took 130-153 s for the
    // same five service-bound files (alternating rounds on the shared 2-core
    // machine).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      workersProject("workers", ["test/workers/**/*.test.ts"], 60_000),
      // pyiceberg reading the Iceberg view: `npm run test:pyiceberg` only, since no package index
      // this project's machines reach serves pyiceberg (test/pyiceberg/iceberg-pyiceberg.test.ts).
      ...(process.env.TIDEMARK_PYICEBERG === "1"
        ? [{ test: { name: "pyiceberg", include: ["test/pyiceberg/**/*.test.ts"], testTimeout: 120_000 } }]
        : []),
      ...(process.env.TIDEMARK_BENCH === "1"
        ? // The worker's own defaults (wrangler.toml): the per-alarm budget of 40 requests.
          [
            workersProject("workers-bench", ["bench/workers/**/*.test.ts"], 1_800_000, {
              BUDGET_REQUESTS: "",
              // Tables per burst (bench/workers.ts --tables; empty: the bench's 100).
              BENCH_TABLES: process.env.TIDEMARK_BENCH_TABLES ?? "",
            }),
          ]
        : []),
    ],
  },
});

/**
 * A project inside workerd through @cloudflare/vitest-plugin: the R2 adapter,
 * the Worker and its Durable Objects, with the bindings of wrangler.toml
 * simulated locally. `workers` runs the tests; `workers-bench` (only with
 * TIDEMARK_BENCH=1: bench/workers.ts) the long measurements.
 */
function workersProject(
  name: string,
  include: string[],
  testTimeout: number,
  overrides: Record<string, string> = {},
) {
  return {
    plugins: [
      cloudflareTest({
        // The production worker, with a MirrorObject that records its puts (test/workers/entry.ts).
        main: "./test/workers/entry.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Pushed wake-ups: a bucket whose event notifications reach the queue
          // (PUSH_BUCKETS), and a producer the tests send R2-shaped events with.
          r2Buckets: ["PUSHED"],
          queueProducers: { TEST_EVENTS: { queueName: "tidemark-events" } },
          bindings: {
            ADMIN_TOKEN: "test-admin-token",
            // Reads are private: the tests read with this token (or sign, or Access JWTs).
            READ_TOKEN: "test-read-token",
            SIGNING_KEY: "test-signing-key-0123456789abcdef0123",
            // The demo's layout: table t is tables/t/ in SOURCE, mirrored to MIRROR.
            SOURCE_TABLES: "1",
            TABLES: "demo",
            // The admin commit route (the demo writer) is off unless this is "1".
            DEMO_WRITER: "1",
            // A small per-alarm budget, so a big snapshot takes many alarms.
            BUDGET_REQUESTS: "300",
            // Checkpoint roots (test/workers/checkpoint-object.test.ts): a small per-alarm
            // budget for lam, so its root takes several alarms; foreign's target holds another namespace;
            // old's source is in the layout before state-v2, which the Worker refuses.
            CHECKPOINT_CONFIG: JSON.stringify({
              lam: {
                source: "r2://SOURCE/cp-roots/lam",
                target: "r2://MIRROR/cp-roots/lam",
                budget: { requests: 12 },
              },
              foreign: { source: "r2://SOURCE/cp-roots/foreign", target: "r2://MIRROR/cp-roots/foreign" },
              old: { source: "r2://SOURCE/cp-roots/old", target: "r2://MIRROR/cp-roots/old" },
            }),
            // Tables whose source is r2://PUSHED/... have their wake-ups pushed.
            PUSH_BUCKETS: "PUSHED=tidemark-pushed",
            // The Ceph RGW that scripts/test.ts starts, for S3Store inside workerd
            // (test/workers/s3-store.test.ts); CI decides skip (local) vs failure.
            CI: process.env.CI ?? "",
            // And moto (scripts/with-moto.ts), for S3 tables configured by URL in workerd
            // (test/workers/tables.test.ts): their keys are secrets named TEST_S3 / TEST_MOTO.
            ...Object.fromEntries(
              ["S3", "MOTO"]
                .flatMap((p) =>
                  ["ENDPOINT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "BUCKET", "REGION"].map(
                    (k) => `${p}_${k}`,
                  ),
                )
                .filter((k) => process.env[k] !== undefined)
                .map((k) => [`TEST_${k}`, process.env[k] as string]),
            ),
            ...overrides,
          },
        },
      }),
    ],
    // icebird (test/workers/iceberg-view.test.ts) in workerd: see no-wasm-compressors.ts.
    resolve: { alias: { "hyparquet-compressors": "./test/workers/no-wasm-compressors.ts" } },
    test: {
      name,
      include,
      // Builds worker/public/inspector.js (served by the [assets] of wrangler.toml).
      globalSetup: ["./scripts/build-inspector.ts"],
      // No Durable Object alarm outlives its test (the pool does not reset them).
      setupFiles: ["./test/workers/setup.ts"],
      testTimeout,
    },
  };
}
