import { MemoryStore, S3Store } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { tableContract } from "../contract/table.contract.ts";
import { randomId, uniquePrefix } from "../support/harness.ts";
import { rgwConfig } from "../support/rgw.ts";
import { denoEnv, denoHarness } from "./harness.ts";

declare const Deno: { makeTempDirSync(): string };

tableContract(denoHarness("table: MemoryStore"), () => new MemoryStore());
const dir = Deno.makeTempDirSync();
tableContract(
  denoHarness("table: FileStore"),
  () => new FileStore(`${dir}/${randomId()}`, { durable: false }),
);

const rgw = rgwConfig(denoEnv);
if (rgw) {
  tableContract(
    denoHarness("table: S3Store on Ceph RGW"),
    () => new S3Store({ ...rgw, prefix: uniquePrefix("table") }),
  );
}
