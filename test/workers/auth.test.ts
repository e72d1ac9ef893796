/**
 * Private reads inside workerd: every read route × {no credential, a wrong
 * token, a token scoped to another table, an expired and a tampered
 * credential (Cloudflare Access JWTs, signed URLs), the right one}, plus
 * `PUBLIC_READ=1`; signed object URLs (GET, HEAD, Range, no headers; bound to
 * one table, one key and an expiry); and no token, signature, JWT or secret
 * in any log line or error body.
 *
 * The Access JWTs are real RS256 tokens from a key pair made here, verified by
 * the worker (jose) against a JWKS made here too: the one fetch the worker
 * makes to the team's certs URL is answered from that JWKS, the way
 * https://{team}/cdn-cgi/access/certs would.
 */
import { createExecutionContext, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { signObjectUrl } from "../../worker/signed-url.ts";
import { randomId } from "../support/harness.ts";
import { ADMIN, BASE, READ, stubOf } from "./support.ts";

const table = `auth-${randomId()}`;
const other = `other-${randomId()}`;
const KEY = "metadata/v1.manifest.bin";
const READ_TOKEN = "test-read-token"; // vitest.config.ts
const SECRETS = ["test-read-token", "test-admin-token", "test-signing-key-0123456789abcdef0123"];

/** Everything the worker logged and answered, to search for secrets at the end. */
const seen: string[] = [];
const logSpies = (["log", "info", "warn", "error", "debug"] as const).map((m) =>
  vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
    seen.push(args.map(String).join(" "));
  }),
);
afterAll(() => {
  for (const s of logSpies) s.mockRestore();
});

async function call(
  e: Env,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  requestBody?: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await worker.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers,
      ...(requestBody === undefined ? {} : { body: requestBody }),
    }),
    e,
    createExecutionContext(),
  );
  const body = method === "HEAD" ? "" : await r.text();
  seen.push(body, JSON.stringify([...r.headers]));
  return { status: r.status, body, headers: r.headers };
}

// Cloudflare Access: a team, an application audience, a key pair and its JWKS.
const team = `t-${randomId()}.cloudflareaccess.com`;
const aud = `aud-${randomId()}`;
const accessEnv = { ...env, ACCESS_TEAM_DOMAIN: team, ACCESS_AUD: aud } as Env;
let keys: { privateKey: CryptoKey; publicKey: CryptoKey };
let jwks: { keys: object[] };
let certsFetches = 0;
const issued: string[] = [];

async function accessJwt(claims: { exp?: number; aud?: string; iss?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ email: "reader@example.test", type: "app" })
    .setProtectedHeader({ alg: "RS256", kid: "test-key-1" })
    .setIssuer(claims.iss ?? `https://${team}`)
    .setAudience(claims.aud ?? aud)
    .setIssuedAt(now - 10)
    .setExpirationTime(claims.exp ?? now + 300)
    .sign(keys.privateKey);
  issued.push(jwt);
  return jwt;
}

const realFetch = globalThis.fetch;
beforeAll(async () => {
  keys = await generateKeyPair("RS256", { extractable: true });
  jwks = { keys: [{ ...(await exportJWK(keys.publicKey)), kid: "test-key-1", alg: "RS256", use: "sig" }] };
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url === `https://${team}/cdn-cgi/access/certs`) {
      certsFetches++;
      return Response.json(jwks);
    }
    return realFetch(input, init);
  });
  // One mirrored snapshot in `table` (the demo commit route, then its alarms).
  const r = await worker.fetch(
    new Request(`${BASE}/api/tables/${table}/commit`, {
      method: "POST",
      headers: { ...ADMIN, "Content-Type": "application/json" },
      body: JSON.stringify({ files: 1, rows: 10 }),
    }),
    env,
    createExecutionContext(),
  );
  assert.equal(r.status, 200, await r.clone().text());
  const stub = stubOf(table);
  for (let i = 0; i < 200 && (await stub.status(table)).mirrorSeq < 1; i++) {
    if (!(await runDurableObjectAlarm(stub))) await new Promise((res) => setTimeout(res, 10));
  }
  assert.equal((await stub.status(table)).mirrorSeq, 1);
}, 60_000);

afterAll(() => vi.restoreAllMocks());

