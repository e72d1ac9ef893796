/**
 * Starts and stops throw-away moto servers (https://github.com/getmoto/moto,
 * the Python AWS mock; `moto_server`) on loopback for the test run: a second
 * S3 implementation, one that follows AWS rather than Ceph (If-Match on a
 * missing key is 404 NoSuchKey, not 412). Free ports, in-memory state, always
 * stopped afterwards.
 *
 * Two servers, because moto's SigV4 check is wrong for a `/` in a query value
 * (a ListObjectsV2 with `prefix=a/` or `delimiter=/` is refused with 403
 * SignatureDoesNotMatch, even from boto3):
 * - `open`: signatures not checked (moto's default); the suites run here;
 * - `auth`: started with `INITIAL_NO_AUTH_ACTION_COUNT`, then an IAM user with
 *   an allow-everything policy and an access key are created through its IAM
 *   API; from then on every request's signature is checked. Auth failures are
 *   proven here, with requests that carry no `/` in their query.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { AwsClient } from "aws4fetch";
import { createBucket, freePort, type S3Connection } from "./rgw.ts";

/** One running moto server and the bucket made for the tests. */
export interface MotoServer extends S3Connection {
  bucket: string;
}

/** Both moto servers, and their connection facts as `MOTO_*` environment variables. */
export interface MotoService {
  open: MotoServer;
  auth: MotoServer;
  env: Record<string, string>;
  stop(): Promise<void>;
}

const REGION = "us-east-1";
const BUCKET = "test-bucket";

/** Whether `moto_server` (Python package moto[server]) and boto3 are installed. */
export function missingMoto(): string[] {
  const missing: string[] = [];
  if (spawnSync("sh", ["-c", "command -v moto_server"]).status !== 0) missing.push("moto[server]");
  if (spawnSync("python3", ["-c", "import boto3"]).status !== 0) missing.push("boto3");
  return missing;
}

interface Proc {
  child: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

function launch(port: number, env: Record<string, string>): Proc {
  // Its own process group: `moto_server` is a pyenv shim in front of Python,
  // and the whole group is stopped together.
  const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const log: string[] = [];
  const keep = (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 50) log.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", () => resolve(127));
  });
  return { child, log, exited };
}

function kill(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.pid === undefined) return Promise.resolve();
  try {
    process.kill(-p.child.pid, "SIGTERM");
  } catch {
    return Promise.resolve();
  }
  const pid = p.child.pid;
  const hard = setTimeout(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }, 3000);
  return p.exited.then(() => clearTimeout(hard));
}

async function waitReady(p: Proc, endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void p.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`moto_server exited: ${p.log.join("").slice(-2000)}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not answer within ${timeoutMs} ms: ${p.log.join("").slice(-2000)}`);
}

/** A signed request to moto; throws unless 2xx. Returns the body text. */
async function call(conn: S3Connection, service: "iam", url: string, init: RequestInit): Promise<string> {
  const client = new AwsClient({
    accessKeyId: conn.accessKeyId,
    secretAccessKey: conn.secretAccessKey,
    service,
    region: conn.region,
    retries: 0,
  });
  const res = await client.fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${service} ${init.method ?? "GET"} ${url}: HTTP ${res.status} ${text}`);
  return text;
}

/** IAM user + allow-all inline policy + access key: the three unauthenticated actions. */
async function createUser(endpoint: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const anon: S3Connection = {
    endpoint,
    accessKeyId: "bootstrap",
    secretAccessKey: "bootstrap",
    region: REGION,
  };
  const iam = (params: Record<string, string>) =>
    call(anon, "iam", `${endpoint}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ Version: "2010-05-08", ...params }).toString(),
    });
  await iam({ Action: "CreateUser", UserName: "tidemark" });
  const policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
  await iam({
    Action: "PutUserPolicy",
    UserName: "tidemark",
    PolicyName: "everything",
    PolicyDocument: JSON.stringify(policy),
  });
  const xml = await iam({ Action: "CreateAccessKey", UserName: "tidemark" });
  const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(xml)?.[1];
  if (!accessKeyId || !secretAccessKey) throw new Error(`moto CreateAccessKey: unexpected answer ${xml}`);
  return { accessKeyId, secretAccessKey };
}

async function startOne(auth: boolean): Promise<{ proc: Proc; server: MotoServer }> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // Auth: the first three actions (the IAM calls below) go unchecked, every later one is checked.
  const proc = launch(port, auth ? { INITIAL_NO_AUTH_ACTION_COUNT: "3" } : {});
  try {
    await waitReady(proc, endpoint, 30_000);
    const keys = auth
      ? await createUser(endpoint)
      : { accessKeyId: "moto-open-key", secretAccessKey: "moto-open-secret" };
    const server: MotoServer = { endpoint, region: REGION, bucket: BUCKET, ...keys };
    createBucket(server, BUCKET);
    return { proc, server };
  } catch (e) {
    await kill(proc);
    throw e;
  }
}

/** Starts both moto servers; rejects (with the server's log tail) if either cannot start. */
export async function startMoto(): Promise<MotoService> {
  const missing = missingMoto();
  if (missing.length > 0) throw new Error(`moto cannot start: missing Python packages: ${missing.join(" ")}`);
  const procs: Proc[] = [];
  const stop = async () => {
    await Promise.all(procs.splice(0).map(kill));
  };
  // Never leave a server behind, even when the runner exits without calling stop().
  const onExit = () => {
    for (const p of procs) {
      if (p.child.pid !== undefined && p.child.exitCode === null) {
        try {
          process.kill(-p.child.pid, "SIGKILL");
        } catch {}
      }
    }
  };
  process.once("exit", onExit);
  try {
    const started = await Promise.allSettled([startOne(false), startOne(true)]);
    for (const r of started) if (r.status === "fulfilled") procs.push(r.value.proc);
    const [open, auth] = started.map((r) => {
      if (r.status === "rejected") throw r.reason;
      return r.value;
    }) as [Awaited<ReturnType<typeof startOne>>, Awaited<ReturnType<typeof startOne>>];
    const env: Record<string, string> = {};
    for (const [prefix, s] of [
      ["MOTO", open.server],
      ["MOTO_AUTH", auth.server],
    ] as const) {
      env[`${prefix}_ENDPOINT`] = s.endpoint;
      env[`${prefix}_ACCESS_KEY_ID`] = s.accessKeyId;
      env[`${prefix}_SECRET_ACCESS_KEY`] = s.secretAccessKey;
      env[`${prefix}_BUCKET`] = s.bucket;
      env[`${prefix}_REGION`] = s.region;
    }
    return {
      open: open.server,
      auth: auth.server,
      env,
      stop: async () => {
        await stop();
        process.removeListener("exit", onExit);
      },
    };
  } catch (e) {
    await stop();
    process.removeListener("exit", onExit);
    throw e;
  }
}
