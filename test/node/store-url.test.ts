/**
 * Store URLs of the CLI (src/cli/store-url.ts): nothing a user typed is
 * silently dropped. A fragment, a port after an S3 bucket, a repeated or
 * empty parameter are usage errors (InvalidArgument) that say what to write
 * instead; what is accepted reaches the store.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, it } from "vitest";
import { openStoreUrl } from "../../src/cli/store-url.ts";
import { FileStore } from "../../src/node/index.ts";
import { HttpStore } from "../../src/store/http.ts";
import { S3Store } from "../../src/store/s3/store.ts";
import { parseStoreUrl } from "../../src/store/url.ts";

const creds: Record<string, string> = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "SECRETKEY" };
const env = (k: string) => creds[k];
const root = mkdtempSync(join(tmpdir(), "tidemark-url-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The InvalidArgument message `spec` is refused with. */
async function refused(spec: string): Promise<string> {
  try {
    await openStoreUrl(spec, env);
  } catch (e) {
    assert.equal((e as { code?: string }).code, "InvalidArgument", String(e));
    assert.doesNotMatch((e as Error).message, /SECRETKEY/);
    return (e as Error).message;
  }
  throw new Error(`${spec} was accepted`);
}

describe("s3:// store URLs", () => {
  it("a fragment is refused, even an empty one; an escaped # is part of the prefix", async () => {
    assert.match(await refused("s3://bucket/tables/orders#v2"), /fragment.*%23/);
    assert.match(await refused("s3://bucket/tables/orders#"), /fragment/);
    assert.match(await refused("s3://bucket/tables/orders?region=eu-west-1#x"), /fragment/);
    const ok = await openStoreUrl("s3://bucket/tables/orders%23v2", env);
    assert.equal(ok.label, "s3://bucket/tables/orders#v2");
    assert.equal(ok.store.name, "s3://bucket/tables/orders#v2");
  });

  it("a port after the bucket is refused, pointing at ?endpoint=, never dropped", async () => {
    const msg = await refused("s3://bucket:9000/tables/orders");
    assert.match(msg, /port/);
    assert.match(msg, /endpoint=/);
    assert.match(await refused("s3://bucket:/tables/orders"), /port/);
    assert.match(await refused("s3://bucket:9000"), /port/);
    const ok = await openStoreUrl(
      "s3://bucket/tables/orders?endpoint=http://127.0.0.1:9000&region=eu-west-1",
      env,
    );
    assert.ok(ok.store instanceof S3Store);
    assert.equal(ok.store.name, "s3://bucket/tables/orders");
  });

  it("an endpoint with a query or a fragment is refused without quoting them, wherever an endpoint is taken", async () => {
    const token = "X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLESESSIONTOKEN";
    const specs = [
      // ?endpoint=http://h:9000?X-Amz-Security-Token=... : the outer query keeps the inner one whole.
      `s3://bucket/p?endpoint=http://127.0.0.1:9000?${token}`,
      `s3://bucket/p?endpoint=${encodeURIComponent(`http://127.0.0.1:9000/?${token}`)}`,
      `s3://bucket/p?endpoint=${encodeURIComponent(`http://127.0.0.1:9000#${token}`)}`,
      `s3://bucket/p?endpoint=${encodeURIComponent("http://127.0.0.1:9000?")}`,
      `s3://bucket/p?endpoint=${encodeURIComponent("http://127.0.0.1:9000#")}`,
    ];
    for (const spec of specs) {
      const msg = await refused(spec);
      assert.match(msg, /endpoint.*must not have a (query|fragment)/, spec);
      assert.doesNotMatch(msg, /FwoGZXIvYXdz|Security-Token/, `${spec}: quoted`);
      assert.throws(() => parseStoreUrl(spec, { kinds: ["s3", "r2", "http"] }), /InvalidArgument/);
    }
    // The default endpoint of the environment, and S3Store's own option, follow the same rule.
    for (const endpoint of [`http://127.0.0.1:9000?${token}`, "http://127.0.0.1:9000#x", "https://h/?"]) {
      const e = await openStoreUrl("s3://bucket/p", (k) =>
        k === "AWS_ENDPOINT_URL" ? endpoint : env(k),
      ).then(
        () => undefined,
        (x: unknown) => x as Error,
      );
      assert.match(String(e?.message), /^\[InvalidArgument\] .*must not have a (query|fragment)/, endpoint);
      assert.doesNotMatch(String(e?.message), /Security-Token/);
      const direct = (() => {
        try {
          new S3Store({
            endpoint,
            bucket: "b",
            region: "r",
            accessKeyId: "AKID",
            secretAccessKey: "SECRETKEY",
          });
        } catch (x) {
          return x as Error;
        }
        return undefined;
      })();
      assert.match(
        String(direct?.message),
        /^\[InvalidArgument\] S3Store endpoint must not have a (query|fragment)/,
      );
      assert.doesNotMatch(String(direct?.message), /Security-Token/);
    }
  });

  it("a repeated or empty parameter is refused, not resolved by picking one", async () => {
    assert.match(await refused("s3://bucket/p?region=eu-west-1&region=us-east-1"), /region.*more than once/);
    assert.match(await refused("s3://bucket/p?region="), /region.*empty/);
    assert.match(await refused("s3://bucket/p?endpoint="), /endpoint.*empty/);
    assert.match(await refused("s3://bucket/p?path-style=maybe"), /path-style/);
    // The s3 grammar has no numeric parameters; an unknown one (a typo, or one
    // that looks numeric) is refused rather than ignored.
    assert.match(await refused("s3://bucket/p?part-size=NaN"), /unknown parameter "part-size"/);
  });
});

