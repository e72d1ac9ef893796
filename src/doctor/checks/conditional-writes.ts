/**
 * The `doctor` checks of conditional writes: a create-only put is refused
 * once the key exists (alone, and among concurrent creators exactly one
 * wins), and a put conditioned on an etag is refused when the etag is stale
 * or the key missing. A commit, a checkpoint seal and a mirror's copy rest
 * on create-only puts, low_water's advance on compare-and-swap; a store
 * that ignores `If-None-Match` or `If-Match` fails here.
 *
 * @module
 */
import { errorCodeOf } from "../../errors.ts";
import type { DoctorCheckId } from "../checks.ts";
import {
  type CheckDef,
  describeRefusal,
  failed,
  messageOf,
  passed,
  refusal,
  step,
  text,
  vendorAnswerOf,
} from "./probe.ts";

/** Create-only and compare-and-swap puts. */
export const CONDITIONAL_WRITE_CHECKS = {
  "create-only": {
    title: "a second create-only put is refused and the body is unchanged",
    needs: ["write"],
    async run({ store }) {
      await step("first create", () => store.put("k", "first", { mode: "create" }));
      const r = await refusal(store.put("k", "second", { mode: "create" }));
      if (!r) {
        const now = await step("read back", () => text(store, "k"));
        throw failed(
          `a second create-only put was accepted (the store ignores If-None-Match: *); the body is now ${JSON.stringify(now)}`,
        );
      }
      if (r.code !== "AlreadyExists") {
        throw failed(`second create: expected AlreadyExists, got ${messageOf(r.error)}`, r.vendor);
      }
      const body = await step("read back", () => text(store, "k"));
      if (body !== "first")
        throw failed(`second create refused, but the body changed to ${JSON.stringify(body)}`, r.vendor);
      return passed(`second create refused: ${describeRefusal(r.code, r.vendor)}; body unchanged`, r.vendor);
    },
  },

  "concurrent-create": {
    title: "concurrent create-only puts of one key: exactly one wins",
    needs: ["write"],
    async run({ store, concurrency }) {
      const results = await Promise.allSettled(
        Array.from({ length: concurrency }, (_, i) => store.put("race", `writer-${i}`, { mode: "create" })),
      );
      const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      const losers = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
      const codes = new Map<string, number>();
      let vendor: string | undefined;
      for (const e of losers) {
        const code = errorCodeOf(e) ?? "Unknown";
        codes.set(code, (codes.get(code) ?? 0) + 1);
        vendor ??= vendorAnswerOf(e);
      }
      const refusals = [...codes].map(([c, n]) => `${n} ${c}`).join(", ");
      if (winners.length !== 1) {
        throw failed(
          `${concurrency} concurrent creators: ${winners.length} won${refusals ? `, refused: ${refusals}` : ""} (exactly one must win)`,
          vendor,
        );
      }
      const odd = losers.find((e) => {
        const c = errorCodeOf(e);
        return c !== "AlreadyExists" && c !== "Transient";
      });
      if (odd)
        throw failed(`a losing creator got ${messageOf(odd)} (expected AlreadyExists)`, vendorAnswerOf(odd));
      const body = await step("read back", () => text(store, "race"));
      if (body !== `writer-${winners[0]}`) {
        throw failed(`writer-${winners[0]} won, but the body is ${JSON.stringify(body)}`);
      }
      return passed(
        `${concurrency} concurrent creators: 1 won, refused: ${refusals}${vendor ? ` (${vendor})` : ""}`,
        vendor,
      );
    },
  },

  "stale-if-match": {
    title: "a put with the current etag replaces; a stale etag is refused",
    needs: ["write", "compareAndSwap"],
    async run({ store }) {
      const v1 = await step("put v1", () => store.put("cas", "v1"));
      const v2 = await step("put with the current etag (If-Match)", () =>
        store.put("cas", "v2", { mode: { ifMatch: v1.etag } }),
      );
      if (v2.etag === v1.etag) throw failed("the etag did not change on overwrite");
      const r = await refusal(store.put("cas", "v3", { mode: { ifMatch: v1.etag } }));
      if (!r) {
        throw failed("a put with a stale etag was accepted (the store ignores If-Match)");
      }
      if (r.code !== "PreconditionFailed") {
        throw failed(`stale If-Match: expected PreconditionFailed, got ${messageOf(r.error)}`, r.vendor);
      }
      const body = await step("read back", () => text(store, "cas"));
      if (body !== "v2")
        throw failed(`stale If-Match refused, but the body is ${JSON.stringify(body)}`, r.vendor);
      return passed(
        `current etag accepted; stale etag refused: ${describeRefusal(r.code, r.vendor)}; body unchanged`,
        r.vendor,
      );
    },
  },

  "if-match-missing": {
    title: "a put with If-Match on a missing key is refused and creates nothing",
    needs: ["write", "compareAndSwap"],
    async run({ store }) {
      const r = await refusal(
        store.put("missing", "x", { mode: { ifMatch: "0123456789abcdef0123456789abcdef" } }),
      );
      if (!r) throw failed("a put with If-Match on a missing key was accepted (the store ignores If-Match)");
      if (r.code !== "PreconditionFailed") {
        throw failed(
          `If-Match on a missing key: expected PreconditionFailed, got ${messageOf(r.error)}`,
          r.vendor,
        );
      }
      const after = await refusal(store.head("missing"));
      if (after?.code !== "NotFound") {
        throw failed(
          after
            ? `head after the refused put: ${messageOf(after.error)}`
            : "the refused put created the object",
          r.vendor,
        );
      }
      return passed(`refused: ${describeRefusal(r.code, r.vendor)}; nothing created`, r.vendor);
    },
  },
} satisfies Partial<Record<DoctorCheckId, CheckDef>>;
