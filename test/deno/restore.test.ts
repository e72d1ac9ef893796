import { MemoryStore } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { restoreContract } from "../contract/restore.contract.ts";
import { randomId } from "../support/harness.ts";
import { denoHarness } from "./harness.ts";

declare const Deno: { makeTempDirSync(): string };

const mem = () => new MemoryStore();
restoreContract(denoHarness("restore: MemoryStore"), () => ({ source: mem(), target: mem(), another: mem }));
const root = Deno.makeTempDirSync();
const dir = () => new FileStore(`${root}/${randomId()}`, { durable: false });
restoreContract(denoHarness("restore: FileStore"), () => ({ source: dir(), target: dir(), another: dir }));
