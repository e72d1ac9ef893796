/**
 * S3 XML parsing and error mapping edge cases, with a fake fetch serving
 * canned answers of AWS, R2 and RGW (the real wire is tested on RGW in
 * s3-store.test.ts; these are the answers RGW cannot be made to give).
 */
import assert from "node:assert/strict";
import { md5 } from "@noble/hashes/legacy.js";
import { describe, it } from "vitest";
import { type FetchLike, retrying, S3Store } from "../../src/index.ts";
import { classifyS3Error } from "../../src/store/s3/errors.ts";
import { parseS3Error } from "../../src/store/s3/xml.ts";
import { faulty } from "../../src/testing/index.ts";
import { assertRejectsOption, BAD_VALUES, codeOf, collect } from "../support/harness.ts";

interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}
type Answer = { status: number; body?: string; headers?: Record<string, string> };

/** A store whose fetch answers from `route` (called with every request in order). */
function fake(route: (c: Call, n: number) => Answer, extra: Record<string, unknown> = {}) {
  const calls: Call[] = [];
  const f: FetchLike = async (input, init) => {
    const body =
      init?.body instanceof Uint8Array
        ? new TextDecoder().decode(init.body)
        : init?.body instanceof ReadableStream
          ? await new Response(init.body).text() // like fetch: a failing body stream rejects
          : "";
    const call = {
      method: init?.method ?? "GET",
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      body,
    };
    calls.push(call);
    const a = route(call, calls.length);
    return new Response(a.status === 204 || a.status === 304 ? null : (a.body ?? ""), {
      status: a.status,
      headers: a.headers ?? {},
    });
  };
  const store = new S3Store({
    endpoint: "http://s3.test",
    bucket: "b",
    region: "us-east-1",
    accessKeyId: "AKID",
    secretAccessKey: "secret-key-value",
    forcePathStyle: true,
    fetch: f,
    retry: { baseDelayMs: 1, maxDelayMs: 2 },
    ...extra,
  });
  return { store, calls };
}

