/**
 * The `doctor` check of Object Lock (`doctor(store, { lock })`, `tidemark
 * doctor --lock <mode>`): an object written with a short retention in that
 * mode is kept and reported, cannot be deleted (every version) before the
 * retention ends, and can be once it has: what a mirror's `lock` relies on,
 * and what its retention waits for.
 *
 * @module
 */
import { sleep } from "../../store/retry.ts";
import type { ObjectStore } from "../../store/types.ts";
import type { CheckContext } from "../checks.ts";
import { type CheckDef, failed, messageOf, passed, refusal, step } from "./probe.ts";

/** How long the probe's retention lasts: the check waits this long (plus a second of the store's clock). */
export const LOCK_PROBE_MS = 3_000;

/** The store's clock, from the `lastModified` of an object just written (second granularity). */
async function storeNow(store: ObjectStore, now: number): Promise<number> {
  await step("write a probe to read the store's clock", () => store.put("clock", "x"));
  const m = await step("head the probe", () => store.head("clock"));
  return m.lastModified?.getTime() ?? now;
}

export const OBJECT_LOCK_CHECKS = {
  "object-lock": {
    title:
      "an object written with a retention (doctor --lock) cannot be deleted before it ends, and can be after",
    needs: ["write"],
    async run(c: CheckContext) {
      const { store } = c;
      const mode = c.lock?.mode;
      if (mode === undefined) {
        return {
          status: "unsupported",
          detail:
            "no lock setting given (doctor --lock <governance|compliance>): the check writes in that mode",
        };
      }
      // Later than both clocks by the probe's length: a store clock ahead of ours must still see a future date.
      const until = new Date(Math.max(c.now(), await storeNow(store, c.now())) + LOCK_PROBE_MS);
      const put = await refusal(store.put("locked", "locked", { lock: { mode, retainUntil: until } }));
      if (put) {
        throw failed(
          `a put with a ${mode} retention was refused: ${messageOf(put.error)} (an S3 bucket needs Object Lock enabled at creation)`,
          put.vendor,
        );
      }
      const meta = await step("head the locked object", () => store.head("locked"));
      if (meta.lock?.mode !== mode) {
        throw failed(
          `the put was accepted, but the object reports ${meta.lock ? `a ${meta.lock.mode} retention` : "no retention"}`,
        );
      }
      const early = await step("delete every version before the retention ends", () =>
        store.deleteMany(["locked"], { allVersions: true }),
      );
      const refused = early.errors[0];
      if (refused === undefined) {
        throw failed(
          `every version was deleted before the retention ended (${until.toISOString()}): the store does not enforce it`,
        );
      }
      // Past the date on the store's second-granularity clock.
      await (c.sleep ?? sleep)(Math.max(0, until.getTime() + 1_500 - c.now()));
      const late = await step("delete every version once the retention ended", () =>
        store.deleteMany(["locked"], { allVersions: true }),
      );
      if (late.errors.length > 0) {
        throw failed(
          `still refused after the retention ended: ${late.errors[0]?.code}: ${late.errors[0]?.message}`,
        );
      }
      return passed(
        `a ${mode} retention of ${LOCK_PROBE_MS / 1000} s was reported, refused deleting every version (${refused.code}), ` +
          "and let them go once it ended",
      );
    },
  },
} satisfies Record<"object-lock", CheckDef>;
