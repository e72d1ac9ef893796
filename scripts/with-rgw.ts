/**
 * Runs one command with a private Ceph RGW started for it:
 *   npx node scripts/with-rgw.ts -- npx vitest run test/node/s3-store.test.ts
 * The `S3_*` variables are exported to the command; RGW is always stopped.
 * Combine with scripts/with-moto.ts for both servers:
 *   npx node scripts/with-rgw.ts -- npx node scripts/with-moto.ts -- <command>
 */
import { startRgw } from "../test/services/rgw.ts";
import { commandAfterDashes, runWithEnv } from "../test/services/run-with.ts";

const cmd = commandAfterDashes(process.argv);
if (!cmd) {
  console.error("usage: node scripts/with-rgw.ts -- <command> [args...]");
  process.exit(2);
}
const rgw = await startRgw();
console.error(`RGW at ${rgw.endpoint} (state ${rgw.stateDir})`);
let code = 1;
try {
  code = await runWithEnv(cmd, { ...rgw.env, TIDEMARK_RGW: "1" });
} finally {
  await rgw.stop();
}
process.exit(code);
