/**
 * Who may read and administer the worker.
 *
 * - Admin routes: `Authorization: Bearer <ADMIN_TOKEN>`.
 * - Read routes (the API, the object route, `/metrics`) take, unless
 *   `PUBLIC_READ=1`, one of: `Authorization: Bearer <READ_TOKEN>` (every
 *   table, or those `READ_TOKEN_TABLES` lists), or a Cloudflare Access JWT
 *   (`Cf-Access-Jwt-Assertion`, which Access adds to every request it let
 *   through) verified against the team's keys, issuer and the application's
 *   audience (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`). The object route also
 *   takes a signed URL (worker/signed-url.ts).
 *
 * Tokens are compared in constant time: both sides are hashed with SHA-256
 * first, so the comparison runs over 32 bytes whatever the lengths, and
 * neither the length nor a prefix of the secret leaks through timing. No
 * message says more than which kind of credential failed. A missing or bad
 * credential is `Unauthenticated` (401), one that does not cover what was
 * asked `PermissionDenied` (403). worker/middleware.ts applies these to the
 * routes.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import { TidemarkError } from "../src/errors.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { isTableName } from "./table-config.ts";

const encoder = new TextEncoder();

async function sha256(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)));
}

/** Equal in constant time (for equal-length inputs; SHA-256 digests always are). */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return m?.[1];
}

/** True when `given` is `secret`, compared in constant time; an unset or empty secret matches nothing. */
export async function tokenMatches(given: string | undefined, secret: string | undefined): Promise<boolean> {
  if (!secret || !given) return false;
  const [x, y] = await Promise.all([sha256(given), sha256(secret)]);
  return constantTimeEqual(x, y);
}

/**
 * True when `authorization` is `Bearer <secret>`. An unset or empty secret
 * refuses everyone (the admin routes are off until a secret is configured).
 */
export async function isAuthorized(
  authorization: string | undefined,
  secret: string | undefined,
): Promise<boolean> {
  return tokenMatches(bearerToken(authorization), secret);
}

/** What a read credential grants: every table, or some. */
export interface ReadGrant {
  /** `public`, `token` (READ_TOKEN), `access` (a Cloudflare Access JWT) or `signed` (a signed URL). */
  via: "public" | "token" | "access" | "signed";
  /** `null`: every table. */
  tables: ReadonlySet<string> | null;
}

/** True when `grant` covers `table`. */
export function canRead(grant: ReadGrant, table: string): boolean {
  return grant.tables === null || grant.tables.has(table);
}

/** `PUBLIC_READ`: "1" opens the read routes to anyone; unset, "" or "0" keeps them private. */
export const publicRead = perEnv((env: Env): boolean => {
  const v = env.PUBLIC_READ;
  if (v === undefined || v === "" || v === "0") return false;
  if (v === "1") return true;
  throw new TidemarkError("InvalidArgument", `PUBLIC_READ must be 1 or 0, got ${JSON.stringify(v)}`);
});

/** The tables `READ_TOKEN_TABLES` names (`null`: unset, every table). */
const tokenTables = perEnv((env: Env): ReadonlySet<string> | null => {
  const v = env.READ_TOKEN_TABLES;
  if (v === undefined || v.trim() === "") return null;
  const names = v.split(",").map((t) => t.trim());
  for (const t of names) {
    if (!isTableName(t)) {
      throw new TidemarkError(
        "InvalidArgument",
        `READ_TOKEN_TABLES: ${JSON.stringify(t)} is not a table name`,
      );
    }
  }
  return new Set(names);
});

/** Cloudflare Access settings, or `undefined` when Access is not configured. */
export const accessConfig = perEnv((env: Env): { team: string; aud: string } | undefined => {
  const domain = env.ACCESS_TEAM_DOMAIN?.trim() ?? "";
  const aud = env.ACCESS_AUD?.trim() ?? "";
  if (domain === "" && aud === "") return undefined;
  if (domain === "" || aud === "") {
    throw new TidemarkError(
      "InvalidArgument",
      "Cloudflare Access needs both ACCESS_TEAM_DOMAIN and ACCESS_AUD",
    );
  }
  const team = domain.replace(/^https:\/\//i, "").replace(/\/+$/, "");
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(team)) {
    throw new TidemarkError(
      "InvalidArgument",
      `ACCESS_TEAM_DOMAIN must be a host name like myteam.cloudflareaccess.com, got ${JSON.stringify(domain)}`,
    );
  }
  return { team: team.toLowerCase(), aud };
});

