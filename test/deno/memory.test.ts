import { MemoryStore, prefixed } from "../../src/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { denoHarness } from "./harness.ts";

objectStoreContract(denoHarness("MemoryStore"), () => new MemoryStore());
objectStoreContract(denoHarness("prefixed(MemoryStore)"), () => prefixed(new MemoryStore(), "tenant-a"), {
  maxKeyBytes: 1024 - "tenant-a/".length,
});
