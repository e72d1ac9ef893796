import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { compareKeys } from "../../src/store/keys.ts";

describe("keys", () => {
  it("compareKeys is UTF-8 byte order, not UTF-16 order", () => {
    // U+FFEF is EF BF AF in UTF-8; U+1F600 is F0 9F 98 80: the emoji sorts last in
    // UTF-8 although its UTF-16 surrogate (D83D) is below FFEF.
    assert.ok(compareKeys("\uffef", "😀") < 0);
    assert.ok(compareKeys("a", "b") < 0);
    assert.ok(compareKeys("ab", "a") > 0);
    assert.equal(compareKeys("x", "x"), 0);
  });
});
