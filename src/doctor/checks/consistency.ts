/**
 * The `doctor` checks of consistency and listing: a read or a listing right
 * after a write sees it, listings come in UTF-8 byte order, page through
 * every key once, honour `startAfter` and a delimiter, and deleting a
 * missing key is not an error. HEAD discovery reads what a commit just
 * wrote, and a first commit and expire list `metadata/`, so these are
 * properties they rely on.
 *
 * @module
 */
import { forEachLimit } from "../../store/batch.ts";
import { compareKeys } from "../../store/keys.ts";
import type { DoctorCheckId } from "../checks.ts";
import { type CheckDef, failed, listAll, messageOf, refusal, step, text } from "./probe.ts";

/** Keys whose UTF-8 byte order differs from JavaScript's UTF-16 order, plus punctuation that trips URL encoding. */
const ORDER_KEYS = ["z", "a", "B", "é", "\uffef", "😀", "a b", "a+b", "a%2Fb", "a=b"];

const show = (keys: string[]) => keys.map((k) => JSON.stringify(k)).join(", ");

function sameKeys(got: string[], want: string[]): boolean {
  return got.length === want.length && got.every((k, i) => k === want[i]);
}

/** The first place two key lists differ, for messages. */
function firstDifference(got: string[], want: string[]): string {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] !== want[i]) {
      return `at position ${i}: expected ${want[i] === undefined ? "the end" : JSON.stringify(want[i])}, got ${got[i] === undefined ? "the end" : JSON.stringify(got[i])}`;
    }
  }
  return "none";
}

