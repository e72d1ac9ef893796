/**
 * The `doctor` checks of checksums: whether a SHA-256 given with a put
 * (before the body, or after a streamed one: a trailing checksum) is
 * recorded with the object, and whether a wrong one is refused. A store
 * that records none is not unsafe for tidemark (a mirror's per-version
 * checksum records cover its files); these rows say where a checksum also
 * travels with each object, for other tools to read.
 *
 * @module
 */
import { readAll } from "../../store/body.ts";
import { sha256Of, toHex } from "../../store/checksum.ts";
import type { ObjectStore } from "../../store/types.ts";
import type { DoctorCheckId } from "../checks.ts";
import { type CheckDef, describeRefusal, failed, passed, refusal, step } from "./probe.ts";

const enc = new TextEncoder();

/** A stream of `bytes` in two chunks. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const half = bytes.length >> 1;
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.subarray(0, half));
      c.enqueue(bytes.subarray(half));
      c.close();
    },
  });
}

/** What the store recorded for `key` (from the put's answer, else a read asking for it), and its bytes. */
async function recorded(
  store: ObjectStore,
  key: string,
  fromPut: string | undefined,
): Promise<{ sha256: string | undefined; bytes: Uint8Array }> {
  const got = await step(`get ${key}`, () => store.get(key, { checksum: true }));
  const bytes = await step(`read ${key}`, () => readAll(got.body));
  return { sha256: fromPut ?? got.sha256, bytes };
}

/** SHA-256 checksums recorded with objects, and checked. */
export const CHECKSUM_CHECKS = {
  "sha256-recorded": {
    title:
      "a SHA-256 given with a put (before the body, or after a streamed one) is recorded with the object",
    needs: ["write"],
    async run({ store }) {
      const body = enc.encode("checksum probe: ".repeat(4096));
      const digest = await sha256Of(body);
      const want = toHex(digest);
      const lead = await step("put with the digest before the body", () =>
        store.put("lead", body, { sha256: digest }),
      );
      const trail = await step("streamed put with the digest after it", () =>
        store.put("trail", streamOf(body), { size: body.length, sha256: () => digest }),
      );
      const ways: string[] = [];
      for (const [key, put, way] of [
        ["lead", lead.sha256, "before the body"],
        ["trail", trail.sha256, "after a streamed body"],
      ] as const) {
        const r = await recorded(store, key, put);
        if (r.bytes.length !== body.length || r.bytes.some((b, i) => b !== body[i])) {
          throw failed(`the body put with a SHA-256 ${way} reads back as ${r.bytes.length} other bytes`);
        }
        if (r.sha256 === undefined) continue;
        if (r.sha256 !== want)
          throw failed(`recorded SHA-256 ${r.sha256} for a body whose SHA-256 is ${want}`);
        ways.push(way);
      }
      if (ways.length === 0) {
        return {
          status: "unsupported",
          detail:
            "no SHA-256 was recorded with the object (a mirror's per-version checksum records cover its files)",
        };
      }
      return passed(
        ways.length === 2
          ? "recorded, given before the body and given after a streamed one"
          : `recorded when given ${ways[0]} only`,
      );
    },
  },

  "sha256-checked": {
    title: "a put whose SHA-256 is not its body's is refused and stores nothing",
    needs: ["write"],
    async run({ store }) {
      const body = enc.encode("checksum probe: the wrong digest");
      const wrong = await sha256Of(enc.encode("other bytes"));
      const r = await refusal(store.put("wrong", body, { sha256: wrong }));
      if (r !== undefined) {
        if (r.code !== "Corrupt")
          throw failed(`refused as ${describeRefusal(r.code, r.vendor)}, expected Corrupt`);
        const left = await refusal(store.head("wrong"));
        if (left?.code !== "NotFound") throw failed("refused, but an object was stored anyway");
        return passed(`refused as ${describeRefusal(r.code, r.vendor)}, nothing stored`, r.vendor);
      }
      const got = await recorded(store, "wrong", undefined);
      if (got.sha256 === toHex(wrong)) {
        throw failed("accepted, and the wrong SHA-256 recorded with the object: the store does not check it");
      }
      return {
        status: "unsupported",
        detail:
          got.sha256 === undefined
            ? "accepted with no SHA-256 recorded: the store ignores the checksum"
            : "accepted, the body's own SHA-256 recorded (the one given ignored)",
      };
    },
  },
} satisfies Partial<Record<DoctorCheckId, CheckDef>>;