const xmlError = (code: string, message = "msg") =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>req-1</RequestId></Error>`;

describe("classifyS3Error: the one mapping", () => {
  const cases: [string, Parameters<typeof classifyS3Error>[0], string][] = [
    ["network error", {}, "Transient"],
    [
      "412 on create (AWS, RGW, R2)",
      { status: 412, s3Code: "PreconditionFailed", condition: "create" },
      "AlreadyExists",
    ],
    ["304 on create (RFC 9110 If-None-Match)", { status: 304, condition: "create" }, "AlreadyExists"],
    [
      "409 ConditionalRequestConflict on create",
      { status: 409, s3Code: "ConditionalRequestConflict", condition: "create" },
      "Transient",
    ],
    [
      "409 ConditionalRequestConflict on ifMatch",
      { status: 409, s3Code: "ConditionalRequestConflict", condition: "ifMatch" },
      "Transient",
    ],
    [
      "412 on ifMatch",
      { status: 412, s3Code: "PreconditionFailed", condition: "ifMatch" },
      "PreconditionFailed",
    ],
    [
      "404 NoSuchKey on ifMatch (AWS)",
      { status: 404, s3Code: "NoSuchKey", condition: "ifMatch" },
      "PreconditionFailed",
    ],
    [
      "500 on racing ifMatch (RGW 16)",
      { status: 500, s3Code: "UnknownError", condition: "ifMatch" },
      "Transient",
    ],
    ["403 AccessDenied", { status: 403, s3Code: "AccessDenied" }, "PermissionDenied"],
    ["403 SignatureDoesNotMatch", { status: 403, s3Code: "SignatureDoesNotMatch" }, "PermissionDenied"],
    ["400 ExpiredToken", { status: 400, s3Code: "ExpiredToken" }, "PermissionDenied"],
    ["429 (R2 per-key write rate)", { status: 429 }, "Transient"],
    ["503 SlowDown", { status: 503, s3Code: "SlowDown" }, "Transient"],
    ["500 InternalError", { status: 500, s3Code: "InternalError" }, "Transient"],
    ["502 from a proxy", { status: 502 }, "Transient"],
    ["400 RequestTimeout", { status: 400, s3Code: "RequestTimeout" }, "Transient"],
    [
      "200 with InternalError (CompleteMultipartUpload)",
      { status: 200, s3Code: "InternalError" },
      "Transient",
    ],
    ["200 with an unknown code", { status: 200, s3Code: "Weird" }, "Unknown"],
    ["404 NoSuchKey", { status: 404, s3Code: "NoSuchKey" }, "NotFound"],
    ["404 without a body (HEAD)", { status: 404 }, "NotFound"],
    ["404 NoSuchUpload", { status: 404, s3Code: "NoSuchUpload" }, "NotFound"],
    ["416 InvalidRange", { status: 416, s3Code: "InvalidRange" }, "InvalidArgument"],
    ["411 MissingContentLength", { status: 411, s3Code: "MissingContentLength" }, "InvalidArgument"],
    ["501 NotImplemented", { status: 501, s3Code: "NotImplemented" }, "NotSupported"],
    ["412 without a condition", { status: 412 }, "PreconditionFailed"],
    ["400 BadDigest (a checksum that is not the body's)", { status: 400, s3Code: "BadDigest" }, "Corrupt"],
    [
      "400 XAmzContentChecksumMismatch (a trailer)",
      { status: 400, s3Code: "XAmzContentChecksumMismatch" },
      "Corrupt",
    ],
    ["409 BucketNotEmpty", { status: 409, s3Code: "BucketNotEmpty" }, "Unknown"],
  ];
  for (const [name, input, code] of cases) {
    it(`${name} is ${code}`, () => assert.equal(classifyS3Error(input), code));
  }
});

describe("parseS3Error", () => {
  it("reads AWS, R2 and RGW error bodies", () => {
    assert.deepEqual(parseS3Error(xmlError("NoSuchKey", "The specified key does not exist.")), {
      code: "NoSuchKey",
      message: "The specified key does not exist.",
      requestId: "req-1",
    });
    // R2: no XML declaration, no RequestId.
    assert.deepEqual(
      parseS3Error(
        "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
      ),
      {
        code: "PreconditionFailed",
        message: "At least one of the pre-conditions you specified did not hold",
      },
    );
    // RGW 16: BucketName, RequestId and HostId, no Message.
    assert.deepEqual(
      parseS3Error(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><BucketName>test-bucket</BucketName><RequestId>tx0000</RequestId><HostId>abc-default</HostId></Error>',
      ),
      { code: "PreconditionFailed", requestId: "tx0000" },
    );
  });
  it("truncated XML, HTML and empty bodies are not errors it can read", () => {
    assert.equal(parseS3Error(xmlError("NoSuchKey").slice(0, 60)), undefined);
    assert.equal(parseS3Error("<html><body>502 Bad Gateway</body></html>"), undefined);
    assert.equal(parseS3Error(""), undefined);
    assert.equal(parseS3Error("<ListBucketResult></ListBucketResult>"), undefined);
  });
});

describe("S3Store against canned answers", () => {
  it("create: 412 (AWS/RGW), 304 and R2's 412 are AlreadyExists", async () => {
    for (const a of [
      { status: 412, body: xmlError("PreconditionFailed") },
      { status: 304 },
      {
        status: 412,
        body: "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
      },
    ]) {
      const { store, calls } = fake(() => a);
      assert.equal(await codeOf(store.put("k", "v", { mode: "create" })), "AlreadyExists");
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.headers.get("if-none-match"), "*");
      assert.match(calls[0]?.headers.get("x-amz-meta-tidemark-writer") ?? "", /^[0-9a-f]{32}$/);
    }
  });

  it("409 ConditionalRequestConflict is retried; the retry's 412 with our own token is success", async () => {
    let token = "";
    const { store, calls } = fake((c, n) => {
      token ||= c.headers.get("x-amz-meta-tidemark-writer") ?? "";
      if (n === 1) return { status: 500, body: xmlError("InternalError") }; // landed, answer lost
      if (n === 2) return { status: 412, body: xmlError("PreconditionFailed") };
      return {
        status: 200,
        headers: { etag: '"e1"', "content-length": "1", "x-amz-meta-tidemark-writer": token },
      };
    });
    assert.deepEqual(await store.put("k", "v", { mode: "create" }), { etag: "e1" });
    assert.deepEqual(
      calls.map((c) => c.method),
      ["PUT", "PUT", "HEAD"],
    );
    const conflict = fake((_c, n) =>
      n === 1
        ? { status: 409, body: xmlError("ConditionalRequestConflict") }
        : { status: 200, headers: { etag: '"e2"' } },
    );
    assert.deepEqual(await conflict.store.put("k", "v", { mode: "create" }), { etag: "e2" });
    assert.equal(conflict.calls.length, 2);
  });

  it("retrying(faulty(S3Store)): a create whose response was lost is ours (one writer token across layers)", async () => {
    let stored: string | undefined;
    const { store } = fake((c) => {
      if (c.method === "PUT") {
        if (stored !== undefined) return { status: 412, body: xmlError("PreconditionFailed") };
        stored = c.headers.get("x-amz-meta-tidemark-writer") ?? "";
        return { status: 200, headers: { etag: '"e1"' } };
      }
      if (stored === undefined) return { status: 404 };
      return {
        status: 200,
        headers: { etag: '"e1"', "content-length": "1", "x-amz-meta-tidemark-writer": stored },
      };
    });
    // The outer retry's token must be the one stored, or its own write looks like a conflict.
    const s = retrying(faulty(store, { lostResponseAt: [1] }), { baseDelayMs: 1 });
    assert.deepEqual(await s.put("k", "v", { mode: "create" }), { etag: "e1" });
  });

  it("a retried create that finds another writer's object is AlreadyExists", async () => {
    const { store } = fake((_c, n) => {
      if (n === 1) return { status: 503, body: xmlError("SlowDown") };
      if (n === 2) return { status: 412, body: xmlError("PreconditionFailed") };
      return { status: 200, headers: { etag: '"e1"', "x-amz-meta-tidemark-writer": "someone-else" } };
    });
    assert.equal(await codeOf(store.put("k", "v", { mode: "create" })), "AlreadyExists");
  });

  it("ifMatch: unquoted etag on the wire; AWS 404 is PreconditionFailed; RGW 500 is Transient and not retried", async () => {
    const aws = fake(() => ({ status: 404, body: xmlError("NoSuchKey") }));
    assert.equal(await codeOf(aws.store.put("k", "v", { mode: { ifMatch: "abc" } })), "PreconditionFailed");
    assert.equal(aws.calls[0]?.headers.get("if-match"), "abc");
    const quoted = fake(() => ({ status: 200, headers: { etag: '"new"' } }));
    assert.deepEqual(await quoted.store.put("k", "v", { mode: { ifMatch: '"abc"' } }), { etag: "new" });
    assert.equal(quoted.calls[0]?.headers.get("if-match"), "abc");
    const rgw = fake(() => ({ status: 500, body: xmlError("UnknownError") }));
    assert.equal(await codeOf(rgw.store.put("k", "v", { mode: { ifMatch: "abc" } })), "Transient");
    assert.equal(rgw.calls.length, 1, "an ambiguous CAS failure is not retried");
    const slow = fake((_c, n) =>
      n < 3 ? { status: 503, body: xmlError("SlowDown") } : { status: 200, headers: { etag: '"x"' } },
    );
    assert.deepEqual(await slow.store.put("k", "v", { mode: { ifMatch: "abc" } }), { etag: "x" });
    assert.equal(slow.calls.length, 3, "SlowDown refused the write: retried");
    const empty = fake(() => ({ status: 200 }));
    assert.equal(await codeOf(empty.store.put("k", "v", { mode: { ifMatch: "" } })), "PreconditionFailed");
    assert.equal(empty.calls.length, 0, "an empty If-Match would prefix-match anything on RGW 16");
  });

  it("429, 5xx and network errors are retried up to the policy, then Transient", async () => {
    const { store, calls } = fake(() => ({ status: 429, body: "" }), {
      retry: { maxAttempts: 3, baseDelayMs: 1 },
    });
    assert.equal(await codeOf(store.get("k")), "Transient");
    assert.equal(calls.length, 3);
    let n = 0;
    const flaky: FetchLike = async () => {
      if (++n < 3) throw new TypeError("fetch failed", { cause: new Error("ECONNRESET") });
      return new Response("hello", { status: 200, headers: { etag: '"e"', "content-length": "5" } });
    };
    const s = new S3Store({
      endpoint: "http://s3.test",
      bucket: "b",
      region: "r",
      accessKeyId: "a",
      secretAccessKey: "s",
      fetch: flaky,
      retry: { baseDelayMs: 1 },
    });
    assert.equal(await (await s.get("k")).text(), "hello");
  });

  it("403 SignatureDoesNotMatch is PermissionDenied and does not echo the signature", async () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><AWSAccessKeyId>AKID</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20260101T000000Z</StringToSign><SignatureProvided>deadbeefdeadbeef</SignatureProvided></Error>`;
    const { store } = fake(() => ({ status: 403, body }));
    const e = await store.head("k").then(
      () => assert.fail("expected an error"),
      (x: unknown) => x as Error,
    );
    assert.equal(await codeOf(Promise.reject(e)), "PermissionDenied");
    const g = await store.get("k").then(
      () => assert.fail("expected an error"),
      (x: unknown) => x as Error,
    );
    assert.match(g.message, /HTTP 403 SignatureDoesNotMatch/);
    assert.doesNotMatch(g.message, /deadbeef|AKID|secret-key-value/);
  });

  it("416 is InvalidArgument; a 200 to a range request is sliced locally", async () => {
    const { store } = fake(() => ({ status: 416, body: xmlError("InvalidRange") }));
    assert.equal(await codeOf(store.get("k", { range: { offset: 5 } })), "InvalidArgument");
    const ignoring = fake(() => ({
      status: 200,
      body: "0123456789",
      headers: { "content-length": "10", etag: '"e"' },
    }));
    const got = await ignoring.store.get("k", { range: { offset: 2, length: 3 } });
    assert.equal(got.size, 3);
    assert.equal(await got.text(), "234");
    assert.equal(ignoring.calls[0]?.headers.get("range"), "bytes=2-4");
    const whole = fake(() => ({ status: 200, body: "", headers: { "content-length": "0", etag: '"e"' } }));
    await whole.store.get("k", { range: { offset: 0 } });
    assert.equal(whole.calls[0]?.headers.get("range"), null, "no Range header for offset 0 without length");
  });

  it("an HTML 502 from a proxy is Transient", async () => {
    const { store } = fake(() => ({ status: 502, body: "<html><body>Bad Gateway</body></html>" }), {
      retry: { maxAttempts: 1 },
    });
    assert.equal(await codeOf(store.get("k")), "Transient");
  });
});

