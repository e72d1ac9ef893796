import { TidemarkError } from "../errors.ts";

/** The longest key S3 and R2 accept, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();
// C0 controls and DEL; S3 and R2 accept some of them on the wire, but they
// break XML listings (XML 1.0 cannot carry most C0 characters) and logs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Throws `InvalidArgument` unless `key` is a valid object key: non-empty, at
 * most 1024 UTF-8 bytes, no control characters. The one place keys are checked;
 * every adapter calls it.
 */
export function validateKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new TidemarkError("InvalidArgument", "object key must be a non-empty string");
  }
  if (CONTROL.test(key)) {
    throw new TidemarkError("InvalidArgument", "object key contains a control character", {
      key: JSON.stringify(key),
    });
  }
  const bytes = encoder.encode(key).length;
  if (bytes > MAX_KEY_BYTES) {
    throw new TidemarkError(
      "InvalidArgument",
      `object key is ${bytes} bytes, over the ${MAX_KEY_BYTES}-byte limit`,
    );
  }
}

/** Like {@link validateKey} for a list prefix, which may be empty. */
export function validatePrefix(prefix: string): void {
  if (prefix !== "") validateKey(prefix);
}

/**
 * Compares two strings in UTF-8 byte order (the order S3 and R2 list in),
 * which is code-point order, not JavaScript's UTF-16 order.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every BMP character in UTF-8.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
