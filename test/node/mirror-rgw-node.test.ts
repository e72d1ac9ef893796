/**
 * The mirror suite between two buckets of a real Ceph RGW over
 * `nodeHttpTransport` and `nodeSigner`, what the CLI uses on Node (the same
 * suite over `fetch` is mirror-rgw.test.ts; one file each, so they run side
 * by side).
 * Run: npx node scripts/with-rgw.ts -- npx vitest run test/node/mirror-rgw-node.test.ts
 */
import { describe, it } from "vitest";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { bucketMirrorContract } from "../support/bucket-mirror.ts";
import type { Harness } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";

const cfg = rgwConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("mirror between two RGW buckets", () => {
  if (!cfg) return;
  describe("over nodeHttpTransport and nodeSigner (what the CLI uses on Node)", () => {
    bucketMirrorContract(vitestHarness, cfg, { transport: nodeHttpTransport(), signer: nodeSigner() });
  });
});