describe("stream bodies", () => {
  const streamOf = (...parts: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(new TextEncoder().encode(p));
        c.close();
      },
    });

  it("are sent once with Content-Length: a 503 is returned, not retried", async () => {
    const { store, calls } = fake(() => ({ status: 503, body: xmlError("SlowDown") }));
    assert.equal(await codeOf(store.put("k", streamOf("ab", "cd"), { size: 4 })), "Transient");
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.headers.get("content-length"), "4");
    assert.equal(calls[0]?.headers.get("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    assert.equal(calls[0]?.body, "abcd");
  });

  it("a stream shorter or longer than its size is InvalidArgument", async () => {
    const { store } = fake(() => ({ status: 200, headers: { etag: '"e"' } }));
    assert.equal(await codeOf(store.put("k", streamOf("abc"), { size: 4 })), "InvalidArgument");
    assert.equal(await codeOf(store.put("k", streamOf("abcde"), { size: 4 })), "InvalidArgument");
  });

  it("with streamingUploads: false a stream is read first, then retried like bytes", async () => {
    const { store, calls } = fake(
      (_c, n) =>
        n === 1
          ? { status: 500, body: xmlError("InternalError") }
          : { status: 200, headers: { etag: '"e"' } },
      { streamingUploads: false },
    );
    assert.deepEqual(await store.put("k", streamOf("ab", "cd"), { size: 4 }), { etag: "e" });
    assert.deepEqual(
      calls.map((c) => c.body),
      ["abcd", "abcd"],
    );
  });
});

