/**
 * Helpers of the workers tests: driving a table's Durable Object alarms, the
 * code of an RPC error, the credentials of vitest.config.ts.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { errorCodeOf } from "../../src/index.ts";

/** The origin the tests call the worker at. */
export const BASE = "http://tidemark.test";
/** `Authorization` headers of the admin and read tokens (vitest.config.ts). */
export const ADMIN = { Authorization: "Bearer test-admin-token" };
export const READ = { Authorization: "Bearer test-read-token" };

/** The Durable Object of `table`. */
export const stubOf = (table: string) => env.MIRROR_OBJECT.get(env.MIRROR_OBJECT.idFromName(table));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs alarms until `done()`; returns how many ran. Alarms due now also fire on their own. */
export async function driveAlarms(
  stub: Parameters<typeof runDurableObjectAlarm>[0],
  done: () => Promise<boolean>,
  each?: (n: number) => Promise<void>,
): Promise<number> {
  let ran = 0;
  for (let i = 0; i < 2_000 && !(await done()); i++) {
    if (await runDurableObjectAlarm(stub)) {
      ran++;
      await each?.(ran);
    } else {
      await sleep(10);
    }
  }
  return ran;
}

/**
 * The code of the error an RPC call rejects with (the `[Code]` message
 * prefix survives RPC). Awaited inside try: an RPC promise handed to
 * assert.rejects is reported as an unhandled rejection.
 */
export async function rpcError(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
  } catch (e) {
    return errorCodeOf(e) ?? `not a tidemark error: ${String(e)}`;
  }
  throw new Error("expected the call to reject");
}
