/**
 * The catalog, checkpoint and mirror suites on moto (a second S3
 * implementation, beside Ceph RGW): what tidemark builds on S3 holds on a
 * server that answers like AWS (404 NoSuchKey to If-Match on a missing key,
 * no 409s, its own XML and etags).
 * Run: npx node scripts/with-moto.ts -- npx vitest run --project node test/node/moto-suites.test.ts
 */
import { describe, it } from "vitest";
import { prefixed, S3Store } from "../../src/index.ts";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { catalogContract } from "../contract/catalog.contract.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import { mirrorContract, RGW_MIRROR_SKIPS } from "../contract/mirror.contract.ts";
import { createBucket } from "../services/rgw.ts";
import { type Harness, randomId, uniquePrefix } from "../support/harness.ts";
import { motoConfig } from "../support/moto.ts";

const cfg = motoConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("catalog contract: S3Store on moto", () => {
  catalogContract(vitestHarness, () => new S3Store({ ...cfg!, prefix: uniquePrefix("catalog") }), {
    slowTimeoutMs: 300_000,
  });
});

describe.skipIf(!cfg)("CheckpointStore on S3Store (moto)", () => {
  checkpointContract(vitestHarness, () => new S3Store({ ...cfg!, prefix: "checkpoint" }), {
    slowTimeoutMs: 180_000,
  });
});

describe.skipIf(!cfg).each([
  ["fetch and aws4fetch", {}],
  ["nodeHttpTransport and nodeSigner", { transport: nodeHttpTransport(), signer: nodeSigner() }],
] as const)("mirror between two moto buckets over %s", (_, send) => {
  if (!cfg) return;
  const id = randomId();
  const [src, dst] = [`mirror-src-${id}`, `mirror-dst-${id}`];
  for (const b of [src, dst]) createBucket(cfg, b);
  const source = new S3Store({ ...cfg, bucket: src, forcePathStyle: true, ...send });
  const target = new S3Store({ ...cfg, bucket: dst, forcePathStyle: true, ...send });
  mirrorContract(
    vitestHarness,
    () => {
      const p = uniquePrefix("mirror");
      return {
        source: prefixed(source, p),
        target: prefixed(target, p),
        another: () => prefixed(target, uniquePrefix("other")),
      };
    },
    { timeoutMs: 60_000, skip: RGW_MIRROR_SKIPS },
  );
});