describe("ListObjectsV2 answers", () => {
  const page = (inner: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</ListBucketResult>`;

  it("AWS: url-encoded keys (+ is a space, %2B a plus), quoted etags, interleaved common prefixes, paging", async () => {
    const { store, calls } = fake((c) => {
      if (!c.url.searchParams.has("continuation-token")) {
        return {
          status: 200,
          body: page(
            `<Name>b</Name><Prefix>p%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=1</NextContinuationToken>` +
              `<Contents><Key>p%2Fa+b%2Bc</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>` +
              `<Contents><Key>p%2Fz</Key><ETag>&quot;e2-3&quot;</ETag><Size>7</Size></Contents>` +
              `<CommonPrefixes><Prefix>p%2Fm%2F</Prefix></CommonPrefixes>`,
          ),
        };
      }
      return {
        status: 200,
        body: page(
          `<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>p%2F%F0%9F%A6%80</Key><ETag>"e3"</ETag><Size>00012</Size></Contents>`,
        ),
      };
    });
    const out = await collect(store.list("p/", { delimiter: "/" }));
    assert.deepEqual(out, [
      { key: "p/a b+c", size: 5, etag: "e1", lastModified: new Date("2026-01-02T03:04:05.000Z") },
      { key: "p/m/", size: 0, etag: "", isPrefix: true },
      { key: "p/z", size: 7, etag: "e2-3" },
      { key: "p/🦀", size: 12, etag: "e3" },
    ]);
    assert.equal(calls[1]?.url.searchParams.get("continuation-token"), "tok+/=1");
    assert.equal(calls[0]?.url.searchParams.get("encoding-type"), "url");
    assert.equal(calls[0]?.url.searchParams.get("prefix"), "p/");
  });

  it("R2/RGW: a single Contents, no EncodingType echoed means keys are taken as they are", async () => {
    const { store } = fake(() => ({
      status: 200,
      body: page(
        `<IsTruncated>false</IsTruncated><Contents><Key>00012 a+b%41</Key><ETag>&quot;x&quot;</ETag><Size>1</Size></Contents>`,
      ),
    }));
    assert.deepEqual(
      (await collect(store.list(""))).map((m) => m.key),
      ["00012 a+b%41"],
    );
  });

  it("truncated without a continuation token continues with start-after", async () => {
    const { store, calls } = fake((_c, n) => ({
      status: 200,
      body: page(
        n === 1
          ? `<IsTruncated>true</IsTruncated><Contents><Key>a</Key><ETag>"1"</ETag><Size>1</Size></Contents>`
          : `<IsTruncated>false</IsTruncated><Contents><Key>b</Key><ETag>"2"</ETag><Size>1</Size></Contents>`,
      ),
    }));
    assert.deepEqual(
      (await collect(store.list(""))).map((m) => m.key),
      ["a", "b"],
    );
    assert.equal(calls[1]?.url.searchParams.get("start-after"), "a");
  });

  it("a truncated XML page under HTTP 200 is retried, then Transient", async () => {
    const good = page(
      `<IsTruncated>false</IsTruncated><Contents><Key>a</Key><ETag>"1"</ETag><Size>1</Size></Contents>`,
    );
    const { store, calls } = fake((_c, n) => ({ status: 200, body: n === 1 ? good.slice(0, 120) : good }));
    assert.equal((await collect(store.list(""))).length, 1);
    assert.equal(calls.length, 2);
    const broken = fake(() => ({ status: 200, body: good.slice(0, 120) }), {
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    assert.equal(await codeOf(collect(broken.store.list(""))), "Transient");
  });

  it("an empty listing", async () => {
    const { store } = fake(() => ({
      status: 200,
      body: page("<Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"),
    }));
    assert.deepEqual(await collect(store.list("x/")), []);
  });
});

describe("DeleteObjects answers", () => {
  it("sends Content-MD5 of the XML body and reports per-key errors under HTTP 200", async () => {
    const { store, calls } = fake(() => ({
      status: 200,
      body: `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Error><Key>a&amp;b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`,
    }));
    const res = await store.deleteMany(["a&b", "c<d>", "e"]);
    assert.deepEqual(res, {
      deleted: 2,
      errors: [{ key: "a&b", code: "AccessDenied", message: "Access Denied" }],
    });
    const c = calls[0];
    assert.equal(c?.method, "POST");
    assert.equal(c?.url.search, "?delete=");
    const expected = btoa(String.fromCharCode(...md5(new TextEncoder().encode(c?.body ?? ""))));
    assert.equal(c?.headers.get("content-md5"), expected);
    assert.match(c?.body ?? "", /<Quiet>true<\/Quiet>/);
    assert.match(c?.body ?? "", /<Key>a&amp;b<\/Key><\/Object><Object><Key>c&lt;d&gt;<\/Key>/);
  });

  it("an empty quiet answer means all deleted; batches are 1,000 keys", async () => {
    const { store, calls } = fake(() => ({
      status: 200,
      body: '<?xml version="1.0"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
    }));
    const res = await store.deleteMany(Array.from({ length: 2001 }, (_, i) => `k${i}`));
    assert.deepEqual(res, { deleted: 2001, errors: [] });
    assert.deepEqual(
      calls.map((c) => (c.body.match(/<Object>/g) ?? []).length),
      [1000, 1000, 1],
    );
  });

  it("an error document for the whole request is mapped (403) and a truncated answer retried", async () => {
    const denied = fake(() => ({ status: 403, body: xmlError("AccessDenied") }));
    assert.equal(await codeOf(denied.store.deleteMany(["a"])), "PermissionDenied");
    const cut = fake((_c, n) => ({
      status: 200,
      body: n === 1 ? "<DeleteResult><Err" : "<DeleteResult></DeleteResult>",
    }));
    assert.deepEqual(await cut.store.deleteMany(["a"]), { deleted: 1, errors: [] });
    assert.equal(cut.calls.length, 2);
  });
});

describe("multipart answers", () => {
  const MiB = 1024 * 1024;
  const big = new Uint8Array(11 * MiB);
  const opts = { multipartThreshold: 10 * MiB, partSize: 5 * MiB, multipartConcurrency: 2 };
  const initiate = {
    status: 200,
    body: "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up+1/=</UploadId></InitiateMultipartUploadResult>",
  };

  it("CompleteMultipartUpload answering 200 with an <Error> body is retried", async () => {
    let completes = 0;
    const { store, calls } = fake((c) => {
      if (c.url.searchParams.has("uploads")) return initiate;
      if (c.method === "PUT")
        return { status: 200, headers: { etag: `"p${c.url.searchParams.get("partNumber")}"` } };
      if (c.method === "POST" && ++completes === 1)
        return {
          status: 200,
          body: xmlError("InternalError", "We encountered an internal error. Please try again."),
        };
      return {
        status: 200,
        body: "<CompleteMultipartUploadResult><ETag>&quot;abc-3&quot;</ETag></CompleteMultipartUploadResult>",
      };
    }, opts);
    assert.deepEqual(await store.put("k", big), { etag: "abc-3" });
    assert.equal(completes, 2);
    const complete = calls.find(
      (c) => c.method === "POST" && c.url.searchParams.get("uploadId") === "up+1/=",
    );
    assert.match(
      complete?.body ?? "",
      /^<CompleteMultipartUpload><Part><PartNumber>1<\/PartNumber><ETag>&quot;p1&quot;<\/ETag><\/Part>.*<PartNumber>3<\/PartNumber>/,
    );
  });

  it("a 200 <Error> that is not transient aborts the upload", async () => {
    const { store, calls } = fake((c) => {
      if (c.url.searchParams.has("uploads")) return initiate;
      if (c.method === "PUT") return { status: 200, headers: { etag: '"p"' } };
      if (c.method === "POST")
        return {
          status: 200,
          body: xmlError("InvalidPart", "One or more of the specified parts could not be found."),
        };
      return { status: 204 };
    }, opts);
    const e = await store.put("k", big).then(
      () => assert.fail("expected an error"),
      (x: unknown) => x as Error,
    );
    assert.equal(await codeOf(Promise.reject(e)), "Unknown");
    assert.match(e.message, /complete multipart upload "k": HTTP 200 InvalidPart/);
    assert.equal(calls.at(-1)?.method, "DELETE");
    assert.equal(calls.at(-1)?.url.searchParams.get("uploadId"), "up+1/=");
  });

  it("a completed upload whose answer was lost is recognised by its writer token", async () => {
    let token = "";
    let completes = 0;
    const { store } = fake((c) => {
      if (c.url.searchParams.has("uploads")) {
        token = c.headers.get("x-amz-meta-tidemark-writer") ?? "";
        return initiate;
      }
      if (c.method === "PUT") return { status: 200, headers: { etag: '"p"' } };
      if (c.method === "POST") {
        return ++completes === 1
          ? { status: 500, body: "" }
          : { status: 404, body: xmlError("NoSuchUpload") };
      }
      return {
        status: 200,
        headers: {
          etag: '"done-3"',
          "content-length": String(11 * MiB),
          "x-amz-meta-tidemark-writer": token,
        },
      };
    }, opts);
    assert.deepEqual(await store.put("k", big), { etag: "done-3" });
  });
});

describe("S3Store options", () => {
  const MiB = 1024 * 1024;
  const GiB = 1024 * MiB;
  const base = {
    endpoint: "http://s3.test",
    bucket: "b",
    region: "us-east-1",
    accessKeyId: "AKID",
    secretAccessKey: "secret-key-value",
  };
  const BAD = BAD_VALUES.number;

  it("every numeric option is InvalidArgument naming it, within S3's real limits", async () => {
    const make = (extra: Record<string, unknown>) => () => new S3Store({ ...base, ...extra });
    // Above 5 GiB a single PUT cannot carry the object: the threshold must send it as parts.
    await assertRejectsOption("multipartThreshold", [...BAD, 5 * GiB + 1], (v) =>
      make({ multipartThreshold: v })(),
    );
    // S3 parts are 5 MiB to 5 GiB (all but the last).
    await assertRejectsOption("partSize", [...BAD, 5 * MiB - 1, 5 * GiB + 1], (v) => make({ partSize: v })());
    await assertRejectsOption("multipartConcurrency", [...BAD, 0], (v) =>
      make({ multipartConcurrency: v })(),
    );
    await assertRejectsOption("maxKeys", [...BAD, 0, 1001], (v) => make({ maxKeys: v })());
    await assertRejectsOption("retry.maxAttempts", [Number.NaN, 0, 1.5, "8"], (v) =>
      make({ retry: { maxAttempts: v } })(),
    );
    await assertRejectsOption("retry.baseDelayMs", [...BAD, 2 ** 31], (v) =>
      make({ retry: { baseDelayMs: v } })(),
    );
    // The limits themselves are accepted.
    make({ multipartThreshold: 5 * GiB, partSize: 5 * GiB, maxKeys: 1, multipartConcurrency: 1 })();
    make({ multipartThreshold: 0, partSize: 5 * MiB, maxKeys: 1000 })();
  });

  it("a put larger than 10,000 parts of 5 GiB is NotSupported before any request", async () => {
    const { store, calls } = fake(() => ({ status: 500 }));
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    const e = await store.put("huge", body, { size: 10_000 * 5 * GiB + 1 }).catch((x: unknown) => x);
    assert.equal(await codeOf(Promise.reject(e)), "NotSupported");
    assert.match((e as Error).message, /10,000 parts/);
    assert.equal(calls.length, 0);
    assert.ok(cancelled, "the body is cancelled");
  });
});
