/**
 * Runs the command after `--` in `argv` with extra environment variables
 * (a service's connection facts), forwarding SIGINT/SIGTERM to it; resolves
 * with its exit code. Shared by scripts/with-rgw.ts and scripts/with-moto.ts.
 */
import { spawn } from "node:child_process";

/** The command after `--`, or `undefined` when there is none. */
export function commandAfterDashes(argv: string[]): string[] | undefined {
  const sep = argv.indexOf("--");
  const cmd = sep >= 0 ? argv.slice(sep + 1) : [];
  return cmd.length > 0 ? cmd : undefined;
}

/** Runs `cmd` with `env` added to this process's environment; resolves with its exit code. */
export function runWithEnv(cmd: string[], env: Record<string, string>): Promise<number> {
  const [bin, ...args] = cmd;
  if (bin === undefined) return Promise.resolve(2);
  return new Promise<number>((resolve) => {
    const child = spawn(bin, args, { stdio: "inherit", env: { ...process.env, ...env } });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (c) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(c ?? 1);
    });
    child.on("error", () => resolve(127));
  });
}
