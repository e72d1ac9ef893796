/**
 * The checks of `doctor`: each probes one property tidemark relies on, on a
 * live store, under a scratch prefix of its own, and says ok, failed or
 * unsupported, and why (with the vendor's answer when the store gave one).
 *
 * @module
 */
import { type ErrorCode, errorCodeOf } from "../errors.ts";
import { forEachLimit } from "../store/batch.ts";
import { readAll } from "../store/body.ts";
import { compareKeys } from "../store/keys.ts";
import type { ObjectMeta, ObjectStore, StoreCapabilities } from "../store/types.ts";

/** Every check `doctor` knows, in the order it runs them. */
export const DOCTOR_CHECKS = [
  "create-only",
  "concurrent-create",
  "stale-if-match",
  "if-match-missing",
  "read-after-write",
  "list-after-write",
  "list-order",
  "list-pagination",
  "list-start-after",
  "list-delimiter",
  "delete-missing",
  "ranged-read",
  "streamed-upload",
  "metadata",
  "clock-skew",
  "auth-failure",
] as const;

/** One of {@link DOCTOR_CHECKS}. */
export type DoctorCheckId = (typeof DOCTOR_CHECKS)[number];

/** What a check found: `unsupported` when the store cannot be asked (read-only, no listing, no credentials). */
export type DoctorStatus = "ok" | "failed" | "unsupported";

/** The result of one check. */
export interface DoctorCheckResult {
  id: DoctorCheckId;
  /** What the check proves, in words. */
  title: string;
  status: DoctorStatus;
  /** Why: what the store answered (and what was expected, when it failed). */
  detail: string;
  /**
   * The vendor's answer behind the decisive refusal or failure, as the
   * adapter reported it (`HTTP 412 PreconditionFailed`), when it gave one.
   */
  vendor?: string;
  /** The tidemark code of an unexpected error that failed the check (a `Transient` one is worth a re-run). */
  errorCode?: ErrorCode;
  /** Milliseconds the check took. */
  ms: number;
}

/** What a check runs with. */
export interface CheckContext {
  /** The store under this check's own scratch prefix. */
  store: ObjectStore;
  caps: StoreCapabilities;
  /** Concurrent creators of `concurrent-create`. */
  concurrency: number;
  /** Keys written by `list-pagination`. */
  listPageKeys: number;
  /** Skew above which `clock-skew` fails, ms. */
  maxClockSkewMs: number;
  /** The same store with a wrong secret, under the same scratch prefix (for `auth-failure`). */
  badCredentials: ObjectStore | undefined;
  now(): number;
}

/** What a check returns (`ms` and `title` are added by the runner). */
export type Outcome = Omit<DoctorCheckResult, "id" | "title" | "ms">;

interface CheckDef {
  title: string;
  /** Capabilities without which the check cannot be asked (then `unsupported`). */
  needs: ReadonlyArray<keyof Pick<StoreCapabilities, "write" | "list" | "compareAndSwap">>;
  run(c: CheckContext): Promise<Outcome>;
}

/**
 * A failed step of a check: thrown inside a check, turned into a `failed`
 * outcome by {@link runCheck}.
 */
class CheckFailed {
  readonly outcome: Outcome;
  constructor(outcome: Outcome) {
    this.outcome = outcome;
  }
}

/**
 * The vendor's answer an adapter error names: S3Store and HttpStore messages
 * carry `HTTP <status>` and, for S3, the error code (`HTTP 412
 * PreconditionFailed`), or `network error`.
 */
export function vendorAnswerOf(e: unknown): string | undefined {
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : "";
  const http = /\bHTTP (\d{3})(?: ([A-Z][A-Za-z0-9]*))?/.exec(message);
  if (http) return http[2] ? `HTTP ${http[1]} ${http[2]}` : `HTTP ${http[1]}`;
  if (/\bnetwork error\b/.test(message)) return "network error";
  return undefined;
}

/** "AlreadyExists (HTTP 412 PreconditionFailed)" or just the code. */
function describeRefusal(code: string, vendor: string | undefined): string {
  return vendor ? `${code} (${vendor})` : code;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The failed outcome for an unexpected error during `step`. */
function unexpected(step: string, e: unknown): CheckFailed {
  const outcome: Outcome = { status: "failed", detail: `${step}: ${messageOf(e)}` };
  const vendor = vendorAnswerOf(e);
  if (vendor) outcome.vendor = vendor;
  const code = errorCodeOf(e);
  outcome.errorCode = code ?? "Unknown";
  return new CheckFailed(outcome);
}

/** Runs one step; an error fails the check naming the step. */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    throw unexpected(name, e);
  }
}

function failed(detail: string, vendor?: string): CheckFailed {
  return new CheckFailed(vendor ? { status: "failed", detail, vendor } : { status: "failed", detail });
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function text(s: ObjectStore, key: string): Promise<string> {
  return (await s.get(key)).text();
}

async function listAll(s: ObjectStore, prefix: string, opts?: { startAfter?: string; delimiter?: string }) {
  const out: ObjectMeta[] = [];
  for await (const m of s.list(prefix, opts)) out.push(m);
  return out;
}

/** How `p` was refused: `{ code, vendor }`, or `undefined` when it succeeded. */
async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; vendor?: string; error: unknown } | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    const r: { code: string; vendor?: string; error: unknown } = {
      code: errorCodeOf(e) ?? "Unknown",
      error: e,
    };
    const vendor = vendorAnswerOf(e);
    if (vendor) r.vendor = vendor;
    return r;
  }
}

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

const CHECKS: Record<DoctorCheckId, CheckDef> = {
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
      const out: Outcome = {
        status: "ok",
        detail: `second create refused: ${describeRefusal(r.code, r.vendor)}; body unchanged`,
      };
      if (r.vendor) out.vendor = r.vendor;
      return out;
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
      const out: Outcome = {
        status: "ok",
        detail: `${concurrency} concurrent creators: 1 won, refused: ${refusals}${vendor ? ` (${vendor})` : ""}`,
      };
      if (vendor) out.vendor = vendor;
      return out;
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
      const out: Outcome = {
        status: "ok",
        detail: `current etag accepted; stale etag refused: ${describeRefusal(r.code, r.vendor)}; body unchanged`,
      };
      if (r.vendor) out.vendor = r.vendor;
      return out;
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
      const out: Outcome = {
        status: "ok",
        detail: `refused: ${describeRefusal(r.code, r.vendor)}; nothing created`,
      };
      if (r.vendor) out.vendor = r.vendor;
      return out;
    },
  },

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
      const out: Outcome = { status: "ok", detail: `refused: ${describeRefusal(r.code, r.vendor)}` };
      if (r.vendor) out.vendor = r.vendor;
      return out;
    },
  },
};

/** The title of a check. */
export function checkTitle(id: DoctorCheckId): string {
  return CHECKS[id].title;
}

/** Runs one check; never throws (every error is a `failed` result). */
export async function runCheck(id: DoctorCheckId, c: CheckContext): Promise<DoctorCheckResult> {
  const def = CHECKS[id];
  const t0 = c.now();
  let outcome: Outcome;
  const missing = def.needs.filter((cap) => !c.caps[cap]);
  if (missing.length > 0) {
    outcome = {
      status: "unsupported",
      detail: `the store declares no ${missing.join(" and ")} capability`,
    };
  } else {
    try {
      outcome = await def.run(c);
    } catch (e) {
      outcome = e instanceof CheckFailed ? e.outcome : unexpected("check", e).outcome;
    }
  }
  return { id, title: def.title, ...outcome, ms: Math.max(0, c.now() - t0) };
}
