/** The Deno example (examples/deno-mirror.ts) runs as documented. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const denoBin = existsSync(join(root, "node_modules/.bin/deno"))
  ? join(root, "node_modules/.bin/deno")
  : "deno";

it("examples/deno-mirror.ts mirrors a table under Deno and prints its status", () => {
  const r = spawnSync(denoBin, ["run", "-A", "examples/deno-mirror.ts"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /mirror .*HEAD v3/);
  const last = r.stdout.trimEnd().split("\n").pop() ?? "";
  assert.deepEqual(JSON.parse(last), { mirrorSeq: 3, caughtUp: true, verified: true });
});
