/**
 * The object-store contract: one suite every adapter runs (memory, prefixed,
 * FileStore, S3 on Ceph RGW and on moto, R2 inside workerd; in Node, Deno and
 * workerd), and that users run against their own stores. Modelled on
 * object_store's conformance functions (`put_get_delete_list`, `put_opts`
 * ending in 5 tasks x 10 CAS increments = 50, `list_paginated`, unicode keys).
 * Every test works under its own random prefix.
 *
 * @module
 */
import { sha256Of, toHex } from "../store/checksum.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import { assert } from "./assert.ts";
import { codeOf, collect, type Harness, uniquePrefix } from "./harness.ts";

/** Options of {@link objectStoreContract}. */
export interface ContractOptions {
  /** Tests to skip, each with the reason (printed). */
  skip?: Record<string, string>;
  /** The longest key the store takes (default 1024; less under a prefix). */
  maxKeyBytes?: number;
  /** Timeout of the slower tests (2,500 keys), in ms. */
  slowTimeoutMs?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Registers the store contract's tests with `h` (see {@link Harness} for
 * vitest, node:test and Deno.test). `makeStore` is called once per test and
 * may return the same store every time: each test works under its own random
 * key prefix and leaves other keys alone. A store passes when every test
 * passes; `opts.skip` names tests that cannot apply, each with its reason (the
 * test is then registered as passing, its title carrying the reason).
 */
