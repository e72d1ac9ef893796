import { FileStore } from "../../src/node/index.ts";
import { rowsContract } from "../contract/rows.contract.ts";
import { interopPython } from "../support/interop.ts";
import { javaRoaring } from "../support/rows-fixture.ts";
import { denoHarness } from "./harness.ts";

// The rows contract under real Deno: tables written by pyarrow, Java and protoc, read by tidemark, checked against DuckDB.
const python = interopPython();
rowsContract(denoHarness("rows"), {
  python,
  dv: python !== undefined && javaRoaring(),
  storeOf: (d) => new FileStore(d),
});
