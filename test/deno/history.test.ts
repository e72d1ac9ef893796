import { FileStore } from "../../src/node/fs-store.ts";
import { MemoryStore } from "../../src/store/memory.ts";
import { historyContract } from "../contract/history.contract.ts";
import { randomId } from "../support/harness.ts";
import { denoHarness } from "./harness.ts";

declare const Deno: { makeTempDirSync(): string };

const mem = () => new MemoryStore();
historyContract(denoHarness("history: MemoryStore"), () => ({ source: mem(), target: mem(), another: mem }));
const root = Deno.makeTempDirSync();
const dir = () => new FileStore(`${root}/${randomId()}`, { durable: false });
historyContract(denoHarness("history: FileStore"), () => ({ source: dir(), target: dir(), another: dir }));