/** Read-after-write, listings, and deletes of missing keys. */
export const CONSISTENCY_CHECKS = {
  "read-after-write": {
    title: "a get right after a put, an overwrite or a delete sees it",
    needs: ["write"],
    async run({ store }) {
      await step("put", () => store.put("raw", "one"));
      const a = await step("get after put", () => text(store, "raw"));
      if (a !== "one") throw failed(`get after put returned ${JSON.stringify(a)}, expected "one"`);
      await step("overwrite", () => store.put("raw", "two!"));
      const b = await step("get after overwrite", () => text(store, "raw"));
      if (b !== "two!") throw failed(`get after overwrite returned ${JSON.stringify(b)} (a stale read)`);
      const size = (await step("head after overwrite", () => store.head("raw"))).size;
      if (size !== 4) throw failed(`head after overwrite says ${size} bytes, expected 4`);
      await step("delete", () => store.delete("raw"));
      const gone = await refusal(store.get("raw"));
      if (!gone) throw failed("get after delete still returned the object (a stale read)");
      if (gone.code !== "NotFound") throw failed(`get after delete: ${messageOf(gone.error)}`, gone.vendor);
      return { status: "ok", detail: "put, overwrite and delete were visible to the next read" };
    },
  },

  "list-after-write": {
    title: "a listing right after puts and a delete shows them",
    needs: ["write", "list"],
    async run({ store }) {
      for (const k of ["l/1", "l/2", "l/3"]) await step(`put ${k}`, () => store.put(k, k));
      const listed = await step("list after puts", () => listAll(store, "l/"));
      const keys = listed.map((m) => m.key);
      if (!sameKeys(keys, ["l/1", "l/2", "l/3"])) {
        throw failed(`list after three puts returned [${show(keys)}]`);
      }
      const sizes = listed.map((m) => m.size);
      if (sizes.some((s) => s !== 3)) throw failed(`listed sizes ${sizes.join(", ")}, expected 3 each`);
      await step("delete l/2", () => store.delete("l/2"));
      const after = (await step("list after delete", () => listAll(store, "l/"))).map((m) => m.key);
      if (!sameKeys(after, ["l/1", "l/3"])) throw failed(`list after a delete returned [${show(after)}]`);
      return { status: "ok", detail: "3 puts and a delete were visible to the next listing" };
    },
  },

  "list-order": {
    title: "listings are in UTF-8 byte order (not UTF-16), awkward keys intact",
    needs: ["write", "list"],
    async run({ store }) {
      for (const k of ORDER_KEYS) await step(`put ${JSON.stringify(k)}`, () => store.put(`o/${k}`, "x"));
      const keys = (await step("list", () => listAll(store, "o/"))).map((m) => m.key.slice(2));
      const want = [...ORDER_KEYS].sort(compareKeys);
      if (!sameKeys(keys, want)) throw failed(`listing order differs ${firstDifference(keys, want)}`);
      return {
        status: "ok",
        detail: `${want.length} keys (unicode, emoji, space, +, %, =) listed in byte order`,
      };
    },
  },

  "list-pagination": {
    title: "a listing longer than one page returns every key once, in order",
    needs: ["write", "list"],
    async run({ store, listPageKeys, caps }) {
      const keys = Array.from({ length: listPageKeys }, (_, i) => `p/${String(i).padStart(6, "0")}`);
      await step(`put ${listPageKeys} keys`, () =>
        forEachLimit(keys, 16, async (k) => void (await store.put(k, ""))),
      );
      const got = (await step("list", () => listAll(store, "p/"))).map((m) => m.key);
      if (!sameKeys(got, keys)) {
        throw failed(
          `${listPageKeys} keys written, ${got.length} listed; first difference ${firstDifference(got, keys)}`,
        );
      }
      return {
        status: "ok",
        detail: `${listPageKeys} keys (page size ${caps.listPageSize}) listed once each, in order`,
      };
    },
  },

  "list-start-after": {
    title: "startAfter lists strictly after the given key, present or not",
    needs: ["write", "list"],
    async run({ store }) {
      for (const k of ["s/a", "s/b", "s/c", "s/d"]) await step(`put ${k}`, () => store.put(k, "x"));
      const after = (await step("list after s/b", () => listAll(store, "s/", { startAfter: "s/b" }))).map(
        (m) => m.key,
      );
      if (!sameKeys(after, ["s/c", "s/d"])) throw failed(`startAfter "s/b" returned [${show(after)}]`);
      const absent = (await step("list after s/bb", () => listAll(store, "s/", { startAfter: "s/bb" }))).map(
        (m) => m.key,
      );
      if (!sameKeys(absent, ["s/c", "s/d"]))
        throw failed(`startAfter "s/bb" (absent) returned [${show(absent)}]`);
      return { status: "ok", detail: "after a present and an absent key: only the keys strictly after" };
    },
  },

  "list-delimiter": {
    title: "a delimiter rolls keys up into common prefixes",
    needs: ["write", "list"],
    async run({ store }) {
      for (const k of ["d/a", "d/b/1", "d/b/2", "d/c/x/y"]) await step(`put ${k}`, () => store.put(k, "x"));
      const rolled = await step("list with delimiter /", () => listAll(store, "d/", { delimiter: "/" }));
      const got = rolled.map((m) => `${m.key}${m.isPrefix ? " (prefix)" : ""}`);
      const want = ["d/a", "d/b/ (prefix)", "d/c/ (prefix)"];
      if (!sameKeys(got, want))
        throw failed(`delimiter "/" returned [${show(got)}], expected [${show(want)}]`);
      return { status: "ok", detail: "2 common prefixes and 1 key" };
    },
  },

  "delete-missing": {
    title: "deleting a missing key (alone or in a batch) is not an error",
    needs: ["write"],
    async run({ store }) {
      await step("delete a missing key", () => store.delete("never-written"));
      const r = await step("deleteMany of missing keys", () => store.deleteMany(["never-1", "never-2"]));
      if (r.errors.length > 0 || r.deleted !== 2) {
        throw failed(
          `deleteMany of 2 missing keys: deleted ${r.deleted}, errors ${r.errors.map((e) => `${e.key}: ${e.code}`).join("; ")}`,
        );
      }
      return { status: "ok", detail: "delete and deleteMany of missing keys succeeded" };
    },
  },
} satisfies Partial<Record<DoctorCheckId, CheckDef>>;
