import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prefixed } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { fileStoreContract } from "../contract/file-store.contract.ts";
import { denoHarness } from "./harness.ts";

// Temp directories are left for the OS to clean: Deno has no afterAll, and a
// leftover of a few KB in /tmp is harmless.
const root = mkdtempSync(join(tmpdir(), "tidemark-deno-fs-"));

objectStoreContract(denoHarness("FileStore"), () => new FileStore(join(root, "contract")));
objectStoreContract(
  denoHarness("prefixed(FileStore)"),
  () => prefixed(new FileStore(join(root, "prefixed")), "tenant-a"),
  { maxKeyBytes: 1024 - "tenant-a/".length },
);
fileStoreContract(denoHarness("FileStore extras"), join(root, "extras"));
