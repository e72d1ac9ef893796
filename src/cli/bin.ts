#!/usr/bin/env node
/**
 * The `tidemark` executable (Node >= 20 from dist/, Node 24 from source,
 * `deno run -A src/cli/bin.ts`). See `tidemark --help` and docs/cli.md.
 *
 * @module
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { runCli } from "./main.ts";

// Installed only by `--watch`: elsewhere Ctrl-C keeps its default meaning (stop now).
const waitForStop = () =>
  new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });

const code = await runCli(process.argv.slice(2), {
  io: {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
    progressStream: process.stderr,
  },
  env: (name) => process.env[name],
  waitForStop,
});
process.exitCode = code;
// Idle keep-alive sockets or a stray timer must not keep a finished command alive.
setTimeout(() => process.exit(code), 1000).unref();
