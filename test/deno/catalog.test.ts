import { MemoryStore, prefixed } from "../../src/index.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { catalogContract } from "../contract/catalog.contract.ts";
import { uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";
import { denoEnv, denoHarness } from "./harness.ts";

catalogContract(denoHarness("catalog: MemoryStore"), () => new MemoryStore());
catalogContract(denoHarness("catalog: prefixed(MemoryStore)"), () =>
  prefixed(new MemoryStore(), "tables/t1"),
);

const rgw = rgwConfig(denoEnv);
if (rgw) {
  catalogContract(
    denoHarness("catalog: S3Store on Ceph RGW"),
    () => new S3Store({ ...rgw, prefix: uniquePrefix("catalog") }),
  );
}
