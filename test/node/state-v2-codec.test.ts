/**
 * The pieces the state-v2 reader is built from, against serde's rules: JSON
 * with exact u64s and serde_json's refusals, the canonical writer against
 * Python's json.dumps (what the fixture generator and serde_json both write),
 * UUIDs in the forms the uuid crate parses, and the key grammar.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { SchemaError, struct, u32, u64 } from "../../src/checkpoint/state-v2/fields.ts";
import { canonicalU64, formatUuid, parseUuid, U64_MAX } from "../../src/checkpoint/state-v2/ids.ts";
import {
  type JsonObject,
  JsonSyntaxError,
  parseJson,
  writeJson,
} from "../../src/checkpoint/state-v2/json.ts";
import { epochOfPrefix, parseStateKey } from "../../src/checkpoint/state-v2/keys.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("parseJson", () => {
  it("keeps integers exact past 2^53 and refuses what serde_json refuses", () => {
    const v = parseJson(enc('{"a":18446744073709551615,"b":9007199254740993,"c":1.5,"d":1e3}')) as JsonObject;
    expect(v.fields.get("a")).toBe(U64_MAX);
    expect(v.fields.get("b")).toBe(9007199254740993n);
    expect(v.fields.get("c")).toEqual({ float: "1.5" });
    expect(() => u64(v.fields.get("c"), "c")).toThrow(SchemaError);
    expect(() => u64(v.fields.get("d"), "d")).toThrow(/floating point/);
    expect(() => u64(parseJson(enc("18446744073709551616")), "x")).toThrow(/expected u64/);
    expect(() => u64(parseJson(enc("-1")), "x")).toThrow(/expected u64/);
    expect(() => u32(parseJson(enc("4294967296")), "x")).toThrow(/expected u32/);
    for (const bad of [
      '{"a":1,}',
      "[1 2]",
      '"\\ud800"',
      '"\\udc00x"',
      '"a\u0001"',
      "01",
      "{} x",
      '{"a"}',
      "nul",
    ]) {
      expect(() => parseJson(enc(bad)), bad).toThrow(JsonSyntaxError);
    }
    expect(() => parseJson(new Uint8Array([0x22, 0xff, 0x22]))).toThrow(/UTF-8/);
  });

  it("remembers duplicate keys; serde refuses a known field twice and ignores unknown ones", () => {
    const v = parseJson(enc('{"version":1,"version":2,"x":1,"x":2}'));
    expect(() => struct(v, "T", ["version"])).toThrow(/duplicate field `version`/);
    expect(() => struct(v, "T", ["other"])).not.toThrow();
    expect(() => struct(v, "T", ["other"], true)).toThrow(/unknown field `version`/);
  });

  it("reads escapes and surrogate pairs", () => {
    expect(parseJson(enc('"\\u00e9\\ud83d\\ude00\\n\\/"'))).toBe("é😀\n/");
  });
});

describe("writeJson", () => {
  it("writes the bytes Python's json.dumps(separators, ensure_ascii=False) writes, as serde_json does", () => {
    const samples = ['a"b\\c', "tab\there\nnl\r\u0001\u001f\u007f", "é/😀", "\b\f", ""];
    const doc = { version: 1n, s: samples, big: U64_MAX, nested: { k: "v" } };
    const py = spawnSync(
      "python3",
      [
        "-c",
        "import json,sys; d=json.loads(sys.stdin.read()); d['big']=2**64-1; sys.stdout.buffer.write(json.dumps(d,separators=(',',':'),ensure_ascii=False).encode())",
      ],
      { input: JSON.stringify({ version: 1, s: samples, big: 0, nested: { k: "v" } }) },
    );
    expect(py.status).toBe(0);
    expect(writeJson(doc)).toBe(new TextDecoder().decode(py.stdout));
  });
});

describe("ids", () => {
  it("parses UUIDs in every form the uuid crate accepts, and prints them lowercase hyphenated", () => {
    const canonical = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    for (const form of [
      canonical,
      canonical.toUpperCase(),
      canonical.replaceAll("-", ""),
      `{${canonical}}`,
      `urn:uuid:${canonical}`,
    ]) {
      const b = parseUuid(form);
      expect(b, form).toBeDefined();
      expect(formatUuid(b as Uint8Array)).toBe(canonical);
    }
    for (const bad of [
      "",
      "67e55044-10b1-426f-9247-bb680e5fe0c",
      "{67e5504410b1426f9247bb680e5fe0c8}",
      "g7e55044-10b1-426f-9247-bb680e5fe0c8",
    ]) {
      expect(parseUuid(bad), bad).toBeUndefined();
    }
  });

  it("reads u64 path segments only in Rust's canonical decimal", () => {
    expect(canonicalU64("18446744073709551615")).toBe(U64_MAX);
    for (const bad of ["18446744073709551616", "07", "+7", "-0", "", "1e3", " 7"])
      expect(canonicalU64(bad), bad).toBeUndefined();
  });
});

describe("parseStateKey", () => {
  it("classifies every key of the layout, and what LaminarDB never reads", () => {
    const a = { epoch: 7n, checkpointId: 7n };
    expect(parseStateKey("state-v2/_NAMESPACE")).toEqual({ kind: "namespace" });
    expect(parseStateKey("state-v2/_PRUNE_FLOOR")).toEqual({ kind: "floor" });
    expect(parseStateKey("state-v2/epoch=7/checkpoint=7/vnode=4294967295/partial.bin")).toEqual({
      kind: "partial",
      attempt: a,
      vnode: 4294967295,
    });
    expect(parseStateKey("state-v2/epoch=7/checkpoint=7/commit/participant-ready/v5/participant=3")).toEqual({
      kind: "descriptor",
      attempt: a,
      key: "participant-ready/v5/participant=3",
    });
    expect(parseStateKey("state-v2/epoch=7/checkpoint=7/_SEAL")).toEqual({ kind: "seal", attempt: a });
    expect(parseStateKey("state-v2/epoch=7/checkpoint=7/srcoff/node-1")).toEqual({
      kind: "other",
      attempt: a,
    });
    expect(parseStateKey("state-v2/epoch=7/checkpoint=7/vnode=4294967296/partial.bin").kind).toBe("other");
    expect(parseStateKey("state-v2/epoch=7/checkpoint=8/_SEAL")).toEqual({
      kind: "noncanonical",
      prefix: "state-v2/epoch=7/checkpoint=8/",
    });
    expect(parseStateKey("state-v2/epoch=0/checkpoint=0/_SEAL").kind).toBe("noncanonical");
    expect(parseStateKey("state-v2/epoch=07/checkpoint=07/_SEAL").kind).toBe("stray");
    expect(parseStateKey("state-v2/other").kind).toBe("stray");
    expect(epochOfPrefix("state-v2/epoch=18446744073709551615/")).toBe(U64_MAX);
    expect(epochOfPrefix("state-v2/epoch=0/")).toBeUndefined();
    expect(epochOfPrefix("state-v2/epoch=01/")).toBeUndefined();
  });
});
