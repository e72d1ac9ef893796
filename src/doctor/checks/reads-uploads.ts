/**
 * The `doctor` checks of reads and uploads: ranged gets return exactly the
 * bytes asked for (the HTTP object routes answer Range requests with them),
 * a streamed put of known size stores every byte, and user metadata
 * round-trips (a commit's token and the writer token travel in it).
 *
 * @module
 */
import { readAll } from "../../store/body.ts";
import type { DoctorCheckId } from "../checks.ts";
import { type CheckDef, failed, step } from "./probe.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Ranged reads, streamed uploads, user metadata. */
export const READ_UPLOAD_CHECKS = {
  "ranged-read": {
    title: "ranged gets return exactly the bytes asked for",
    needs: ["write"],
    async run({ store }) {
      await step("put", () => store.put("r", "0123456789"));
      const cases: [number, number | undefined, string][] = [
        [2, 3, "234"],
        [7, undefined, "789"],
        [8, 100, "89"],
      ];
      for (const [offset, length, want] of cases) {
        const range = length === undefined ? { offset } : { offset, length };
        const got = await step(`get range ${JSON.stringify(range)}`, async () =>
          dec.decode(await (await store.get("r", { range })).bytes()),
        );
        if (got !== want)
          throw failed(
            `range ${JSON.stringify(range)} returned ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
          );
      }
      return { status: "ok", detail: "offset+length, offset to the end, and a range past the end" };
    },
  },

  "streamed-upload": {
    title: "a streamed put of known size stores every byte",
    needs: ["write"],
    async run({ store }) {
      const chunk = 64 * 1024;
      const chunks = 5;
      const size = chunk * chunks + 7;
      const part = (i: number) => {
        const b = new Uint8Array(i < chunks ? chunk : 7);
        for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j) & 0xff;
        return b;
      };
      let i = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (i > chunks) c.close();
          else c.enqueue(part(i++));
        },
      });
      await step("streamed put", () => store.put("stream.bin", stream, { size }));
      const meta = await step("head", () => store.head("stream.bin"));
      if (meta.size !== size) throw failed(`stored ${meta.size} bytes of a ${size}-byte stream`);
      const got = await step("get", async () => readAll((await store.get("stream.bin")).body));
      for (let n = 0, at = 0; n <= chunks; n++) {
        const want = part(n);
        for (let j = 0; j < want.length; j++, at++) {
          if (got[at] !== want[j]) throw failed(`the stored bytes differ from the stream's at offset ${at}`);
        }
      }
      return {
        status: "ok",
        detail: `${size} bytes in ${chunks + 1} chunks stored and read back identically`,
      };
    },
  },

  metadata: {
    title: "user metadata round-trips through put and head",
    needs: ["write"],
    async run({ store }) {
      const metadata = { "doctor-probe": "value-1", owner: "tidemark" };
      await step("put with metadata", () =>
        store.put("meta", enc.encode("m"), { metadata, contentType: "application/x-tidemark-doctor" }),
      );
      const got = (await step("head", () => store.head("meta"))).metadata ?? {};
      for (const [k, v] of Object.entries(metadata)) {
        if (got[k] !== v)
          throw failed(
            `metadata ${k}: expected ${JSON.stringify(v)}, head returned ${JSON.stringify(got[k])}`,
          );
      }
      return { status: "ok", detail: "2 metadata entries returned by head" };
    },
  },
} satisfies Partial<Record<DoctorCheckId, CheckDef>>;
