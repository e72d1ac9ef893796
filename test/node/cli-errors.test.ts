/**
 * The `tidemark` command in-process (`runCli`), for the failures that must
 * never pass for success: a source directory that does not exist, and a
 * fatal mirror error under `--watch`. (The built binary is tested in
 * test/e2e/cli.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { runCli } from "../../src/cli/main.ts";
import { FileStore } from "../../src/node/fs-store.ts";
import { PosixPrimary } from "../support/posix-fixture.ts";

const root = mkdtempSync(join(tmpdir(), "tidemark-cli-errors-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the command; `stop` resolves `--watch`'s wait for a signal (never, by default). */
async function cli(args: string[], stop: Promise<void> = new Promise(() => {})) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    io: { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), stderrIsTTY: false },
    env: () => undefined,
    waitForStop: () => stop,
  });
  return { code, stdout, stderr };
}

describe("tidemark: sources that are not there, and fatal errors", () => {
  it("a --from directory that does not exist is NotFound for mirror, verify, inspect and restore, never caught up", async () => {
    const missing = join(root, "unmounted", "table");
    const to = join(root, "to");
    for (const args of [
      ["mirror", "--from", missing, "--to", to],
      ["mirror", "--from", `file://${missing}`, "--to", to],
      ["restore", "--from", missing, "--to", join(root, "restored")],
      ["verify", missing],
      ["inspect", missing],
      ["inspect", to, "--source", missing],
      ["verify", to, "--source", missing],
    ]) {
      mkdirSync(to, { recursive: true });
      const r = await cli(args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /^tidemark: \[NotFound\] directory .*unmounted\/table does not exist/,
        args.join(" "),
      );
      assert.equal(r.stdout, "", `${args.join(" ")}: nothing reported as done`);
    }
    // An empty directory that exists is an empty table, as before (a target may be one).
    const empty = join(root, "empty");
    mkdirSync(empty);
    assert.equal((await cli(["mirror", "--from", empty, "--to", join(root, "to2")])).code, 0);
  });

  it("mirror --watch exits on an error Mirror calls fatal (a posix target: NotSupported), instead of retrying it forever", async () => {
    const source = join(root, "watch-src");
    const target = join(root, "watch-dst");
    await new PosixPrimary(new FileStore(source, { durable: false })).commitMany(1, 1);
    // The target holds merutable's primary: from and to swapped.
    await new PosixPrimary(new FileStore(target, { durable: false })).commitMany(1, 1);
    const r = await cli(["mirror", "--from", source, "--to", target, "--watch", "--poll-interval", "50"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tidemark: \[NotSupported\] the target .* holds a posix table/m);
  }, 10_000);
});
