import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { prefixed } from "../../src/index.ts";
import { FileStore } from "../../src/node/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { fileStoreContract } from "../contract/file-store.contract.ts";
import { codeOf, collect, type Harness } from "../support/harness.ts";

const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };
const root = mkdtempSync(join(tmpdir(), "tidemark-fs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("FileStore contract", () => {
  objectStoreContract(vitestHarness, () => new FileStore(join(root, "contract")));
});

describe("prefixed(FileStore) contract", () => {
  objectStoreContract(
    vitestHarness,
    () => prefixed(new FileStore(join(root, "prefixed")), "tenant-a/tables"),
    {
      maxKeyBytes: 1024 - "tenant-a/tables/".length,
    },
  );
});

describe("FileStore extras (shared with Deno)", () => {
  fileStoreContract(vitestHarness, join(root, "extras"));
});

/**
 * Records what FileStore asks of the file system: node:fs/promises' `link`,
 * `rename`, `mkdir` and `open`, and every `FileHandle.sync()` with the path
 * its handle was opened on (the real calls still run).
 */
async function recordingFs<T>(fn: () => Promise<T>): Promise<{ result: T; events: string[] }> {
  const fsp = createRequire(import.meta.url)("node:fs/promises") as typeof import("node:fs/promises");
  const events: string[] = [];
  const paths = new WeakMap<object, string>();
  const probe = await fsp.open(import.meta.filename ?? root, "r");
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const saved = { link: fsp.link, rename: fsp.rename, mkdir: fsp.mkdir, open: fsp.open, sync: proto.sync };
  const m = fsp as unknown as Record<string, unknown>;
  m.link = async (a: string, b: string) => {
    await saved.link(a, b);
    events.push(`link ${b}`);
  };
  m.rename = async (a: string, b: string) => {
    await saved.rename(a, b);
    events.push(`rename ${b}`);
  };
  m.mkdir = async (p: string, o?: unknown) => {
    const r = await saved.mkdir(p, o as undefined);
    events.push(`mkdir ${p}`);
    return r;
  };
  m.open = async (p: string, ...rest: unknown[]) => {
    const fh = await (saved.open as (...a: unknown[]) => Promise<object>)(p, ...rest);
    paths.set(fh, String(p));
    return fh;
  };
  proto.sync = async function (this: object) {
    await saved.sync.call(this);
    events.push(`sync ${paths.get(this) ?? "?"}`);
  };
  syncBuiltinESMExports();
  try {
    return { result: await fn(), events };
  } finally {
    Object.assign(m, { link: saved.link, rename: saved.rename, mkdir: saved.mkdir, open: saved.open });
    proto.sync = saved.sync;
    syncBuiltinESMExports();
  }
}

describe("FileStore durability", () => {
  it("a create or a replace fsyncs the object's directory after the link or rename, and each new directory's parent", async () => {
    const dir = join(root, "durable");
    const s = new FileStore(dir);
    await s.put("warm", "x"); // the store's own directories exist from here on
    const created = await recordingFs(() => s.put("a/b/c", "1", { mode: "create" }));
    const ev = created.events;
    const at = (e: string) => ev.indexOf(e);
    assert.ok(at(`link ${join(dir, "a/b/c")}`) >= 0, ev.join("\n"));
    assert.ok(at(`sync ${join(dir, "a/b")}`) > at(`link ${join(dir, "a/b/c")}`), ev.join("\n"));
    assert.ok(
      at(`sync ${dir}`) > at(`mkdir ${join(dir, "a")}`),
      "the new directory a is durable in the root",
    );
    assert.ok(at(`sync ${join(dir, "a")}`) > at(`mkdir ${join(dir, "a/b")}`), "and a/b in a");
    assert.ok(at(`sync ${join(dir, "a/b")}`) > at(`sync ${join(dir, "a")}`));

    const replaced = await recordingFs(() => s.put("a/b/c", "2"));
    const rev = replaced.events;
    assert.ok(
      rev.indexOf(`sync ${join(dir, "a/b")}`) > rev.indexOf(`rename ${join(dir, "a/b/c")}`) &&
        rev.indexOf(`rename ${join(dir, "a/b/c")}`) >= 0,
      rev.join("\n"),
    );

    const fast = new FileStore(join(root, "not-durable"), { durable: false });
    await fast.put("warm", "x");
    const quick = await recordingFs(() => fast.put("a/b", "1", { mode: "create" }));
    assert.deepEqual(
      quick.events.filter((e) => e.startsWith("sync ")),
      [],
      "durable: false syncs nothing",
    );
  });
});

