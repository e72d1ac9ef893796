/**
 * The floor of a streamed S3 → S3 copy on Node, with no tidemark code: what
 * bench/mirror.ts measures tidemark against, beside rclone. One ListObjectsV2
 * listing of the source prefix (every page), then each object GET and piped
 * into a create-only PUT (`If-None-Match: *`, the same request tidemark
 * makes) on the target, `PARALLEL` at once, over `node:http` with keep-alive
 * connections, signed by mhart's `aws4` with `UNSIGNED-PAYLOAD`.
 *
 * It is compiled to plain JavaScript before it runs (bench/mirror.ts does
 * that with esbuild), so the floor pays no TypeScript start-up either.
 *
 *   FLOOR_ENDPOINT=http://127.0.0.1:7480 FLOOR_REGION=us-east-1 FLOOR_SRC=bucket-a \
 *   FLOOR_DST=bucket-b FLOOR_PREFIX=data/ FLOOR_PARALLEL=8 \
 *   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... node bare-pipe.js
 *
 * (FLOOR_: `perf` sets PREFIX in the environment of what it runs.)
 *
 * Prints one line: `copied N objects, B bytes`.
 */
import http from "node:http";
import process from "node:process";
import aws4 from "aws4";

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`bare-pipe: set ${name}`);
  return v;
};
const endpoint = new URL(env("FLOOR_ENDPOINT"));
const region = env("FLOOR_REGION");
const credentials = { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") };
const [src, dst, prefix] = [env("FLOOR_SRC"), env("FLOOR_DST"), process.env.FLOOR_PREFIX ?? ""];
const parallel = Number(process.env.FLOOR_PARALLEL ?? 8);
// FLOOR_RETAIN_OBJECTS=N keeps N small objects alive (about 70 bytes each):
// the same copy with a bigger live heap, as a bigger program has.
const retained = Array.from({ length: Number(process.env.FLOOR_RETAIN_OBJECTS ?? 0) }, (_, i) => ({
  i,
  s: `x${i}`,
}));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, scheduling: "lifo" });

/** A signed `node:http` request (path-style, already encoded). */
function request(method: string, path: string, headers: Record<string, string> = {}): http.ClientRequest {
  const signed = aws4.sign(
    {
      host: endpoint.host,
      path,
      method,
      headers: { ...headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      service: "s3",
      region,
    },
    credentials,
  );
  const req = http.request({
    host: endpoint.hostname,
    port: endpoint.port,
    method,
    path,
    headers: signed.headers,
    agent,
    timeout: 120_000,
  });
  // A stalled server fails the copy instead of hanging the benchmark.
  req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer for 120 s`)));
  return req;
}

const enc = (key: string) => key.split("/").map(encodeURIComponent).join("/");

function send(req: http.ClientRequest, body?: NodeJS.ReadableStream): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.on("response", resolve);
    req.on("error", reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function text(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Every key and size under the prefix (ListObjectsV2, every page). */
async function list(): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ "list-type": "2", prefix });
    if (token) q.set("continuation-token", token);
    const query = [...q].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    const res = await send(request("GET", `/${src}?${query}`));
    const xml = await text(res);
    if (res.statusCode !== 200) throw new Error(`list: HTTP ${res.statusCode} ${xml}`);
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>.*?<Size>(\d+)<\/Size>/gs)) {
      out.push({ key: (m[1] as string).replaceAll("&amp;", "&"), size: Number(m[2]) });
    }
    token = /<NextContinuationToken>([^<]*)</.exec(xml)?.[1];
    if (!/<IsTruncated>true</.test(xml) || !token) return out;
  }
}

async function copy(key: string): Promise<number> {
  const got = await send(request("GET", `/${src}/${enc(key)}`));
  if (got.statusCode !== 200) throw new Error(`GET ${key}: HTTP ${got.statusCode} ${await text(got)}`);
  const size = got.headers["content-length"] as string;
  const put = await send(
    request("PUT", `/${dst}/${enc(key)}`, { "content-length": size, "if-none-match": "*" }),
    got,
  );
  const answer = await text(put);
  if (put.statusCode !== 200) throw new Error(`PUT ${key}: HTTP ${put.statusCode} ${answer}`);
  return Number(size);
}

const objects = await list();
let next = 0;
let bytes = 0;
await Promise.all(
  Array.from({ length: parallel }, async () => {
    while (next < objects.length) {
      const n = await copy((objects[next++] as { key: string }).key);
      bytes += n;
    }
  }),
);
agent.destroy();
console.log(
  `copied ${objects.length} objects, ${bytes} bytes${retained.length ? `, ${retained.length} objects kept` : ""}`,
);
