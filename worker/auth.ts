/**
 * Bearer-token check of the admin routes, in constant time: both tokens are
 * hashed with SHA-256 first, so the comparison runs over 32 bytes whatever the
 * lengths, and neither the length nor a prefix of the secret leaks through timing.
 */

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

/**
 * True when `authorization` is `Bearer <secret>`. An unset or empty secret
 * refuses everyone (the admin routes are off until a secret is configured).
 */
export async function isAuthorized(
  authorization: string | undefined,
  secret: string | undefined,
): Promise<boolean> {
  if (!secret) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  const given = m?.[1] ?? "";
  const [x, y] = await Promise.all([sha256(given), sha256(secret)]);
  return constantTimeEqual(x, y) && given !== "";
}
