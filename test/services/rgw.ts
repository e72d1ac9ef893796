/**
 * Starts and stops a throw-away Ceph RGW (S3) server on loopback for the test
 * run: free ports, its own temp state dir, always stopped afterwards.
 * Used by scripts/test.ts and by benchmarks.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** What a client needs to reach an S3 endpoint (RGW, moto). */
export interface S3Connection {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** Connection facts of a running RGW, also exported as `S3_*` environment variables. */
export interface RgwService extends S3Connection {
  bucket: string;
  stateDir: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The Debian packages RGW needs, and whether each is installed. */
export function missingRgwBinaries(): string[] {
  return missingCommands({
    "ceph-mon": "ceph-mon",
    "ceph-osd": "ceph-osd",
    radosgw: "radosgw",
    ceph: "ceph-common",
  });
}

/** The packages (values) of the commands (keys) not on PATH. */
export function missingCommands(need: Record<string, string>): string[] {
  return Object.entries(need)
    .filter(([bin]) => spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0)
    .map(([, pkg]) => pkg);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts RGW; rejects (with the script's log tail) if it cannot. */
export async function startRgw(opts: { memstoreBytes?: number; bucket?: string } = {}): Promise<RgwService> {
  const missing = missingRgwBinaries();
  if (missing.length > 0) {
    throw new Error(`Ceph RGW cannot start: missing Debian packages: ${missing.join(" ")}`);
  }
  const stateDir = mkdtempSync(join(tmpdir(), "tidemark-rgw-"));
  const [rgwPort, monPort, monPort2] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    RGW_STATE: stateDir,
    RGW_PORT: String(rgwPort),
    MON_PORT: String(monPort),
    MON_PORT2: String(monPort2),
    RGW_BUCKET: opts.bucket ?? "test-bucket",
    MEMSTORE_BYTES: String(opts.memstoreBytes ?? 6 * 1024 ** 3),
  };
  const stop = async () => {
    await new Promise<void>((resolve) =>
      execFile(join(here, "stop-rgw.sh"), ["--wipe"], { env }, () => resolve()),
    );
  };
  const out = await new Promise<string>((resolve, reject) => {
    execFile(join(here, "start-rgw.sh"), [], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`start-rgw.sh failed: ${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  const vars: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const m = /^(S3_[A-Z_]+)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) vars[m[1]] = m[2];
  }
  return {
    endpoint: vars.S3_ENDPOINT ?? "",
    accessKeyId: vars.S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: vars.S3_SECRET_ACCESS_KEY ?? "",
    bucket: vars.S3_BUCKET ?? "",
    region: vars.S3_REGION ?? "us-east-1",
    stateDir,
    env: vars,
    stop,
  };
}

/** Creates another bucket on a running RGW or moto (SigV4-signed via curl, as the start script does). */
export function createBucket(rgw: S3Connection, bucket: string): void {
  const r = spawnSync(
    "curl",
    [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-X",
      "PUT",
      "-H",
      "x-amz-content-sha256: UNSIGNED-PAYLOAD",
      "--aws-sigv4",
      `aws:amz:${rgw.region}:s3`,
      "--user",
      `${rgw.accessKeyId}:${rgw.secretAccessKey}`,
      `${rgw.endpoint}/${bucket}`,
    ],
    { encoding: "utf8" },
  );
  if (r.stdout !== "200" && r.stdout !== "409") throw new Error(`create bucket ${bucket}: HTTP ${r.stdout}`);
}
