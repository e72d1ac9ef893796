/**
 * How the command's S3 stores send and sign requests: `nodeHttpTransport()`
 * (one for the process, so a file copied between two of its stores is piped
 * socket to socket) and `nodeSigner()`, on Node and under Deno (its `node:http`
 * and `node:crypto`). Deno's `fetch` sends a stream body chunked, dropping its
 * `Content-Length` (S3 refuses that with 411), so over `fetch` every upload is
 * read into memory first: 8 copies of 64 MiB at once held 750 MiB.
 * `TIDEMARK_S3_TRANSPORT=fetch` (the `S3Store` defaults: `fetch` and
 * aws4fetch) or `node` chooses.
 *
 * @module
 */
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
  if (choice === "fetch") return {};
  nodeTransport ??= nodeHttpTransport();
  return { transport: nodeTransport, signer: nodeSigner() };
}
