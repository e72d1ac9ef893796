/**
 * Runs one command with two private moto servers started for it (one that
 * checks no signatures, one that checks every signature; see
 * test/services/moto.ts):
 *   npx node scripts/with-moto.ts -- npx vitest run --project node test/node/s3-moto.test.ts
 * The `MOTO_*` and `MOTO_AUTH_*` variables are exported to the command; the
 * servers are always stopped. Combine with scripts/with-rgw.ts for both S3 servers.
 */
import { startMoto } from "../test/services/moto.ts";
import { commandAfterDashes, runWithEnv } from "../test/services/run-with.ts";

const cmd = commandAfterDashes(process.argv);
if (!cmd) {
  console.error("usage: node scripts/with-moto.ts -- <command> [args...]");
  process.exit(2);
}
const moto = await startMoto();
console.error(`moto at ${moto.open.endpoint} (signatures unchecked) and ${moto.auth.endpoint} (checked)`);
let code = 1;
try {
  code = await runWithEnv(cmd, { ...moto.env, TIDEMARK_MOTO: "1" });
} finally {
  await moto.stop();
}
process.exit(code);
