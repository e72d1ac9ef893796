/**
 * Runs one command with a private Ceph RGW started for it:
 *   npx node scripts/with-rgw.ts -- npx vitest run test/node/s3-store.test.ts
 * The `S3_*` variables are exported to the command; RGW is always stopped.
 */
import { spawn } from "node:child_process";
import { startRgw } from "../test/services/rgw.ts";

const sep = process.argv.indexOf("--");
const [cmd, ...args] = sep >= 0 ? process.argv.slice(sep + 1) : [];
if (!cmd) {
  console.error("usage: node scripts/with-rgw.ts -- <command> [args...]");
  process.exit(2);
}
const rgw = await startRgw();
console.error(`RGW at ${rgw.endpoint} (state ${rgw.stateDir})`);
const code = await new Promise<number>((resolve) => {
  const child = spawn(cmd, args, {
    stdio: "inherit",
    env: { ...process.env, ...rgw.env, TIDEMARK_RGW: "1" },
  });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  child.on("exit", (c) => resolve(c ?? 1));
});
await rgw.stop();
process.exit(code);