/** The read routes of `table`, with whether a credential scoped elsewhere lists (200, filtered) or is refused (403). */
const ROUTES: Array<{ method: string; path: string; listing?: boolean; body?: string }> = [
  { method: "GET", path: "/api/tables", listing: true },
  { method: "GET", path: "/metrics", listing: true },
  { method: "GET", path: `/api/tables/${table}` },
  { method: "GET", path: `/api/tables/${table}/status` },
  { method: "GET", path: `/api/tables/${table}/snapshots` },
  { method: "GET", path: `/api/tables/${table}/snapshots/1` },
  { method: "GET", path: `/api/tables/${table}/verify/1` },
  { method: "GET", path: `/api/tables/${table}/sign?key=${encodeURIComponent(KEY)}` },
  { method: "POST", path: `/api/tables/${table}/sign`, body: JSON.stringify({ keys: [KEY] }) },
  { method: "POST", path: `/api/tables/${table}/await?version=1&timeoutMs=5000` },
  { method: "GET", path: `/objects/${table}/${KEY}` },
  { method: "HEAD", path: `/objects/${table}/${KEY}` },
];

describe("read routes are private by default", () => {
  it("no credential, a wrong token, another scheme: 401 with WWW-Authenticate, JSON Unauthenticated", async () => {
    for (const { method, path, body } of ROUTES) {
      for (const headers of [
        {},
        { Authorization: "Bearer not-the-read-token" },
        { Authorization: `Basic ${btoa(`x:${READ_TOKEN}`)}` },
        { Authorization: "Bearer test-admin-token" }, // the admin token is not a read token
      ]) {
        const r = await call(env, method, path, headers, body);
        assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${r.body}`);
        assert.match(r.headers.get("WWW-Authenticate") ?? "", /^Bearer realm=/);
        if (method !== "HEAD") assert.equal(JSON.parse(r.body).error, "Unauthenticated");
      }
    }
  });

  it("the read token: 200 on every route; scoped to another table: 403, and lists without the table", async () => {
    for (const { method, path, body } of ROUTES) {
      const r = await call(env, method, path, READ, body);
      assert.equal(r.status, 200, `${method} ${path}: ${r.body}`);
    }
    const scoped = { ...env, READ_TOKEN_TABLES: `${other}, demo` } as Env;
    for (const { method, path, listing, body } of ROUTES) {
      const r = await call(scoped, method, path, READ, body);
      if (listing) {
        assert.equal(r.status, 200, path);
        assert.ok(!r.body.includes(table), `${path} does not show ${table}`);
      } else {
        assert.equal(r.status, 403, `${method} ${path}: ${r.body}`);
        if (method !== "HEAD") {
          assert.equal(JSON.parse(r.body).error, "PermissionDenied");
          assert.match(JSON.parse(r.body).message, /does not cover table/);
        }
      }
    }
    const listed = JSON.parse((await call(scoped, "GET", "/api/tables", READ)).body).tables as string[];
    assert.ok(listed.includes("demo"));
    const bad = await call({ ...env, READ_TOKEN_TABLES: "Bad!" } as Env, "GET", "/api/tables", READ);
    assert.equal(bad.status, 400);
  });

  it("a Cloudflare Access JWT: right 200; expired, tampered, another audience or key: 401", async () => {
    const right = await accessJwt();
    const expired = await accessJwt({ exp: Math.floor(Date.now() / 1000) - 60 });
    const [h, p, s] = right.split(".");
    const tamperedPayload = `${h}.${btoa(JSON.stringify({ ...JSON.parse(atob(p ?? "")), email: "x@evil.test" })).replace(/=+$/, "")}.${s}`;
    const tamperedSig = `${h}.${p}.${(s ?? "").slice(0, -2)}${s?.endsWith("AA") ? "BB" : "AA"}`;
    const otherAud = await accessJwt({ aud: "someone-else" });
    const otherIss = await accessJwt({ iss: "https://evil.cloudflareaccess.com" });
    const foreign = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: "test-key-1" })
      .setIssuer(`https://${team}`)
      .setAudience(aud)
      .setExpirationTime("5m")
      .sign((await generateKeyPair("RS256")).privateKey);
    issued.push(foreign);
    const cases: Array<[string, string, number, RegExp]> = [
      ["right", right, 200, /./],
      ["expired", expired, 401, /expired/],
      ["tampered payload", tamperedPayload, 401, /not valid/],
      ["tampered signature", tamperedSig, 401, /not valid/],
      ["another audience", otherAud, 401, /not for this application/],
      ["another issuer", otherIss, 401, /not for this application/],
      ["signed by another key", foreign, 401, /not valid/],
      ["not a JWT", "abc.def", 401, /not valid/],
    ];
    for (const { method, path, body } of ROUTES) {
      for (const [what, jwt, status, message] of cases) {
        const r = await call(accessEnv, method, path, { "Cf-Access-Jwt-Assertion": jwt }, body);
        assert.equal(r.status, status, `${what}: ${method} ${path}: ${r.body}`);
        if (status !== 200 && method !== "HEAD") assert.match(JSON.parse(r.body).message, message, what);
      }
    }
    // The keys were fetched once and cached, not once per request.
    assert.equal(certsFetches, 1);
    // Without Access configured, the header is no credential.
    assert.equal(
      (await call(env, "GET", `/api/tables/${table}/status`, { "Cf-Access-Jwt-Assertion": right })).status,
      401,
    );
    // Half a configuration is refused, never "Access off".
    const half = await call({ ...env, ACCESS_TEAM_DOMAIN: team } as Env, "GET", "/api/tables", READ);
    assert.equal(half.status, 400);
    assert.match(JSON.parse(half.body).message, /ACCESS_TEAM_DOMAIN and ACCESS_AUD/);
  });

  it("PUBLIC_READ=1 opens the read routes; a wrong credential is still refused; admin routes stay closed", async () => {
    const pub = { ...env, PUBLIC_READ: "1" } as Env;
    for (const { method, path, body } of ROUTES) {
      assert.equal((await call(pub, method, path, {}, body)).status, 200, `${method} ${path}`);
      assert.equal(
        (await call(pub, method, path, { Authorization: "Bearer wrong" }, body)).status,
        401,
        path,
      );
    }
    assert.equal((await call(pub, "POST", `/api/tables/${table}/kick`)).status, 401);
    const typo = await call({ ...env, PUBLIC_READ: "yes" } as Env, "GET", "/api/tables");
    assert.equal(typo.status, 400);
    assert.match(JSON.parse(typo.body).message, /PUBLIC_READ must be 1 or 0/);
  });

  it("the inspector page, its bundle and the parts it loads later need no credential (they hold no data)", async () => {
    assert.equal((await call(env, "GET", "/")).status, 200);
    const script = await call(env, "GET", "/inspector.js");
    assert.equal(script.status, 200);
    // The rows view and the file preview come as chunks the script imports (scripts/build-inspector.ts).
    const chunks = new Set([...script.body.matchAll(/"\.\/(chunks\/[\w-]+\.js)"/g)].map((m) => m[1]));
    assert.ok(chunks.size >= 2, `chunks imported: ${[...chunks].join(", ")}`);
    for (const c of chunks) assert.equal((await call(env, "GET", `/${c}`)).status, 200, c);
  });
});

describe("signed object URLs", () => {
  const sign = async (e: Env = env, query = `key=${encodeURIComponent(KEY)}`) =>
    call(e, "GET", `/api/tables/${table}/sign?${query}`, READ);

  it("a signed URL reads one object without headers: GET, HEAD and Range; until it expires", async () => {
    const r = await sign();
    assert.equal(r.status, 200, r.body);
    const { url, expiresAt } = JSON.parse(r.body) as { url: string; expiresAt: string };
    const u = new URL(url);
    assert.equal(u.origin, BASE);
    assert.equal(u.pathname, `/objects/${table}/${KEY}`);
    const ttl = Date.parse(expiresAt) - Date.now();
    assert.ok(ttl > 290_000 && ttl <= 300_000, `expires in ${ttl} ms`);
    const path = `${u.pathname}${u.search}`;
    const full = await call(env, "GET", path);
    assert.equal(full.status, 200);
    assert.ok(full.body.startsWith("MRUB"));
    const head = await call(env, "HEAD", path);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("Content-Length"), full.headers.get("Content-Length"));
    const part = await call(env, "GET", path, { Range: "bytes=0-3" });
    assert.equal(part.status, 206);
    assert.equal(part.body, "MRUB");
    const short = JSON.parse((await sign(env, `key=${encodeURIComponent(KEY)}&ttl=5`)).body);
    assert.ok(Date.parse(short.expiresAt) - Date.now() <= 5_000);
  });

  it("expired, tampered, or moved to another key or table: 403, never the object", async () => {
    const { url } = JSON.parse((await sign()).body) as { url: string };
    const u = new URL(url);
    const exp = u.searchParams.get("exp") ?? "";
    const sig = u.searchParams.get("sig") ?? "";
    const expired = await signObjectUrl(env, BASE, table, KEY, "60", Date.now() - 120_000);
    const flip = (s: string) => `${s.slice(0, 10)}${s[10] === "A" ? "B" : "A"}${s.slice(11)}`;
    const cases: Array<[string, string, RegExp]> = [
      ["expired", new URL(expired.url).pathname + new URL(expired.url).search, /expired/],
      ["tampered signature", `${u.pathname}?exp=${exp}&sig=${flip(sig)}`, /does not match/],
      ["later expiry", `${u.pathname}?exp=${Number(exp) + 3600}&sig=${sig}`, /does not match/],
      ["another key", `/objects/${table}/metadata/v2.manifest.bin?exp=${exp}&sig=${sig}`, /does not match/],
      ["another table", `/objects/${other}/${KEY}?exp=${exp}&sig=${sig}`, /does not match/],
      ["no signature", `${u.pathname}?exp=${exp}`, /malformed/],
      ["two signatures", `${u.pathname}?exp=${exp}&sig=${sig}&sig=${sig}`, /malformed/],
    ];
    for (const [what, path, message] of cases) {
      for (const method of ["GET", "HEAD"]) {
        const r = await call(env, method, path);
        assert.equal(r.status, 403, `${what} ${method}: ${r.body}`);
        if (method === "GET") {
          assert.match(JSON.parse(r.body).message, message, what);
          assert.ok(!r.body.includes("MRUB"));
        }
      }
    }
    // A signed URL is judged by its signature alone: a read token beside a bad one does not rescue it.
    assert.equal((await call(env, "GET", `${u.pathname}?exp=${exp}&sig=${flip(sig)}`, READ)).status, 403);
    // It signs reads only: no route writes objects.
    assert.equal((await call(env, "PUT", `${u.pathname}${u.search}`)).status, 404);
  });

  it("a batch of keys signed in one request: each URL reads its own object only, all with one expiry", async () => {
    const keys = [KEY, "metadata/low_water.txt"];
    const r = await call(env, "POST", `/api/tables/${table}/sign`, READ, JSON.stringify({ keys }));
    assert.equal(r.status, 200, r.body);
    const { urls, expiresAt } = JSON.parse(r.body) as { urls: Record<string, string>; expiresAt: string };
    assert.deepEqual(Object.keys(urls), keys);
    const ttl = Date.parse(expiresAt) - Date.now();
    assert.ok(ttl > 290_000 && ttl <= 300_000, `expires in ${ttl} ms`);
    for (const k of keys) {
      const u = new URL(urls[k]!);
      assert.equal(new Date(Number(u.searchParams.get("exp")) * 1000).toISOString(), expiresAt);
      assert.equal((await call(env, "GET", `${u.pathname}${u.search}`)).status, 200, k);
    }
    const [a, b] = keys.map((k) => new URL(urls[k]!));
    assert.equal(
      (await call(env, "GET", `${a!.pathname}${b!.search}`)).status,
      403,
      "a signature of one key does not open another",
    );
    for (const body of [
      "",
      "{",
      "[]",
      "{}",
      '{"keys":[]}',
      '{"keys":"k"}',
      '{"keys":[1]}',
      '{"keys":["a\u0001b"]}',
      '{"keys":["k"],"ttl":5}',
      JSON.stringify({ keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }),
    ]) {
      const bad = await call(env, "POST", `/api/tables/${table}/sign`, READ, body);
      assert.equal(bad.status, 400, `${body.slice(0, 40)}: ${bad.body}`);
    }
  });

  it("sign needs a key and a sane ttl, and SIGNING_KEY: unset 501, short 400", async () => {
    assert.equal((await sign(env, "")).status, 400);
    assert.equal((await sign(env, "key=")).status, 400);
    assert.equal((await sign(env, `key=${KEY}&ttl=0`)).status, 400);
    assert.equal((await sign(env, `key=${KEY}&ttl=3601`)).status, 400);
    assert.equal((await sign(env, `key=${KEY}&ttl=5m`)).status, 400);
    assert.equal((await sign(env, "key=a%01b")).status, 400);
    const { SIGNING_KEY: _, ...withoutKey } = env;
    const unset = await sign(withoutKey as Env);
    assert.equal(unset.status, 501);
    assert.match(JSON.parse(unset.body).message, /SIGNING_KEY/);
    assert.equal((await sign({ ...env, SIGNING_KEY: "short" } as Env)).status, 400);
  });
});

describe("secrets", () => {
  it("no token, signature, JWT or secret in any log line, error body or header", () => {
    const sigs = seen
      .flatMap((t) => [...t.matchAll(/sig=([A-Za-z0-9_-]{43})/g)].map((m) => m[1] ?? ""))
      .filter((s) => s !== "");
    // Signatures appear only in the sign route's own answers ({ url }, { urls }), never elsewhere.
    const outside = seen.filter((t) => !t.startsWith('{"url":') && !t.startsWith('{"urls":'));
    for (const secret of [...SECRETS, ...issued, ...sigs]) {
      const hit = outside.find((t) => t.includes(secret));
      assert.equal(hit, undefined, `a secret appears in: ${hit?.slice(0, 200)}`);
    }
    assert.ok(seen.length > 100, `${seen.length} responses and log lines checked`);
  });
});