export function objectStoreContract(
  h: Harness,
  makeStore: () => ObjectStore | Promise<ObjectStore>,
  opts: ContractOptions = {},
): void {
  const slow = { timeoutMs: opts.slowTimeoutMs ?? 120_000 };
  const test = (
    name: string,
    fn: (s: ObjectStore, p: string) => Promise<void>,
    o?: { timeoutMs?: number },
  ) => {
    const reason = opts.skip?.[name];
    if (reason !== undefined) {
      h.test(`${name} (skipped: ${reason})`, async () => {});
      return;
    }
    h.test(name, async () => fn(await makeStore(), uniquePrefix()), o);
  };

  test("get and head of a missing key throw NotFound", async (s, p) => {
    assert.equal(await codeOf(s.get(`${p}missing`)), "NotFound");
    assert.equal(await codeOf(s.head(`${p}missing`)), "NotFound");
  });

  test("put then get and head round-trip bytes, size, etag and metadata", async (s, p) => {
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 255]);
    const r = await s.put(`${p}a.bin`, bytes, {
      metadata: { owner: "t1" },
      contentType: "application/x-test",
    });
    assert.ok(r.etag.length > 0 && !r.etag.startsWith('"'), "etag is non-empty and unquoted");
    const got = await s.get(`${p}a.bin`);
    assert.equal(got.size, 6);
    assert.equal(got.etag, r.etag);
    assert.deepEqual(await got.bytes(), bytes);
    const meta = await s.head(`${p}a.bin`);
    assert.equal(meta.size, 6);
    assert.equal(meta.etag, r.etag);
    assert.equal(meta.metadata?.owner, "t1");
    await s.put(`${p}b.txt`, "héllo");
    assert.equal(await (await s.get(`${p}b.txt`)).text(), "héllo");
    assert.equal((await s.head(`${p}b.txt`)).size, 6);
  });

  test("overwrite replaces the body and changes the etag", async (s, p) => {
    const a = await s.put(`${p}k`, "one");
    const b = await s.put(`${p}k`, "two!");
    assert.notEqual(a.etag, b.etag);
    assert.equal(await (await s.get(`${p}k`)).text(), "two!");
  });

  test("create twice throws AlreadyExists and keeps the first body", async (s, p) => {
    await s.put(`${p}once`, "first", { mode: "create" });
    assert.equal(await codeOf(s.put(`${p}once`, "second", { mode: "create" })), "AlreadyExists");
    assert.equal(await (await s.get(`${p}once`)).text(), "first");
  });

  test("concurrent creates of one key: exactly one wins", async (s, p) => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => s.put(`${p}race`, `writer-${i}`, { mode: "create" })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.equal(await codeOf(Promise.reject(r.reason)), "AlreadyExists");
    }
    assert.match(await (await s.get(`${p}race`)).text(), /^writer-\d$/);
  });

  test("ifMatch with the current etag replaces; stale or missing throws PreconditionFailed", async (s, p) => {
    const v1 = await s.put(`${p}cas`, "v1");
    // A quoted etag (as HTTP's ETag header gives it) is accepted like the unquoted one.
    const v2 = await s.put(`${p}cas`, "v2", { mode: { ifMatch: `"${v1.etag}"` } });
    assert.notEqual(v2.etag, v1.etag);
    assert.equal(await codeOf(s.put(`${p}cas`, "v3", { mode: { ifMatch: v1.etag } })), "PreconditionFailed");
    assert.equal(await (await s.get(`${p}cas`)).text(), "v2");
    assert.equal(await codeOf(s.put(`${p}nope`, "x", { mode: { ifMatch: v1.etag } })), "PreconditionFailed");
    assert.equal(await codeOf(s.head(`${p}nope`)), "NotFound");
  });

  test(
    "5 concurrent tasks x 10 CAS increments = 50",
    async (s, p) => {
      const key = `${p}counter`;
      await s.put(key, "0");
      const task = async () => {
        for (let done = 0; done < 10; ) {
          const cur = await s.get(key);
          const n = Number(await cur.text());
          try {
            await s.put(key, String(n + 1), { mode: { ifMatch: cur.etag } });
            done++;
          } catch (e) {
            const code = await codeOf(Promise.reject(e));
            // A lost race is PreconditionFailed (or Transient on stores that answer 409/500).
            assert.ok(code === "PreconditionFailed" || code === "Transient", `unexpected ${code}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 5 }, task));
      assert.equal(await (await s.get(key)).text(), "50");
    },
    slow,
  );

  test("ranges: offset and length, offset to the end, past the end is InvalidArgument", async (s, p) => {
    const data = enc.encode("0123456789");
    await s.put(`${p}r`, data);
    const mid = await s.get(`${p}r`, { range: { offset: 2, length: 3 } });
    assert.equal(dec.decode(await mid.bytes()), "234");
    const tail = await s.get(`${p}r`, { range: { offset: 7 } });
    assert.equal(dec.decode(await tail.bytes()), "789");
    const over = await s.get(`${p}r`, { range: { offset: 8, length: 100 } });
    assert.equal(dec.decode(await over.bytes()), "89");
    assert.equal(await codeOf(s.get(`${p}r`, { range: { offset: 10 } })), "InvalidArgument");
    assert.equal(await codeOf(s.get(`${p}r`, { range: { offset: 11, length: 1 } })), "InvalidArgument");
    assert.equal(await codeOf(s.get(`${p}r`, { range: { offset: 1, length: 0 } })), "InvalidArgument");
  });

  test("zero-byte objects round-trip", async (s, p) => {
    await s.put(`${p}empty`, new Uint8Array(0));
    const got = await s.get(`${p}empty`);
    assert.equal(got.size, 0);
    assert.equal((await got.bytes()).length, 0);
    assert.equal((await s.head(`${p}empty`)).size, 0);
    await s.put(`${p}empty2`, "", { mode: "create" });
    assert.equal((await (await s.get(`${p}empty2`, { range: { offset: 0 } })).bytes()).length, 0);
    // A bounded range at offset 0 of an empty object is empty too, on every store.
    const bounded = await s.get(`${p}empty2`, { range: { offset: 0, length: 5 } });
    assert.equal((await bounded.bytes()).length, 0);
    assert.equal(bounded.size, 0);
    const listed = await collect(s.list(p));
    assert.deepEqual(
      listed.map((m) => [m.key, m.size]),
      [
        [`${p}empty`, 0],
        [`${p}empty2`, 0],
      ],
    );
  });

  test("a stream body with its size is stored; without size it is InvalidArgument", async (s, p) => {
    const chunks = [enc.encode("stream-"), enc.encode("ed body")];
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (const ch of chunks) c.enqueue(ch);
          c.close();
        },
      });
    await s.put(`${p}s`, stream(), { size: 14 });
    assert.equal(await (await s.get(`${p}s`)).text(), "stream-ed body");
    assert.equal(await codeOf(s.put(`${p}s2`, stream())), "InvalidArgument");
    assert.equal(await codeOf(s.head(`${p}s2`)), "NotFound");
  });

  test("a stream body that fails midway is a tidemark error and stores nothing", async (s, p) => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) c.error(new Error("source broke"));
        else {
          sent = true;
          c.enqueue(enc.encode("part"));
        }
      },
    });
    // Any code will do, but it must be a TidemarkError, never the source's raw error.
    await codeOf(s.put(`${p}broken`, broken, { size: 10 }));
    assert.equal(await codeOf(s.head(`${p}broken`)), "NotFound");
  });

  test("delete removes; deleting a missing key is not an error", async (s, p) => {
    await s.put(`${p}d`, "x");
    await s.delete(`${p}d`);
    assert.equal(await codeOf(s.head(`${p}d`)), "NotFound");
    await s.delete(`${p}d`);
    await s.delete(`${p}never`);
  });

  test("list respects the prefix boundary (foo vs foobar/)", async (s, p) => {
    for (const k of ["foo", "foo/a", "foo/b/c", "foobar/x", "fo"]) await s.put(`${p}${k}`, k);
    const under = await collect(s.list(`${p}foo/`));
    assert.deepEqual(
      under.map((m) => m.key),
      [`${p}foo/a`, `${p}foo/b/c`],
    );
    const all = await collect(s.list(`${p}foo`));
    assert.deepEqual(
      all.map((m) => m.key),
      [`${p}foo`, `${p}foo/a`, `${p}foo/b/c`, `${p}foobar/x`],
    );
    for (const m of all) assert.ok(m.etag.length > 0 && m.size > 0);
  });

  test("list with startAfter and with a delimiter", async (s, p) => {
    for (const k of ["a", "b/1", "b/2", "c", "d/x/y", "e"]) await s.put(`${p}${k}`, "v");
    const after = await collect(s.list(p, { startAfter: `${p}b/1` }));
    assert.deepEqual(
      after.map((m) => m.key),
      [`${p}b/2`, `${p}c`, `${p}d/x/y`, `${p}e`],
    );
    const rolled = await collect(s.list(p, { delimiter: "/" }));
    assert.deepEqual(
      rolled.map((m) => [m.key, m.isPrefix === true]),
      [
        [`${p}a`, false],
        [`${p}b/`, true],
        [`${p}c`, false],
        [`${p}d/`, true],
        [`${p}e`, false],
      ],
    );
    const inner = await collect(s.list(`${p}d/`, { delimiter: "/" }));
    assert.deepEqual(
      inner.map((m) => m.key),
      [`${p}d/x/`],
    );
  });

  test(
    "list pages through 2,500 keys; deleteMany removes them, missing keys included",
    async (s, p) => {
      const keys = Array.from({ length: 2500 }, (_, i) => `${p}many/${String(i).padStart(5, "0")}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, "")));
      }
      const listed = await collect(s.list(`${p}many/`));
      assert.equal(listed.length, 2500);
      assert.deepEqual(
        listed.map((m) => m.key),
        keys,
      );
      const missing = Array.from({ length: 20 }, (_, i) => `${p}many/missing-${i}`);
      const res = await s.deleteMany([...keys, ...missing]);
      assert.deepEqual(res.errors, []);
      assert.equal(res.deleted, 2520);
      assert.equal((await collect(s.list(`${p}many/`))).length, 0);
    },
    slow,
  );

  test("deleteMany takes an async iterable", async (s, p) => {
    await s.put(`${p}x1`, "1");
    await s.put(`${p}x2`, "2");
    const res = await s.deleteMany(
      (async function* () {
        yield `${p}x1`;
        yield `${p}x2`;
      })(),
    );
    assert.equal(res.deleted, 2);
    assert.equal((await collect(s.list(p))).length, 0);
  });

  test("deleteMany with allVersions removes the keys (every version, where the store keeps versions)", async (s, p) => {
    await s.put(`${p}v1`, "1");
    await s.put(`${p}v1`, "2");
    await s.put(`${p}v2`, "3");
    const res = await s.deleteMany([`${p}v1`, `${p}v2`, `${p}missing`], { allVersions: true });
    assert.deepEqual(res.errors, []);
    assert.equal(res.deleted, 3);
    assert.equal((await collect(s.list(p))).length, 0);
  });

  test("a put with an Object Lock retention is kept with it where the store says objectLock, else refused: never written unlocked", async (s, p) => {
    const lock = { mode: "governance" as const, retainUntil: new Date(Date.now() + 1_000) };
    let put: unknown;
    try {
      await s.put(`${p}locked`, "x", { lock });
    } catch (e) {
      put = e;
    }
    if (put === undefined) {
      assert.ok(capabilitiesOf(s).objectLock, "a store without objectLock took a locked put");
      assert.equal((await s.head(`${p}locked`)).lock?.mode, "governance", "the retention is reported");
      return; // A 1 s governance lock: this key is left under the test's prefix until it ends.
    }
    if (!capabilitiesOf(s).objectLock) assert.equal(await codeOf(Promise.reject(put)), "NotSupported");
    // Refused (a bucket without Object Lock answers 400): nothing was written.
    assert.equal(await codeOf(s.head(`${p}locked`)), "NotFound");
  });

  test("unicode, emoji, space, +, %, = and other punctuation in keys round-trip", async (s, p) => {
    const names = [
      "ünïcödé/日本語.txt",
      "emoji/🦀🚀.bin",
      "with space/a b",
      "plus/a+b",
      "percent/100%25/50%",
      "equals/epoch=10/vnode=3",
      "punct/~*'()!;,&@$",
    ];
    for (const n of names) await s.put(`${p}${n}`, n);
    for (const n of names) {
      assert.equal(await (await s.get(`${p}${n}`)).text(), n, n);
      assert.equal((await s.head(`${p}${n}`)).key, `${p}${n}`);
    }
    const listed = (await collect(s.list(p))).map((m) => m.key.slice(p.length));
    assert.deepEqual(listed, [...names].sort(byteOrder));
    const plus = await collect(s.list(`${p}plus/a+`));
    assert.deepEqual(
      plus.map((m) => m.key),
      [`${p}plus/a+b`],
    );
  });

  test("list is in UTF-8 byte order", async (s, p) => {
    const names = ["a", "B", "é", "\uffef", "😀", "z"];
    for (const n of names) await s.put(`${p}${n}`, "x");
    const listed = (await collect(s.list(p))).map((m) => m.key.slice(p.length));
    assert.deepEqual(listed, [...names].sort(byteOrder));
  });

  test("a SHA-256 recorded with an object is its body's, given before the body or after a streamed one", async (s, p) => {
    const body = enc.encode("sha256 ".repeat(3000));
    const digest = await sha256Of(body);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(body.subarray(0, 100));
        c.enqueue(body.subarray(100));
        c.close();
      },
    });
    const puts = [
      [`${p}lead`, await s.put(`${p}lead`, body, { sha256: digest })],
      [`${p}trail`, await s.put(`${p}trail`, stream, { size: body.length, sha256: () => digest })],
    ] as const;
    for (const [key, put] of puts) {
      // Recorded or not (a store may record none), never another digest, and the bytes intact.
      if (put.sha256 !== undefined) assert.equal(put.sha256, toHex(digest), key);
      const got = await s.get(key, { checksum: true });
      if (got.sha256 !== undefined) assert.equal(got.sha256, toHex(digest), key);
      assert.deepEqual(await got.bytes(), body, key);
    }
  });

  test("a put whose SHA-256 is not its body's stores nothing, or records no SHA-256", async (s, p) => {
    const wrong = new Uint8Array(32).fill(7);
    const refused = await s.put(`${p}w`, "not those bytes", { sha256: wrong }).then(
      () => undefined,
      (e: unknown) => codeOf(Promise.reject(e)),
    );
    if (refused !== undefined) {
      assert.equal(refused, "Corrupt");
      assert.equal(await codeOf(s.head(`${p}w`)), "NotFound");
      return;
    }
    const got = await s.get(`${p}w`, { checksum: true });
    assert.notEqual(got.sha256, toHex(wrong));
    assert.equal(await got.text(), "not those bytes");
  });

  test("invalid keys are InvalidArgument on every operation", async (s, p) => {
    const bad = ["", `${p}ctl\u0001x`, `${p}nl\nx`, `${p}${"k".repeat(1100)}`, `${p}${"é".repeat(600)}`];
    for (const k of bad) {
      assert.equal(await codeOf(s.put(k, "x")), "InvalidArgument", JSON.stringify(k.slice(0, 20)));
      assert.equal(await codeOf(s.get(k)), "InvalidArgument");
      assert.equal(await codeOf(s.head(k)), "InvalidArgument");
      assert.equal(await codeOf(s.delete(k)), "InvalidArgument");
    }
    assert.equal(await codeOf(s.deleteMany([`${p}ok`, "bad\u0000"])), "InvalidArgument");
    // Validation comes before any delete: a bad key after more than one batch deletes nothing.
    await s.put(`${p}kept`, "still here");
    const many = [`${p}kept`, ...Array.from({ length: 1500 }, (_, i) => `${p}absent-${i}`), "bad\u0001"];
    assert.equal(await codeOf(s.deleteMany(many)), "InvalidArgument");
    assert.equal(await (await s.get(`${p}kept`)).text(), "still here");
    const ok = `${p}${"k".repeat((opts.maxKeyBytes ?? 1024) - p.length)}`;
    await s.put(ok, "max length key");
    assert.equal(await (await s.get(ok)).text(), "max length key");
  });
}

function byteOrder(a: string, b: string): number {
  const x = enc.encode(a);
  const y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  }
  return x.length - y.length;
}
