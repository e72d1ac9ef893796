import { defineConfig } from "vitest/config";

// Projects: "node" (unit and integration tests in Node), "e2e" (real binaries,
// browsers, packaging; run one file at a time), and "workers" (inside workerd,
// added with the R2 adapter and the Worker).
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
    ],
  },
});
