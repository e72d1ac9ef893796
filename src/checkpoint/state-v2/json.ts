/**
 * JSON as LaminarDB's Rust side reads and writes it (serde_json): a strict
 * parser that keeps integers exact (`bigint`: a u64 past 2^53 must not be
 * rounded, as `JSON.parse` would), remembers duplicate keys (serde refuses a
 * struct field given twice) and refuses what serde_json refuses (invalid
 * UTF-8, lone surrogates, control characters in strings, trailing bytes);
 * and the compact writer whose output `serde_json::to_vec` would produce for
 * the same fields in the same order (the "canonical bytes" LaminarDB demands
 * of `_NAMESPACE` and `_PRUNE_FLOOR`).
 *
 * @module
 */

/** A number with a fraction or an exponent, as written (serde refuses it where an integer is due). */
export interface JsonFloat {
  readonly float: string;
}

/** An object: its fields in order, and the keys given more than once (the last value wins). */
export interface JsonObject {
  readonly fields: Map<string, Json>;
  readonly duplicates: ReadonlySet<string>;
}

/** A parsed JSON value; integers are `bigint`. */
export type Json = null | boolean | bigint | JsonFloat | string | Json[] | JsonObject;

/** Why a text is not JSON serde_json would read. */
export class JsonSyntaxError extends Error {
  constructor(message: string, at: number) {
    super(`${message} at byte ${at}`);
    this.name = "JsonSyntaxError";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether `v` is a parsed object. */
export function isJsonObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "fields" in v;
}

/** Whether `v` is a number with a fraction or exponent. */
export function isJsonFloat(v: Json | undefined): v is JsonFloat {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "float" in v;
}

/**
 * Parses `bytes` as serde_json's `from_slice` does.
 *
 * @throws JsonSyntaxError naming what is wrong and where.
 */
export function parseJson(bytes: Uint8Array): Json {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new JsonSyntaxError("invalid UTF-8", 0);
  }
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.at < text.length) p.fail("trailing characters");
  return v;
}

// serde_json's recursion limit.
const MAX_DEPTH = 128;

class Parser {
  readonly s: string;
  at = 0;

  constructor(s: string) {
    this.s = s;
  }

  fail(message: string): never {
    throw new JsonSyntaxError(message, this.at);
  }

  ws(): void {
    while (this.at < this.s.length) {
      const c = this.s.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.at++;
    }
  }

  value(depth: number): Json {
    if (depth > MAX_DEPTH) this.fail("recursion limit exceeded");
    const c = this.s[this.at];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (this.s.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    this.fail(c === undefined ? "EOF while parsing a value" : "expected value");
  }

  object(depth: number): JsonObject {
    this.at++;
    const fields = new Map<string, Json>();
    const duplicates = new Set<string>();
    this.ws();
    if (this.s[this.at] === "}") {
      this.at++;
      return { fields, duplicates };
    }
    for (;;) {
      this.ws();
      if (this.s[this.at] !== '"') this.fail("key must be a string");
      const key = this.string();
      this.ws();
      if (this.s[this.at] !== ":") this.fail("expected `:`");
      this.at++;
      this.ws();
      const v = this.value(depth + 1);
      if (fields.has(key)) duplicates.add(key);
      fields.set(key, v);
      this.ws();
      const c = this.s[this.at++];
      if (c === "}") return { fields, duplicates };
      if (c !== ",") this.fail("expected `,` or `}`");
    }
  }

  array(depth: number): Json[] {
    this.at++;
    const out: Json[] = [];
    this.ws();
    if (this.s[this.at] === "]") {
      this.at++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.at++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected `,` or `]`");
    }
  }

  number(): bigint | JsonFloat {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.at, this.at + 400));
    if (!m || m[0] === "-") this.fail("invalid number");
    this.at += m[0].length;
    if (m[2] !== undefined || m[3] !== undefined) return { float: m[0] };
    return BigInt(m[0]);
  }

  string(): string {
    this.at++;
    let out = "";
    for (;;) {
      const c = this.s.charCodeAt(this.at);
      if (Number.isNaN(c)) this.fail("EOF while parsing a string");
      if (c === 0x22) {
        this.at++;
        return out;
      }
      if (c < 0x20) this.fail("control character in a string");
      if (c !== 0x5c) {
        out += this.s[this.at++];
        continue;
      }
      const e = this.s[this.at + 1];
      this.at += 2;
      const simple: Record<string, string> = {
        '"': '"',
        "\\": "\\",
        "/": "/",
        b: "\b",
        f: "\f",
        n: "\n",
        r: "\r",
        t: "\t",
      };
      if (e !== undefined && e in simple) {
        out += simple[e];
        continue;
      }
      if (e !== "u") this.fail("invalid escape");
      const unit = this.hex4();
      if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone trailing surrogate in hex escape");
      if (unit >= 0xd800 && unit <= 0xdbff) {
        if (this.s.slice(this.at, this.at + 2) !== "\\u") this.fail("lone leading surrogate in hex escape");
        this.at += 2;
        const low = this.hex4();
        if (low < 0xdc00 || low > 0xdfff) this.fail("lone leading surrogate in hex escape");
        out += String.fromCharCode(unit, low);
        continue;
      }
      out += String.fromCharCode(unit);
    }
  }

  hex4(): number {
    const h = this.s.slice(this.at, this.at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail("invalid \\u escape");
    this.at += 4;
    return Number.parseInt(h, 16);
  }
}

/** A value to write: objects keep their key order (the Rust struct's field order). */
export type JsonOut = null | boolean | bigint | number | string | JsonOut[] | { [key: string]: JsonOut };

/**
 * `v` written as `serde_json::to_vec` writes it: no whitespace, keys in the
 * order given, strings escaped as serde_json does (`"`, `\`, and control
 * characters; `\b \f \n \r \t` short, the others as lowercase `\u00XX`;
 * nothing else, `/` and non-ASCII included).
 */
export function writeJson(v: JsonOut): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return writeString(v);
  if (Array.isArray(v)) return `[${v.map(writeJson).join(",")}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${writeString(k)}:${writeJson(x)}`)
    .join(",")}}`;
}

const SHORT: Record<number, string> = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" };

function writeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (c < 0x20) out += SHORT[c] ?? `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}
