/**
 * The mirror suite between two moto buckets (a second S3 implementation,
 * beside Ceph RGW), over `fetch` and aws4fetch and over `nodeHttpTransport`
 * and `nodeSigner`.
 * Run: npx node scripts/with-moto.ts -- npx vitest run --project node test/node/mirror-moto.test.ts
 */
import { describe, it } from "vitest";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { bucketMirrorContract } from "../support/bucket-mirror.ts";
import type { Harness } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";

const cfg = motoConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg).each([
  ["fetch and aws4fetch", {}],
  ["nodeHttpTransport and nodeSigner", { transport: nodeHttpTransport(), signer: nodeSigner() }],
] as const)("mirror between two moto buckets over %s", (_, send) => {
  if (!cfg) return;
  bucketMirrorContract(vitestHarness, cfg, send);
});
