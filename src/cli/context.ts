/**
 * What a command needs from its environment, given by `runCli` (main.ts) to
 * every command (commands/*.ts), so the commands never import main.ts back.
 *
 * @module
 */
import type { Io } from "./output.ts";
import type { Env } from "./store-url.ts";

/** What a command needs from its environment. */
export interface CliContext {
  io: Io;
  env: Env;
  /** Starts listening for SIGINT/SIGTERM; resolves on the first. Only `--watch` calls it. */
  waitForStop: () => Promise<void>;
}
