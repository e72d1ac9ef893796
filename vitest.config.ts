import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Projects: "node" (unit and integration tests in Node), "e2e" (real binaries,
// browsers, packaging; run one file at a time), and "workers" (inside workerd
// through @cloudflare/vitest-plugin: the R2 adapter, the Worker and its
// Durable Object, with the bindings of wrangler.toml simulated locally).
export default defineConfig({
  test: {
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
      {
        plugins: [
          cloudflareTest({
            main: "./worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // Test-only: the Durable Object meters its MIRROR writes so tests can
              // prove no file is uploaded twice across evictions.
              bindings: {
                TIDEMARK_TEST_HOOKS: "1",
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
              },
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          // Builds worker/public/inspector.js (served by the [assets] of wrangler.toml).
          globalSetup: ["./scripts/build-inspector.ts"],
          // No Durable Object alarm outlives its test (the pool does not reset them).
          setupFiles: ["./test/workers/setup.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