// The team's signing keys, per team domain, for the isolate's lifetime: jose
// caches them (10 minutes) and refetches on a key id it does not know
// (Access rotates its keys). https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
const teamKeys = new Map<string, JWTVerifyGetKey>();

function keysOf(team: string): JWTVerifyGetKey {
  let keys = teamKeys.get(team);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(`https://${team}/cdn-cgi/access/certs`));
    teamKeys.set(team, keys);
  }
  return keys;
}

/**
 * Verifies an Access JWT.
 *
 * @throws TidemarkError `Unauthenticated` saying only what kind of failure
 *   (expired, another application, not valid); `Transient` when the keys
 *   cannot be fetched.
 */
async function verifyAccess(token: string, access: { team: string; aud: string }): Promise<void> {
  let code: unknown;
  try {
    await jwtVerify(token, keysOf(access.team), {
      issuer: `https://${access.team}`,
      audience: access.aud,
      algorithms: ["RS256"],
    });
    return;
  } catch (e) {
    code = (e as { code?: unknown }).code;
  }
  // jose's own messages can quote claims; only the kind of failure is told.
  if (code === "ERR_JWT_EXPIRED") throw unauthenticated("the Cloudflare Access token has expired");
  if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
    throw unauthenticated("the Cloudflare Access token is not for this application");
  }
  if (
    typeof code !== "string" ||
    code === "ERR_JOSE_GENERIC" ||
    code === "ERR_JWKS_TIMEOUT" ||
    code === "ERR_JWKS_INVALID"
  ) {
    throw new TidemarkError("Transient", `cannot fetch the Cloudflare Access keys of ${access.team}`);
  }
  throw unauthenticated("the Cloudflare Access token is not valid");
}

const unauthenticated = (message: string) => new TidemarkError("Unauthenticated", message);

/**
 * The read credential of `req`, checked: what it grants. A request that
 * carries a credential is judged by it even under `PUBLIC_READ=1` (a wrong
 * token is refused, never silently public).
 *
 * @throws TidemarkError `Unauthenticated` for no credential or a bad one
 *   (saying which kind failed, never quoting it); `InvalidArgument` for a bad
 *   `PUBLIC_READ`, `READ_TOKEN_TABLES` or Access setting; `Transient` when
 *   the Access keys cannot be fetched.
 */
export async function readGrant(req: Request, env: Env): Promise<ReadGrant> {
  const isPublic = publicRead(env);
  const access = accessConfig(env);
  const bearer = bearerToken(req.headers.get("Authorization") ?? undefined);
  const jwt = req.headers.get("Cf-Access-Jwt-Assertion") ?? undefined;
  if (bearer !== undefined) {
    if (await tokenMatches(bearer, env.READ_TOKEN)) return { via: "token", tables: tokenTables(env) };
    throw unauthenticated("the bearer token is not a read token");
  }
  if (req.headers.has("Authorization"))
    throw unauthenticated("read routes take Authorization: Bearer <token>");
  if (jwt !== undefined && access) {
    await verifyAccess(jwt, access);
    return { via: "access", tables: null };
  }
  if (isPublic) return { via: "public", tables: null };
  throw unauthenticated(
    `read routes need a credential: Authorization: Bearer <READ_TOKEN>${access ? ", a Cloudflare Access login" : ""} or a signed URL (GET /api/tables/:table/sign)`,
  );
}

/**
 * Refuses `grant` unless it covers `table`.
 *
 * @throws TidemarkError `PermissionDenied` (403).
 */
export function checkCovers(grant: ReadGrant, table: string): void {
  if (!canRead(grant, table)) {
    throw new TidemarkError("PermissionDenied", `this credential does not cover table ${table}`);
  }
}
