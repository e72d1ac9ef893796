/**
 * How the command's S3 stores send and sign requests: on Node,
 * `nodeHttpTransport()` (one for the process, so a file copied between two of
 * its stores is piped socket to socket) and `nodeSigner()`; under Deno,
 * `fetch` and aws4fetch (the `S3Store` defaults).
 * `TIDEMARK_S3_TRANSPORT=fetch` (or `node`) chooses.
 *
 * @module
 */
import process from "node:process";
import { TidemarkError } from "../errors.ts";
import { type NodeHttpTransport, nodeHttpTransport } from "../node/http-transport.ts";
import { nodeSigner } from "../node/signer.ts";
import type { S3StoreOptions } from "../store/s3/settings.ts";

let nodeTransport: NodeHttpTransport | undefined;

/**
 * The `transport` and `signer` options of the command's `S3Store`s.
 *
 * @throws TidemarkError `InvalidArgument` for a `TIDEMARK_S3_TRANSPORT` other than `fetch` or `node`.
 */
export function s3SendOptions(
  env: (name: string) => string | undefined,
): Pick<S3StoreOptions, "transport" | "signer"> {
  const choice = env("TIDEMARK_S3_TRANSPORT");
  if (choice !== undefined && choice !== "fetch" && choice !== "node") {
    throw new TidemarkError(
      "InvalidArgument",
      `TIDEMARK_S3_TRANSPORT must be fetch or node, got ${JSON.stringify(choice)}`,
    );
  }
  const onNode = !("Deno" in globalThis) && typeof process.versions?.node === "string";
  if (choice === "fetch" || (choice === undefined && !onNode)) return {};
  nodeTransport ??= nodeHttpTransport();
  return { transport: nodeTransport, signer: nodeSigner() };
}
