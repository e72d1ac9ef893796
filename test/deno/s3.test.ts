/**
 * The object-store contract against S3Store on Ceph RGW, under Deno: over
 * `fetch` and aws4fetch (the defaults), and over `nodeHttpTransport` and
 * `nodeSigner` (tidemark/node, on Deno's `node:` modules).
 * Run: npx node scripts/with-rgw.ts -- env DENO_NO_UPDATE_CHECK=1 npx deno test -A --no-check test/deno/s3.test.ts
 */
import { S3Store } from "../../src/index.ts";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { rgwConfig } from "../support/rgw.ts";
import { denoEnv, denoHarness } from "./harness.ts";

const cfg = rgwConfig(denoEnv);
if (cfg) {
  objectStoreContract(denoHarness("S3Store (RGW)"), () => new S3Store({ ...cfg, forcePathStyle: true }));
  const transport = nodeHttpTransport();
  objectStoreContract(
    denoHarness("S3Store (RGW) over nodeHttpTransport and nodeSigner"),
    () => new S3Store({ ...cfg, forcePathStyle: true, transport, signer: nodeSigner() }),
  );
}
