/**
 * `npm start` smoke test: runs the real command, waits for readiness (< 15 s),
 * takes the authorised inspector URL it prints (reads are private: the read
 * token rides in the URL fragment), checks through the API with that token
 * that the demo writer commits and the Durable Object mirrors (and that
 * without it the API answers 401), that the mirror serves real rows (a
 * Parquet file read as the inspector reads it, through a signed URL) within
 * seconds of the start, then stops it by signalling its process group.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { HttpStore, liveDataFiles, openMirror } from "../../src/index.ts";
import { previewParquet } from "../../worker/public/parquet-preview.ts";

const root = join(import.meta.dirname, "../..");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

let child: ChildProcess | undefined;

afterAll(() => {
  if (child?.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, "SIGKILL");
});

describe("npm start", () => {
  it("is ready within 15 s and prints an authorised inspector URL; the demo writer commits, the mirror follows with real rows, SIGINT stops everything", async () => {
    const port = await freePort();
    const t0 = Date.now();
    const out: string[] = [];
    child = spawn("npm", ["start"], {
      cwd: root,
      detached: true, // own process group: npm, node, wrangler, workerd
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PORT: String(port), DEMO_INTERVAL_MS: "1000" },
    });
    const proc = child;
    proc.stdout?.on("data", (d: Buffer) => out.push(d.toString()));
    proc.stderr?.on("data", (d: Buffer) => out.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));

    const base = `http://127.0.0.1:${port}`;
    while (!out.join("").includes(`ready at ${base}/`)) {
      assert.ok(Date.now() - t0 < 15_000, `not ready within 15 s:\n${out.join("")}`);
      assert.equal(proc.exitCode, null, `npm start exited:\n${out.join("")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const readyMs = Date.now() - t0;
    let inspector: RegExpExecArray | null = null;
    while (!inspector) {
      assert.ok(Date.now() - t0 < 20_000, `no inspector URL printed:\n${out.join("")}`);
      inspector = /inspector \(authorised[^)]*\): (http:\/\/\S+#token=(\S+))/.exec(out.join(""));
      if (!inspector) await new Promise((r) => setTimeout(r, 100));
    }
    const inspectorUrl = new URL(inspector[1] ?? "");
    assert.equal(inspectorUrl.origin, base);
    assert.equal(inspectorUrl.searchParams.get("table"), "demo");
    const auth = { Authorization: `Bearer ${decodeURIComponent(inspector[2] ?? "")}` };
    const denied = await fetch(`${base}/api/tables/demo/status`);
    assert.equal(denied.status, 401, "reads are private without the token");
    await denied.body?.cancel();

    // The mirror advances: at least two snapshots mirrored and verified through the API.
    let status: { head: number; mirror: { mirrorSeq: number; sourceHead: number | null } } | undefined;
    while (!status || status.mirror.mirrorSeq < 2) {
      assert.ok(
        Date.now() - t0 < 45_000,
        `mirror did not advance: ${JSON.stringify(status)}\n${out.join("")}`,
      );
      await new Promise((r) => setTimeout(r, 250));
      const r = await fetch(`${base}/api/tables/demo/status`, { headers: auth });
      if (r.ok) status = (await r.json()) as typeof status;
    }
    assert.ok(status.head >= 2);
    // Real rows on the mirror, read as the inspector reads them (Range requests on a signed URL).
    const reader = openMirror(new HttpStore(`${base}/objects/demo/`, { headers: auth }));
    const file = liveDataFiles(await reader.manifest(status.mirror.mirrorSeq))[0];
    assert.ok(file);
    const sign = async () => {
      const r = await fetch(`${base}/api/tables/demo/sign?key=${encodeURIComponent(file.path)}`, {
        headers: auth,
      });
      assert.equal(r.status, 200);
      return new URL(((await r.json()) as { url: string }).url, base).href;
    };
    const rows = await previewParquet({ key: file.path, size: Number(file.fileSize), url: sign });
    const rowsMs = Date.now() - t0;
    assert.ok(rows.rows.length > 0 && rows.columns.some((c) => c.name === "customer"));
    assert.ok(rowsMs < 30_000, `real rows ${rowsMs} ms after npm start`);
    const verify = (await (
      await fetch(`${base}/api/tables/demo/verify/${status.mirror.mirrorSeq}`, { headers: auth })
    ).json()) as {
      ok: boolean;
    };
    assert.equal(verify.ok, true);
    const page = await fetch(inspectorUrl);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /tidemark inspector/);

    // Ctrl-C: SIGINT to the whole group, as a terminal does.
    process.kill(-(proc.pid ?? 0), "SIGINT");
    const deadline = Date.now() + 15_000;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    while (groupAlive(proc.pid ?? 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(groupAlive(proc.pid ?? 0), false, "every process of npm start has exited");
    await assert.rejects(fetch(`${base}/api/tables`), "the port is closed");
    console.log(
      `npm start: ready in ${(readyMs / 1000).toFixed(1)} s; rows of ${file.path} on the mirror ` +
        `${(rowsMs / 1000).toFixed(1)} s after the start; mirrored v${status.mirror.mirrorSeq}`,
    );
  }, 90_000);
});
