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

/** The reader of stdout went away (`tidemark rows URL | head`): Node says EPIPE, Deno BrokenPipe. */
const readerGone = (e: unknown) =>
  (e as { code?: string }).code === "EPIPE" || (e as { name?: string }).name === "BrokenPipe";
// Nobody reads what is left to print: end quietly, as `head` expects, never with a stack trace.
const endQuietly = () => process.exit(0);
process.stdout.on("error", (e) => {
  if (readerGone(e)) endQuietly();
  throw e;
});
let stdoutFull = false;

const code = await runCli(process.argv.slice(2), {
  io: {
    stdout: (s) => {
      try {
        if (!process.stdout.write(s)) stdoutFull = true;
      } catch (e) {
        if (readerGone(e)) endQuietly();
        throw e;
      }
    },
    stdoutDrained: () =>
      stdoutFull
        ? new Promise<void>((resolve) =>
            process.stdout.once("drain", () => {
              stdoutFull = false;
              resolve();
            }),
          )
        : Promise.resolve(),
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
