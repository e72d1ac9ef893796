/**
 * boto3 (AWS's own SDK) through test/support/boto3-peer.py, from tests: one
 * command per child process, asynchronous (tests on several servers run side
 * by side), and the Object Lock buckets it creates.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { randomId } from "./harness.ts";
import type { RgwConfig } from "./rgw.ts";

/** The peer script (test/support/boto3-peer.py). */
export const peerScript = join(import.meta.dirname, "boto3-peer.py");

/** The environment boto3-peer.py connects with: `cfg`'s endpoint, keys, region and bucket. */
export function peerEnv(cfg: RgwConfig): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PEER_ENDPOINT: cfg.endpoint,
    PEER_ACCESS_KEY_ID: cfg.accessKeyId,
    PEER_SECRET_ACCESS_KEY: cfg.secretAccessKey,
    PEER_REGION: cfg.region,
    PEER_BUCKET: cfg.bucket,
  };
}

/** Whether python3 imports boto3: false skips loudly, and fails under CI=true. */
export function boto3Available(what: string): boolean {
  if (spawnSync("python3", ["-c", "import boto3"]).status === 0) return true;
  if (process.env.CI === "true") throw new Error("CI=true and boto3 is missing (pip install boto3)");
  console.warn(`\n!!! SKIPPING ${what}: python3 cannot import boto3 !!!\n`);
  return false;
}

/** Runs one boto3-peer.py command against `cfg` (in a child process: the servers' tests run side by side). */
export function boto3<T>(cfg: RgwConfig, command: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "python3",
      [peerScript, command],
      {
        encoding: "utf8",
        timeout: 60_000,
        env: peerEnv(cfg),
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`boto3-peer.py ${command} failed: ${String(stderr).slice(-2000)}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
    child.stdin?.end(JSON.stringify(request));
  });
}

/** A bucket created with Object Lock (so versioned), by boto3. */
export async function lockBucket(cfg: RgwConfig): Promise<string> {
  const bucket = `tidemark-lock-${randomId().slice(0, 8).toLowerCase()}`;
  const r = await boto3<{ versioning: string; object_lock: string }>(cfg, "lock-bucket", { bucket });
  assert.equal(r.versioning, "Enabled", "a bucket with Object Lock is versioned");
  assert.equal(r.object_lock, "Enabled");
  return bucket;
}
