import assert from "node:assert/strict";
import { describe, it } from "vitest";
import {
  errorCodeOf,
  httpStatusOf,
  isTidemarkError,
  TidemarkError,
  toTidemarkError,
} from "../../src/errors.ts";

describe("TidemarkError", () => {
  it("prefixes the message with [Code] and is recognised by name", () => {
    const e = new TidemarkError("NotFound", 'no object at "k"', { key: "k" });
    assert.equal(e.message, '[NotFound] no object at "k"');
    assert.equal(e.name, "TidemarkError");
    assert.equal(e.code, "NotFound");
    assert.ok(isTidemarkError(e));
    assert.ok(isTidemarkError(e, "NotFound"));
    assert.ok(!isTidemarkError(e, "Transient"));
  });

  it("recognises an error that crossed RPC with only its message", () => {
    const plain = new Error("[SplitBrain] marker written by b");
    assert.equal(errorCodeOf(plain), "SplitBrain");
    assert.ok(isTidemarkError(plain, "SplitBrain"));
    const revived = toTidemarkError(plain);
    assert.equal(revived.code, "SplitBrain");
    assert.equal(revived.message, "[SplitBrain] marker written by b");
    assert.equal(toTidemarkError(new Error("boom")).code, "Unknown");
    assert.ok(!isTidemarkError(new Error("[Bogus] x")));
    assert.ok(!isTidemarkError("NotFound"));
  });

  it("maps codes to HTTP statuses (404, 409, 412, 400, 401, 403, 501, 503, else 500)", () => {
    assert.deepEqual(
      (
        [
          "NotFound",
          "AlreadyExists",
          "SplitBrain",
          "PreconditionFailed",
          "InvalidArgument",
          "Unauthenticated",
          "PermissionDenied",
          "NotSupported",
          "Transient",
          "Corrupt",
          "Unknown",
        ] as const
      ).map(httpStatusOf),
      [404, 409, 409, 412, 400, 401, 403, 501, 503, 500, 500],
    );
  });
});
