/**
 * Primary keys typed by people (the CLI's `--from-key`, the inspector's
 * search): JSON, a scalar for a one-column key (`10`, `"eu"`) or an array
 * for a composite one (`["eu", 10]`), also a prefix of it (`["eu"]`).
 * Numbers are read from their text, so an Int64 beyond 2^53 stays exact;
 * bytes that are not text are `{"base64": "..."}`.
 *
 * @module
 */
import type { TableSchema } from "../catalog/schema.ts";
import { TidemarkError } from "../errors.ts";
import { type KeyValue, keyColumns } from "./ikey.ts";

/** A JSON number, kept as its text. */
class JsonNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** A JSON value whose numbers are kept as their text. */
type Json = null | boolean | string | JsonNumber | Json[] | { [k: string]: Json };

function bad(what: string, why: string): TidemarkError {
  return new TidemarkError("InvalidArgument", `${what}: ${why}`);
}

/** Parses JSON, keeping each number's text. */
function parseJson(text: string, what: string): Json {
  let at = 0;
  const ws = () => {
    while (at < text.length && " \t\n\r".includes(text[at] as string)) at++;
  };
  const fail = (why: string): never => {
    throw bad(what, `not JSON (${why} at character ${at + 1}): ${text}`);
  };
  const value = (): Json => {
    ws();
    const c = text[at];
    if (c === "[") {
      at++;
      const out: Json[] = [];
      ws();
      if (text[at] === "]") {
        at++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[at] === ",") at++;
        else if (text[at] === "]") {
          at++;
          return out;
        } else return fail("expected , or ]");
      }
    }
    if (c === "{") {
      at++;
      const out: { [k: string]: Json } = {};
      ws();
      if (text[at] === "}") {
        at++;
        return out;
      }
      for (;;) {
        ws();
        const k = value();
        if (typeof k !== "string") return fail("expected a string key");
        ws();
        if (text[at++] !== ":") return fail("expected :");
        out[k] = value();
        ws();
        if (text[at] === ",") at++;
        else if (text[at] === "}") {
          at++;
          return out;
        } else return fail("expected , or }");
      }
    }
    if (c === '"') {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
      const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(at));
      if (!m) return fail("a bad string");
      at += m[0].length;
      return JSON.parse(m[0]) as string;
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at));
    if (m) {
      at += m[0].length;
      return new JsonNumber(m[0]);
    }
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return v;
      }
    }
    return fail("unexpected input");
  };
  const v = value();
  ws();
  if (at !== text.length) fail("unexpected input after the value");
  return v;
}

function isNumber(v: Json): v is JsonNumber {
  return v instanceof JsonNumber;
}

function fromBase64(s: string, what: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw bad(what, `${JSON.stringify(s)} is not base64`);
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * Parses a key typed as JSON into values of the schema's key columns (a
 * prefix of them is allowed: it bounds every key that starts with it).
 *
 * @param what names the input in messages (`--from-key`).
 * @throws TidemarkError `InvalidArgument` naming `what` and the column for
 *   text that is not JSON, too many values, or a value that does not fit
 *   its column's type.
 */
export function parseKey(text: string, schema: TableSchema, what = "key"): KeyValue[] {
  const json = parseJson(text, what);
  const items = Array.isArray(json) ? json : [json];
  const cols = keyColumns(schema);
  if (items.length === 0 || items.length > cols.length) {
    throw bad(
      what,
      `the key has ${cols.length} column(s) (${cols.map((c) => c.name).join(", ")}): give 1 to ${cols.length} value(s), got ${items.length}`,
    );
  }
  return items.map((v, i) => {
    const { name, type } = cols[i] as (typeof cols)[number];
    const where = `${what} column ${name}`;
    const wrong = (want: string) =>
      bad(where, `expected ${want}, got ${JSON.stringify(isNumber(v) ? Number(v.text) : v)}`);
    switch (type) {
      case "Boolean":
        if (typeof v !== "boolean") throw wrong("true or false");
        return v;
      case "Int32":
      case "Int64": {
        if (!isNumber(v) || !/^-?\d+$/.test(v.text)) throw wrong("an integer");
        const n = BigInt(v.text);
        const bits = type === "Int32" ? 31n : 63n;
        if (n < -(1n << bits) || n >= 1n << bits) throw bad(where, `${v.text} is out of range for ${type}`);
        return type === "Int32" ? Number(n) : n;
      }
      case "Float":
      case "Double": {
        if (!isNumber(v)) throw wrong("a number");
        const n = Number(v.text);
        return type === "Float" ? Math.fround(n) : n;
      }
      default: {
        if (typeof v === "string") return v;
        if (typeof v === "object" && v !== null && !Array.isArray(v) && !isNumber(v)) {
          const b = v.base64;
          if (typeof b === "string" && Object.keys(v).length === 1) return fromBase64(b, where);
        }
        throw wrong('text or {"base64": "..."}');
      }
    }
  });
}