describe("FileStore extras", () => {
  it("the directory looks like the bucket: keys are plain paths, internals are hidden", async () => {
    const dir = join(root, "layout");
    const s = new FileStore(dir);
    await s.put("metadata/v1.manifest.bin", "m1", { mode: "create" });
    await s.put("data/a.parquet", "a");
    assert.deepEqual((await readdir(dir)).sort(), [".tidemark-meta", ".tidemark-tmp", "data", "metadata"]);
    assert.deepEqual(await readdir(join(dir, "metadata")), ["v1.manifest.bin"]);
    assert.deepEqual(await readdir(join(dir, ".tidemark-tmp")), [], "no temp files left behind");
    assert.deepEqual(
      (await collect(s.list(""))).map((m) => m.key),
      ["data/a.parquet", "metadata/v1.manifest.bin"],
    );
  });

  it("files written by another tool are readable, with a stable etag", async () => {
    const dir = join(root, "foreign");
    const s = new FileStore(dir);
    await s.put("x", "x");
    await writeFile(join(dir, "plain.txt"), "hello");
    const a = await s.head("plain.txt");
    assert.equal(a.size, 5);
    assert.equal((await s.head("plain.txt")).etag, a.etag);
    assert.equal(await (await s.get("plain.txt")).text(), "hello");
    const b = await s.put("plain.txt", "bye", { mode: { ifMatch: a.etag } });
    assert.notEqual(b.etag, a.etag);
  });

  it("dot segments, empty segments and internal names are escaped, not interpreted", async () => {
    const s = new FileStore(join(root, "escape"));
    const keys = ["../up", "a/./b", "a//b", ".tidemark-meta/x", "/lead", "trail/"];
    for (const k of keys) await s.put(k, k);
    for (const k of keys) assert.equal(await (await s.get(k)).text(), k);
    assert.deepEqual((await collect(s.list(""))).map((m) => m.key).sort(), [...keys].sort());
  });

  it("an object and a prefix of the same name coexist, in either order", async () => {
    const s = new FileStore(join(root, "conflict"));
    await s.put("foo", "object first");
    await s.put("foo/a", "child");
    await s.put("bar/a", "child");
    await s.put("bar", "object second");
    assert.equal(await (await s.get("foo")).text(), "object first");
    assert.equal(await (await s.get("bar")).text(), "object second");
    assert.equal(await codeOf(s.put("foo", "again", { mode: "create" })), "AlreadyExists");
    await s.delete("foo/a");
    assert.equal(await (await s.get("foo")).text(), "object first");
    assert.deepEqual(
      (await collect(s.list(""))).map((m) => m.key),
      ["bar", "bar/a", "foo"],
    );
  });

  it("a get streams the body it opened even if the key is overwritten meanwhile", async () => {
    const s = new FileStore(join(root, "torn"));
    const big = new Uint8Array(300_000).fill(7);
    await s.put("k", big);
    const got = await s.get("k");
    await s.put("k", "small");
    assert.deepEqual(await got.bytes(), big);
  });

  it("two instances on one directory serialise compare-and-swap (shared lock)", async () => {
    const dir = join(root, "two");
    const a = new FileStore(dir);
    const b = new FileStore(dir);
    await a.put("n", "0");
    const inc = async (s: FileStore) => {
      for (let done = 0; done < 10; ) {
        const cur = await s.get("n");
        const n = Number(await cur.text());
        try {
          await s.put("n", String(n + 1), { mode: { ifMatch: cur.etag } });
          done++;
        } catch (e) {
          assert.equal(await codeOf(Promise.reject(e)), "PreconditionFailed");
        }
      }
    };
    await Promise.all([inc(a), inc(b), inc(a)]);
    assert.equal(await (await b.get("n")).text(), "30");
  });
});