describe("file and http store URLs", () => {
  it("a file URL with a fragment or a query is refused; plain paths keep # literally", async () => {
    const dir = join(root, "a");
    assert.match(await refused(`${pathToFileURL(dir).href}#x`), /fragment/);
    assert.match(await refused(`${pathToFileURL(dir).href}?mode=ro`), /query/);
    const escaped = await openStoreUrl(pathToFileURL(join(root, "b#c")).href, env);
    assert.ok(escaped.store instanceof FileStore);
    assert.equal(escaped.store.dir, join(root, "b#c"));
    const plain = await openStoreUrl(join(root, "b#c"), env);
    assert.equal((plain.store as FileStore).dir, join(root, "b#c"));
  });

  it("an http URL with a fragment is refused, even an empty one", async () => {
    assert.match(await refused("https://example.test/objects/t#frag"), /fragment/);
    assert.match(await refused("https://example.test/objects/t#"), /fragment/);
    const ok = await openStoreUrl("https://example.test/objects/t", env);
    assert.ok(ok.store instanceof HttpStore);
  });
});

describe("the shared grammar (parseStoreUrl, used by the CLI and the worker)", () => {
  const refusedBy = (spec: string, kinds?: Parameters<typeof parseStoreUrl>[1]) => {
    try {
      parseStoreUrl(spec, kinds);
    } catch (e) {
      assert.equal((e as { code?: string }).code, "InvalidArgument", String(e));
      assert.doesNotMatch((e as Error).message, /SECRETKEY/);
      return (e as Error).message;
    }
    throw new Error(`${spec} was accepted`);
  };

  it("r2 URLs name a binding (case kept) and a prefix ending in /", () => {
    assert.deepEqual(parseStoreUrl("r2://MIRROR/tables/orders"), {
      kind: "r2",
      binding: "MIRROR",
      prefix: "tables/orders/",
      label: "r2://MIRROR/tables/orders/",
    });
    assert.equal((parseStoreUrl("r2://Mirror_2") as { prefix: string }).prefix, "");
    assert.equal((parseStoreUrl("r2://B/a%20b/") as { prefix: string }).prefix, "a b/");
  });

  it("r2 URLs with a query, a fragment, a port, credentials or a bad binding name are refused", () => {
    assert.match(refusedBy("r2://MIRROR/t?x=1"), /query/);
    assert.match(refusedBy("r2://MIRROR/t#x"), /fragment/);
    assert.match(refusedBy("r2://MIRROR:8080/t"), /port/);
    assert.match(refusedBy("r2://AKID:SECRETKEY@MIRROR/t"), /credentials/);
    assert.match(refusedBy("r2://9BUCKET/t"), /binding name/);
    assert.match(refusedBy("r2://my-bucket/t"), /binding name/);
    assert.match(refusedBy("r2:///t"), /binding name/);
  });

  it("a caller's kinds limit what parses, and the refusal lists what it takes", () => {
    const worker = { kinds: ["s3", "r2", "http"] as const };
    assert.match(
      refusedBy("/var/data", worker),
      /needs a scheme \(use s3:\/\/bucket\/prefix, r2:\/\/BINDING\/prefix, http\(s\):\/\/\.\.\.\)/,
    );
    assert.match(refusedBy("memory:demo", worker), /unknown store URL scheme "memory:"/);
    assert.match(refusedBy("r2://MIRROR/t", { kinds: ["s3"] }), /unknown store URL scheme "r2:"/);
  });

  it("an s3 URL keeps endpoint, region and path-style; a credential parameter is refused with the caller's hint", () => {
    assert.deepEqual(
      parseStoreUrl("s3://b/p/q?endpoint=http://127.0.0.1:9000&region=eu-west-1&path-style=true"),
      {
        kind: "s3",
        bucket: "b",
        prefix: "p/q",
        endpoint: "http://127.0.0.1:9000",
        region: "eu-west-1",
        pathStyle: true,
        label: "s3://b/p/q",
      },
    );
    const msg = refusedBy("s3://b/p?aws_secret=SECRETKEY", { credentialsHint: "name a secret instead" });
    assert.match(msg, /looks like a credential.*name a secret instead/);
    assert.match(refusedBy("s3://b/p?endpoint=ftp://x"), /bad endpoint.*http/);
  });
});
