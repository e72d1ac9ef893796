/**
 * Secrets never reach an error, a log line or a message: the one place that
 * removes them (every adapter that holds a credential or a signed URL uses it).
 *
 * @module
 */

/**
 * A function that removes secrets from text: the given secret strings
 * (secret key, session token, access key id) and anything shaped like a SigV4
 * signature, credential scope, `Authorization` value, presigned-URL query, or
 * (with `urls`) any URL at all.
 */
export function makeScrubber(
  secrets: ReadonlyArray<string | undefined>,
  opts: { urls?: boolean } = {},
): (s: string) => string {
  const literal = secrets.filter((s): s is string => typeof s === "string" && s.length >= 4);
  return (text: string) => {
    let out = text;
    for (const s of literal) out = out.split(s).join("[redacted]");
    out = out
      .replace(/(X-Amz-(?:Signature|Credential|Security-Token|SignedHeaders)=)[^&\s"'<>]*/gi, "$1[redacted]")
      .replace(/AWS4-HMAC-SHA256[^\n"<]*/g, "AWS4-HMAC-SHA256 [redacted]")
      .replace(/(Signature=)[0-9a-f]+/gi, "$1[redacted]")
      .replace(/(Credential=)[^,\s&]+/gi, "$1[redacted]");
    return opts.urls ? out.replace(/https?:\/\/\S+/g, "<url>") : out;
  };
}

/**
 * A copy of an error (and its `cause` chain, and an AggregateError's
 * `errors`) with secrets scrubbed from names, messages and codes, and nothing
 * else kept: runtime errors can carry request objects, headers or URLs.
 */
export function sanitizeCause(e: unknown, scrub: (s: string) => string, depth = 0): unknown {
  if (depth > 5) return undefined;
  if (typeof e !== "object" || e === null) return e === undefined ? undefined : scrub(String(e));
  const src = e as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown; errors?: unknown };
  const cause = src.cause === undefined ? undefined : sanitizeCause(src.cause, scrub, depth + 1);
  const out = new Error(
    scrub(typeof src.message === "string" ? src.message : String(e)),
    cause === undefined ? undefined : { cause },
  ) as Error & { code?: string; errors?: unknown[] };
  out.name = scrub(typeof src.name === "string" ? src.name : "Error");
  if (typeof src.code === "string" || typeof src.code === "number") out.code = scrub(String(src.code));
  if (Array.isArray(src.errors))
    out.errors = src.errors.slice(0, 10).map((x) => sanitizeCause(x, scrub, depth + 1));
  return out;
}

/**
 * A URL fit to quote in an error: one that failed to parse may still carry
 * user info (`KEY:SECRET@`) or a query (a signature), so both are cut out.
 */
export function quoteUrl(spec: string): string {
  return JSON.stringify(spec.replace(/\/\/[^/?#]*@/, "//***@").replace(/[?#].*$/s, "?..."));
}
