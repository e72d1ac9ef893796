/**
 * Store URLs of the `tidemark` command:
 *
 * - `s3://bucket/prefix?endpoint=URL&region=R&path-style=true`: an
 *   {@link S3Store} (over `nodeHttpTransport()`, on Node and under Deno). Credentials come from `AWS_ACCESS_KEY_ID`,
 *   `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` only; the endpoint and
 *   region default to `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` and
 *   `AWS_REGION`/`AWS_DEFAULT_REGION` (then `us-east-1`, AWS itself).
 * - `http://...`, `https://...`: a read-only {@link HttpStore} on a base URL.
 * - `memory:` (a fresh, empty in-process store), `memory:NAME` (one store per
 *   name within this process) and `memory:demo` (seeded with a small demo table
 *   and checkpoint epochs): for trying the commands out; nothing survives the
 *   process.
 * - `file:///abs/dir` or any path without a scheme: a {@link FileStore}.
 *
 * Each kind's store (and for `memory:demo` the demo writer with its Parquet
 * libraries) is loaded when a URL names it, so a command loads only the
 * stores it opens.
 *
 * The grammar is the library's (`parseStoreUrl`, shared with the Worker,
 * which adds `r2://BINDING/prefix`): a credential in the URL is refused with
 * `InvalidArgument`, and nothing typed is silently dropped (a plain path
 * keeps a `#` as it is).
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { TidemarkError } from "../errors.ts";
import type { MemoryStore } from "../store/memory.ts";
import { quoteUrl } from "../store/redact.ts";
import type { ObjectStore } from "../store/types.ts";
import { parseStoreUrl, s3StoreOptions } from "../store/url.ts";

/** What a store URL names. */
export interface ParsedStore {
  kind: "s3" | "http" | "memory" | "file";
  store: ObjectStore;
  /** A printable description (never a credential). */
  label: string;
}

/** Reads an environment variable (injected, so tests and Deno pass their own). */
export type Env = (name: string) => string | undefined;

const memoryStores = new Map<string, MemoryStore>();

function usage(message: string): TidemarkError {
  return new TidemarkError("InvalidArgument", message);
}

/** Options of {@link openStoreUrl}. */
export interface OpenStoreOptions {
  /**
   * The store is read from (`--from`, the store `verify` and `inspect`
   * read): a directory that does not exist is `NotFound`, as a missing
   * bucket is, never an empty table that is "caught up" (an unmounted
   * volume). A store written to is created on its first write instead.
   */
  mustExist?: boolean;
}

/** A directory a command reads from: `NotFound` when missing, `InvalidArgument` when not a directory. */
async function existingDirectory(path: string, label: string): Promise<void> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new TidemarkError("NotFound", `directory ${label} does not exist (an unmounted volume, a typo?)`);
    }
    throw new TidemarkError("PermissionDenied", `cannot read directory ${label}: ${code ?? String(e)}`);
  }
  if (!st.isDirectory()) throw usage(`${label} is not a directory`);
}

/**
 * Opens the store a URL names.
 *
 * @throws TidemarkError `InvalidArgument` for an unknown scheme, a malformed
 *   URL, an unknown S3 parameter, a credential in the URL, or missing S3
 *   credentials in the environment; `NotFound` for a directory that does
 *   not exist when `opts.mustExist`.
 */
export async function openStoreUrl(
  spec: string,
  env: Env,
  opts: OpenStoreOptions = {},
): Promise<ParsedStore> {
  const url = parseStoreUrl(spec, {
    kinds: ["s3", "http", "memory", "file"],
    credentialsHint:
      "credentials are read from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)",
  });
  switch (url.kind) {
    case "file": {
      const { FileStore } = await import("../node/fs-store.ts");
      let path = url.spec;
      if (url.isUrl) {
        try {
          path = fileURLToPath(url.spec);
        } catch {
          throw usage(`bad file URL ${quoteUrl(url.spec)}: use file:///absolute/path or a plain path`);
        }
      }
      if (opts.mustExist) await existingDirectory(path, path);
      return { kind: "file", store: new FileStore(path), label: path };
    }
    case "memory": {
      const { MemoryStore } = await import("../store/memory.ts");
      const name = url.name;
      if (name === "")
        return { kind: "memory", store: new MemoryStore({ name: "memory:" }), label: "memory:" };
      let store = memoryStores.get(name);
      if (!store) {
        store = new MemoryStore({ name: `memory:${name}` });
        memoryStores.set(name, store);
        if (name === "demo") await (await import("../demo/writer.ts")).seedDemo(store);
      }
      return { kind: "memory", store, label: url.label };
    }
    case "http": {
      const { HttpStore } = await import("../store/http.ts");
      return { kind: "http", store: new HttpStore(url.url), label: url.label };
    }
    case "s3": {
      const accessKeyId = env("AWS_ACCESS_KEY_ID");
      const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
      const defaults = {
        endpoint: env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL"),
        region: env("AWS_REGION") ?? env("AWS_DEFAULT_REGION"),
      };
      // The endpoint is checked before the credentials, as a typo there is the likelier mistake.
      if (!accessKeyId || !secretAccessKey) {
        s3StoreOptions(url, { accessKeyId: "", secretAccessKey: "" }, defaults);
        throw usage("s3 store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
      }
      const sessionToken = env("AWS_SESSION_TOKEN");
      const [{ S3Store }, { s3SendOptions }] = await Promise.all([
        import("../store/s3/store.ts"),
        import("./s3-send.ts"),
      ]);
      const store = new S3Store({
        ...s3StoreOptions(
          url,
          { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
          defaults,
        ),
        // On Node, the node:http transport and aws4's signer (TIDEMARK_S3_TRANSPORT overrides).
        ...s3SendOptions(env),
      });
      return { kind: "s3", store, label: url.label };
    }
    default:
      throw usage(`unsupported store URL ${quoteUrl(spec)}`);
  }
}
