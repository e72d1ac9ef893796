/**
 * FileStore behaviour beyond the store contract that must hold on every
 * runtime it runs on (Node and Deno): compare-and-swap serialised by the real
 * directory (a symlinked path or a store rooted in another store's
 * subdirectory shares the lock), and file names placed by another tool that
 * `list` and `get` agree on.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ObjectStore } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { forEachChunk } from "../../src/store/body.ts";
import { codeOf, collect, type Harness, randomId } from "../support/harness.ts";

/** 3 concurrent tasks x 10 compare-and-swap increments of `key` on `stores` (round-robin). */
async function increments(stores: { store: ObjectStore; key: string }[]): Promise<void> {
  const task = async (i: number) => {
    const { store, key } = stores[i % stores.length] as { store: ObjectStore; key: string };
    for (let done = 0; done < 10; ) {
      const cur = await store.get(key);
      const n = Number(await cur.text());
      try {
        await store.put(key, String(n + 1), { mode: { ifMatch: cur.etag } });
        done++;
      } catch (e) {
        assert.equal(await codeOf(Promise.reject(e)), "PreconditionFailed");
      }
    }
  };
  await Promise.all([0, 1, 2].map(task));
}

export function fileStoreContract(h: Harness, root: string): void {
  const fresh = () => {
    const dir = join(root, `fs-${randomId()}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  h.test(
    "a body read in BYOB mode fills the reader's own buffer, reused: 1 MiB and 5 bytes in 5 reads, the file's bytes; a default reader gets them too",
    async () => {
      const store = new FileStore(fresh());
      const bytes = new Uint8Array(1024 * 1024 + 5);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
      await store.put("big.bin", bytes);
      const seen: number[] = [];
      const got = new Uint8Array(bytes.length);
      await forEachChunk((await store.get("big.bin")).body, (chunk) => {
        got.set(
          chunk,
          seen.reduce((a, b) => a + b, 0),
        );
        seen.push(chunk.length);
      });
      // 256 KiB reads into the reused buffer (a default reader gets 64 KiB chunks: 17 of them).
      assert.deepEqual(seen, [262144, 262144, 262144, 262144, 5]);
      assert.deepEqual(got, bytes);
      assert.deepEqual(await (await store.get("big.bin")).bytes(), bytes);
      const range = await store.get("big.bin", { range: { offset: 100, length: 300_000 } });
      let total = 0;
      await forEachChunk(range.body, (chunk) => {
        assert.deepEqual(chunk, bytes.subarray(100 + total, 100 + total + chunk.length));
        total += chunk.length;
      });
      assert.equal(total, 300_000);
    },
  );

  h.test("two stores on one directory, one through a symlink, serialise compare-and-swap", async () => {
    const dir = fresh();
    const link = `${dir}-link`;
    symlinkSync(dir, link);
    const a = new FileStore(dir);
    const b = new FileStore(link);
    await a.put("n", "0");
    await increments([
      { store: a, key: "n" },
      { store: b, key: "n" },
    ]);
    assert.equal(await (await a.get("n")).text(), "30");
  });

  h.test("a store rooted in another store's subdirectory shares its compare-and-swap lock", async () => {
    const dir = fresh();
    const outer = new FileStore(dir);
    const inner = new FileStore(join(dir, "sub"));
    await outer.put("sub/n", "0");
    await increments([
      { store: outer, key: "sub/n" },
      { store: inner, key: "n" },
    ]);
    assert.equal(await (await inner.get("n")).text(), "30");
  });

  h.test(
    "files another tool named with a % that is not an escape are listed under keys that read them back",
    async () => {
      const dir = fresh();
      // Written by cp, rclone, ...: the key is the name itself.
      const foreign: Record<string, string> = {
        "50%off.txt": "a",
        "x%41": "b", // looks like an escape of "xA", which FileStore would name "xA"
        "a%2Fb": "c", // "%2F" would decode to "/", which no segment holds
        "100%/r.txt": "d", // a directory too
        "%zz": "e",
      };
      for (const [name, body] of Object.entries(foreign)) {
        mkdirSync(join(dir, name, ".."), { recursive: true });
        writeFileSync(join(dir, name), body);
      }
      const s = new FileStore(dir);
      await s.put("own%41", "f"); // FileStore's own escaping: the file is own%2541
      await s.put("100%/own", "g");
      const keys = (await collect(s.list(""))).map((m) => m.key);
      assert.deepEqual(keys, [...Object.keys(foreign), "own%41", "100%/own"].sort());
      for (const [key, body] of [...Object.entries(foreign), ["own%41", "f"], ["100%/own", "g"]]) {
        assert.equal(await (await s.get(key as string)).text(), body, `get ${key}`);
        assert.equal((await s.head(key as string)).size, 1, `head ${key}`);
      }
      assert.equal(await codeOf(s.get("xA")), "NotFound");
      assert.deepEqual(
        (await collect(s.list("100%/"))).map((m) => m.key),
        ["100%/own", "100%/r.txt"],
      );
      // Writes agree with reads: create refuses, compare-and-swap replaces the file in place.
      assert.equal(await codeOf(s.put("50%off.txt", "z", { mode: "create" })), "AlreadyExists");
      const etag = (await s.head("50%off.txt")).etag;
      await s.put("50%off.txt", "A2", { mode: { ifMatch: etag } });
      assert.equal(await (await s.get("50%off.txt")).text(), "A2");
      assert.equal(keys.length, (await collect(s.list(""))).length, "still one key, one file");
      await s.put("x%41", "B2");
      assert.equal(await (await s.get("x%41")).text(), "B2");
      await s.delete("100%/r.txt");
      await s.delete("a%2Fb");
      assert.equal(await codeOf(s.get("100%/r.txt")), "NotFound");
      assert.equal(await codeOf(s.get("a%2Fb")), "NotFound");
      assert.deepEqual(
        (await collect(s.list(""))).map((m) => m.key),
        ["%zz", "100%/own", "50%off.txt", "own%41", "x%41"],
      );
      assert.ok(!readdirSync(dir).includes("a%2Fb"));
    },
  );

  h.test(
    "a file another tool named with more than 200 bytes (FileStore would split it) reads back under its name",
    async () => {
      const dir = fresh();
      const long = `${"é".repeat(110)}.parquet`; // 228 UTF-8 bytes: one name on disk, two chunks for FileStore
      const longPct = `${"a".repeat(215)}%zz`;
      writeFileSync(join(dir, long), "long");
      writeFileSync(join(dir, longPct), "long%");
      const s = new FileStore(dir);
      await s.put(`${"b".repeat(230)}`, "own"); // FileStore's own: split into <chunk>%+/<chunk>
      const keys = (await collect(s.list(""))).map((m) => m.key);
      assert.deepEqual(keys, [longPct, "b".repeat(230), long]);
      assert.equal(await (await s.get(long)).text(), "long");
      assert.equal(await (await s.get(longPct)).text(), "long%");
      assert.equal(await (await s.get("b".repeat(230))).text(), "own");
      await s.delete(long);
      assert.equal(await codeOf(s.get(long)), "NotFound");
    },
  );

  h.test(
    "a name that is both escaped and literal on disk is listed once, as the escaped one reads",
    async () => {
      const dir = fresh();
      const s = new FileStore(dir);
      await s.put("50%", "escaped"); // on disk: 50%25
      await s.put("50%x", "escaped too"); // on disk: 50%25x
      writeFileSync(join(dir, "50%x"), "foreign"); // then another tool adds the literal spelling
      assert.deepEqual(
        (await collect(s.list(""))).map((m) => m.key),
        ["50%", "50%x"],
      );
      assert.equal(await (await s.get("50%x")).text(), "escaped too");
      await s.delete("50%x");
      assert.equal(await codeOf(s.get("50%x")), "NotFound", "delete removes every spelling of the key");
    },
  );
}
