import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { batches, forEachLimit } from "../../src/store/batch.ts";
import { assertRejectsOption, BAD_VALUES, collect } from "../support/harness.ts";

describe("numeric options are validated", () => {
  const { count: BAD_COUNT } = BAD_VALUES;

  it("forEachLimit refuses a limit that would run nothing, and an Infinity or huge limit runs each item once", async () => {
    await assertRejectsOption(
      "limit",
      BAD_COUNT.filter((v) => v !== Number.POSITIVE_INFINITY),
      (v) => forEachLimit([1, 2, 3], v, async () => {}),
    );
    for (const limit of [Number.POSITIVE_INFINITY, 2 ** 32]) {
      const seen: number[] = [];
      let inFlight = 0;
      let most = 0;
      await forEachLimit([1, 2, 3], limit, async (n) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(n);
        inFlight--;
      });
      assert.deepEqual(seen.sort(), [1, 2, 3], String(limit));
      assert.equal(most, 3);
    }
    await assertRejectsOption("size", [...BAD_COUNT], (v) => collect(batches([1, 2, 3], v)));
  });
});
