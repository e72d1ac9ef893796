/**
 * The `doctor` checks of the request's envelope rather than the data: the
 * store's clock agrees with this machine's (SigV4 requests fail beyond 15
 * minutes of skew), and a request signed with a wrong secret is refused as
 * `PermissionDenied` (a store that does not check signatures protects
 * nothing).
 *
 * @module
 */
import type { DoctorCheckId } from "../checks.ts";
import { type CheckDef, describeRefusal, failed, messageOf, passed, refusal, step } from "./probe.ts";

/** Clock skew and a wrong secret. */
export const CLOCK_AUTH_CHECKS = {
  "clock-skew": {
    title: "the store's clock agrees with this machine's (SigV4 fails beyond 15 minutes)",
    needs: ["write"],
    async run({ store, now, maxClockSkewMs }) {
      const t0 = now();
      await step("put", () => store.put("clock", "t"));
      const meta = await step("head", () => store.head("clock"));
      const t1 = now();
      if (!meta.lastModified) {
        return { status: "unsupported", detail: "the store reports no last-modified time" };
      }
      // Last-Modified has one-second resolution (HTTP dates): the write
      // happened in [lm, lm + 1 s) on the store's clock and in [t0, t1] here.
      const lm = meta.lastModified.getTime();
      const skew = lm > t1 ? lm - t1 : lm + 1000 < t0 ? lm + 1000 - t0 : 0;
      const said =
        skew === 0
          ? `within the 1 s resolution of Last-Modified (round trip ${t1 - t0} ms)`
          : `the store's clock is at least ${(Math.abs(skew) / 1000).toFixed(1)} s ${skew > 0 ? "ahead" : "behind"}`;
      if (Math.abs(skew) > maxClockSkewMs) {
        throw failed(
          `${said}; more than ${maxClockSkewMs / 1000} s (SigV4 requests fail beyond 15 min of skew)`,
        );
      }
      return { status: "ok", detail: said };
    },
  },

  "auth-failure": {
    title: "a request with a wrong secret is refused as PermissionDenied",
    needs: [],
    async run({ badCredentials }) {
      if (!badCredentials) {
        return {
          status: "unsupported",
          detail: "no credentials to falsify (an in-process store, a local directory or a binding)",
        };
      }
      const r = await refusal(badCredentials.put("auth", "x"));
      if (!r) {
        throw failed("a put signed with a wrong secret was accepted: the store does not check signatures");
      }
      if (r.code !== "PermissionDenied") {
        throw failed(`a wrong secret: expected PermissionDenied, got ${messageOf(r.error)}`, r.vendor);
      }
      return passed(`refused: ${describeRefusal(r.code, r.vendor)}`, r.vendor);
    },
  },
} satisfies Partial<Record<DoctorCheckId, CheckDef>>;
