import { MemoryStore } from "../../src/index.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { checkpointContract } from "../contract/checkpoint.contract.ts";
import { rgwConfig } from "../support/rgw.ts";
import { denoEnv, denoHarness } from "./harness.ts";

checkpointContract(denoHarness("CheckpointStore on MemoryStore"), () => new MemoryStore());

const rgw = rgwConfig(denoEnv);
if (rgw) {
  checkpointContract(
    denoHarness("CheckpointStore on S3Store (Ceph RGW)"),
    () => new S3Store({ ...rgw, prefix: "checkpoint" }),
    { slowTimeoutMs: 180_000 },
  );
}
