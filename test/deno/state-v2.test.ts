/**
 * LaminarDB's state-v2 checkpoint layout under Deno: the roots the Python
 * generator wrote, read and verified, and the checkpoint mirror of either
 * layout, on memory (the S3 paths run on Ceph RGW and moto from Node:
 * test/node/state-v2.test.ts).
 */
import { MemoryStore } from "../../src/store/memory.ts";
import { checkpointMirrorContract } from "../contract/checkpoint-mirror.contract.ts";
import { legacyMirrorContract } from "../contract/legacy-mirror.contract.ts";
import { stateV2Contract } from "../contract/state-v2.contract.ts";
import { parseBundle } from "../support/state-v2-fixtures.ts";
import { denoHarness } from "./harness.ts";

declare const Deno: { readTextFileSync(path: URL): string };

const bundle = parseBundle(
  Deno.readTextFileSync(new URL("../fixtures/laminardb-state-v2.json", import.meta.url)),
);

stateV2Contract(denoHarness("state-v2 on MemoryStore"), bundle, () => new MemoryStore());
// The crash sweeps run in Node (test/node/state-v2.test.ts): their logic is runtime-independent.
const memory = () => ({
  source: new MemoryStore(),
  target: new MemoryStore(),
  another: () => new MemoryStore(),
});
checkpointMirrorContract(denoHarness("checkpoint mirror on MemoryStore"), bundle, memory);
legacyMirrorContract(denoHarness("legacy checkpoint mirror on MemoryStore"), bundle, memory);
