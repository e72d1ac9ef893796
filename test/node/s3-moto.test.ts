/**
 * S3Store on moto, a second S3 implementation that follows AWS rather than
 * Ceph: the shared store contract on the moto that checks no signatures, and
 * auth failures on the moto that checks every signature, with requests moto
 * checks correctly (plain keys, no `/` in query values: see
 * test/services/moto.ts).
 * Run: npx node scripts/with-moto.ts -- npx vitest run --project node test/node/s3-moto.test.ts
 */
import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { S3Store, type S3StoreOptions } from "../../src/index.ts";
import { nodeHttpTransport, nodeSigner } from "../../src/node/index.ts";
import { objectStoreContract } from "../../src/testing/index.ts";
import { codeOf, collect, type Harness, randomId } from "../support/harness.ts";
import { MOTO_STORE_SKIPS, motoAuthConfig, motoConfig } from "../support/moto.ts";

const cfg = motoConfig((k) => process.env[k]);
const auth = motoAuthConfig((k) => process.env[k]);
const vitestHarness: Harness = { test: (name, fn, o) => it(name, fn, o?.timeoutMs) };

describe.skipIf(!cfg)("S3Store on moto: contract", () => {
  objectStoreContract(vitestHarness, () => new S3Store({ ...cfg!, forcePathStyle: true }), {
    skip: MOTO_STORE_SKIPS,
  });
});

describe.skipIf(!cfg)("S3Store on moto over nodeHttpTransport and nodeSigner: contract", () => {
  const transport = nodeHttpTransport();
  objectStoreContract(
    vitestHarness,
    () => new S3Store({ ...cfg!, forcePathStyle: true, transport, signer: nodeSigner() }),
    { skip: MOTO_STORE_SKIPS },
  );
});

describe.skipIf(!auth)("S3Store on the moto that checks signatures", () => {
  const store = (extra: Partial<S3StoreOptions> = {}) =>
    new S3Store({ ...auth!, forcePathStyle: true, ...extra });
  // No "/" anywhere in a query value, and no percent-encoded key: moto checks those wrongly.
  const flat = () => `auth-${randomId()}-`;

  it("the right key works: put, create, get, head, list, deleteMany", async () => {
    const s = store();
    const p = flat();
    await s.put(`${p}a`, "one");
    await s.put(`${p}b`, "two", { mode: "create" });
    assert.equal(await (await s.get(`${p}a`)).text(), "one");
    assert.equal((await s.head(`${p}b`)).size, 3);
    assert.deepEqual(
      (await collect(s.list(p))).map((m) => m.key),
      [`${p}a`, `${p}b`],
    );
    assert.deepEqual(await s.deleteMany([`${p}a`, `${p}b`]), { deleted: 2, errors: [] });
  });

  it("a wrong secret is PermissionDenied (403 SignatureDoesNotMatch) on every operation", async () => {
    const good = store();
    const bad = store({ secretAccessKey: "not-the-secret-0123456789" });
    const p = flat();
    await good.put(`${p}k`, "kept");
    const ops: [string, () => Promise<unknown>][] = [
      ["get", () => bad.get(`${p}k`)],
      ["put", () => bad.put(`${p}k`, "x")],
      ["create", () => bad.put(`${p}new`, "x", { mode: "create" })],
      ["ifMatch", () => bad.put(`${p}k`, "x", { mode: { ifMatch: "0123456789abcdef0123456789abcdef" } })],
      ["list", () => collect(bad.list(p))],
      ["deleteMany", () => bad.deleteMany([`${p}k`])],
    ];
    for (const [op, call] of ops) {
      const e = await call().then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.equal(await codeOf(Promise.reject(e)), "PermissionDenied", op);
      assert.match((e as Error).message, /HTTP 403 SignatureDoesNotMatch/, op);
      assert.doesNotMatch((e as Error).message, /not-the-secret/, `${op}: no secret in the message`);
    }
    // HEAD has no body: the status alone says it.
    assert.equal(await codeOf(bad.head(`${p}k`)), "PermissionDenied");
    assert.equal(await (await good.get(`${p}k`)).text(), "kept", "nothing the bad requests did stuck");
    await good.delete(`${p}k`);
  });

  it("nodeSigner's signatures are checked too: the right key works, a wrong secret is PermissionDenied", async () => {
    const node = (extra: Partial<S3StoreOptions> = {}) =>
      store({ transport: nodeHttpTransport(), signer: nodeSigner(), ...extra });
    const p = flat();
    await node().put(`${p}a`, "one", { mode: "create" });
    assert.equal(await (await node().get(`${p}a`)).text(), "one");
    assert.deepEqual(
      (await collect(node().list(p))).map((m) => m.key),
      [`${p}a`],
    );
    const bad = node({ secretAccessKey: "not-the-secret-0123456789" });
    assert.equal(await codeOf(bad.get(`${p}a`)), "PermissionDenied");
    assert.equal(await codeOf(bad.put(`${p}b`, "x")), "PermissionDenied");
  });

  it("an unknown access key is PermissionDenied (403 InvalidAccessKeyId)", async () => {
    const bad = store({ accessKeyId: "AKIANOTAKEY000000000", secretAccessKey: "whatever-secret-0000" });
    const p = flat();
    await assert.rejects(bad.put(`${p}k`, "x"), /\[PermissionDenied\] s3 put .*HTTP 403 InvalidAccessKeyId/);
    assert.equal(await codeOf(collect(bad.list(p))), "PermissionDenied");
  });
});
