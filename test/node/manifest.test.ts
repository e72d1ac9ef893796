import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { equals, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  createDataFileRef,
  createManifest,
  decodeManifest,
  diffManifests,
  encodeManifest,
  isTidemarkError,
  liveDataFiles,
  liveFileInfo,
  liveFiles,
  type Manifest,
} from "../../src/index.ts";
import { DataFileRefSchema, ManifestSchema } from "../../src/manifest/gen/manifest_pb.ts";
import { seededRandom } from "../../src/testing/index.ts";

const root = join(import.meta.dirname, "../..");
const fixtures = join(root, "test/fixtures");
const goldenBin = new Uint8Array(readFileSync(join(fixtures, "golden-v1.manifest.bin")));
const goldenTxt = readFileSync(join(fixtures, "golden-v1.manifest.txt"), "utf8");

/** The golden manifest (test/fixtures/golden-v1.manifest.txt) built in TypeScript: every field set. */
function golden(): Manifest {
  return createManifest({
    snapshotId: 7n,
    sequenceNumber: 1234567890123n,
    schemaId: 3,
    partitionSpecId: -2,
    dataFiles: [
      {
        path: "data/L0/0001-é.parquet",
        fileSize: 4096n,
        numRows: 100n,
        level: 2,
        seqMin: -5n,
        seqMax: 9007199254740993n, // above 2^53: int64 must stay exact
        keyMin: new Uint8Array([0, 1, 0x61]),
        keyMax: new Uint8Array([0xff, 0xfe, 0x7a]),
        dvPath: "data/dv/0001.puffin",
        dvOffset: 4n,
        dvLength: 60n,
        status: 1,
        format: 1,
        firstRowId: 500n,
      },
      { path: "data/L1/0000.parquet", fileSize: 1n, status: 2 },
      {
        path: "data/L1/0002.parquet",
        fileSize: 77n,
        numRows: 3n,
        dvPath: "data/dv/0001.puffin",
        dvOffset: 64n,
        dvLength: 8n,
        // Explicit presence of zero values (proto3 `optional`).
        format: 0,
        firstRowId: 0n,
      },
    ],
    deleteFiles: [
      { path: "data/del/pos-1.parquet", fileSize: 321n, content: 1 },
      { path: "data/del/eq-1.parquet", fileSize: 12n, content: 2 },
    ],
    previousSnapshotId: 6n,
    tableUuid: "3f0e8a9c-1d2b-4c5d-8e6f-7a8b9c0d1e2f",
    lastUpdatedMs: 1795305600000n,
    properties: { owner: "tidemark", "write.format": "parquet" },
    lastColumnId: 42,
    nextRowId: 603n,
    firstRowId: 500n,
  });
}

function frame(payload: Uint8Array, version = 1, length = payload.length): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out.set([0x4d, 0x52, 0x55, 0x42, version], 0);
  new DataView(out.buffer).setUint32(5, length, true);
  out.set(payload, 9);
  return out;
}

const protocArgs = ["-I", join(root, "src/manifest"), "manifest.proto"];
function protocDecode(payload: Uint8Array): string {
  const r = spawnSync("protoc", ["--decode=merutable.catalog.v1.Manifest", ...protocArgs], {
    input: payload,
  });
  if (r.status !== 0) throw new Error(`protoc --decode failed: ${r.stderr}`);
  return r.stdout.toString("utf8");
}
function protocEncode(text: string): Uint8Array {
  const r = spawnSync("protoc", ["--encode=merutable.catalog.v1.Manifest", ...protocArgs], { input: text });
  if (r.status !== 0) throw new Error(`protoc --encode failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

function corruptMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isTidemarkError(e, "Corrupt"), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected Corrupt");
}

function codeOfSync(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? "not a TidemarkError";
  }
}

describe("manifest codec", () => {
  it("encodes the golden manifest byte for byte as protoc does", () => {
    expect(encodeManifest(golden())).toEqual(goldenBin);
  });

  it("decodes the golden file (written by protoc --encode) to every field", () => {
    const m = decodeManifest(goldenBin);
    expect(equals(ManifestSchema, m, golden())).toBe(true);
    expect(m.dataFiles[0]?.seqMax).toBe(9007199254740993n);
    expect(m.dataFiles[2]?.format).toBe(0); // presence kept for an explicit zero
    expect(m.dataFiles[1]?.format).toBeUndefined();
    expect(m.previousSnapshotId).toBe(6n);
  });

  it("round-trips: decode(encode(m)) equals m, and v1 manifests have no previous_snapshot_id", () => {
    const m = golden();
    expect(equals(ManifestSchema, decodeManifest(encodeManifest(m)), m)).toBe(true);
    const empty = createManifest({ snapshotId: 1n });
    const back = decodeManifest(encodeManifest(empty));
    expect(back.previousSnapshotId).toBeUndefined();
    expect(back.dataFiles).toEqual([]);
    expect(encodeManifest(createManifest()).length).toBe(9); // empty payload
  });

  it("protoc --decode reads tidemark-encoded payloads to the golden text", () => {
    expect(protocDecode(encodeManifest(golden()).subarray(9))).toBe(goldenTxt);
  });

  it("protoc --encode output, framed, decodes in tidemark", () => {
    const payload = protocEncode(goldenTxt);
    expect(equals(ManifestSchema, decodeManifest(frame(payload)), golden())).toBe(true);
    const small = protocEncode(
      'snapshot_id: 2\nprevious_snapshot_id: 1\ndata_files { path: "a/b.parquet" file_size: 5 status: 1 }\n',
    );
    const m = decodeManifest(frame(small));
    expect(m.snapshotId).toBe(2n);
    expect(liveFiles(m)).toEqual(["a/b.parquet"]);
  });

  it("ignores trailing bytes past the stated length", () => {
    const withTail = new Uint8Array([...goldenBin, 1, 2, 3, 0xff]);
    expect(equals(ManifestSchema, decodeManifest(withTail), golden())).toBe(true);
    // Also from a subarray with a non-zero byteOffset.
    const padded = new Uint8Array([9, 9, 9, ...goldenBin]);
    expect(equals(ManifestSchema, decodeManifest(padded.subarray(3)), golden())).toBe(true);
  });

  it("every frame check fails Corrupt and names the check", () => {
    expect(corruptMessage(() => decodeManifest(new Uint8Array(0)))).toMatch(
      /^\[Corrupt\] cannot decode manifest: short frame/,
    );
    expect(corruptMessage(() => decodeManifest(goldenBin.subarray(0, 8)))).toMatch(/short frame/);
    const badMagic = goldenBin.slice();
    badMagic[0] = 0x4e;
    expect(corruptMessage(() => decodeManifest(badMagic))).toMatch(/cannot decode manifest: bad magic/);
    const v2 = goldenBin.slice();
    v2[4] = 2;
    expect(corruptMessage(() => decodeManifest(v2))).toMatch(/unsupported format version 2/);
    const v0 = goldenBin.slice();
    v0[4] = 0;
    expect(corruptMessage(() => decodeManifest(v0))).toMatch(/unsupported format version 0/);
    expect(corruptMessage(() => decodeManifest(goldenBin.subarray(0, goldenBin.length - 1)))).toMatch(
      /truncated payload \(header says 362 bytes, 361 present\)/,
    );
    expect(corruptMessage(() => decodeManifest(frame(new Uint8Array(0), 1, 0xffffffff)))).toMatch(
      /truncated payload/,
    );
    // A payload that is not protobuf (a length-delimited field running past the end).
    expect(corruptMessage(() => decodeManifest(frame(new Uint8Array([0x2a, 0x7f, 0x01]))))).toMatch(
      /invalid protobuf payload/,
    );
    // Wire type 7 does not exist.
    expect(corruptMessage(() => decodeManifest(frame(new Uint8Array([0x0f, 0x01]))))).toMatch(
      /invalid protobuf payload/,
    );
  });

  it("keeps unknown fields through decode and encode, at both message levels", () => {
    const ref = createDataFileRef({ path: "data/x.parquet", fileSize: 10n, status: 1 });
    const refBytes = new BinaryWriter()
      .raw(toBinary(DataFileRefSchema, ref))
      .tag(15, WireType.LengthDelimited) // reserved today: a future field
      .string("future-dv-checksum")
      .finish();
    const payload = new BinaryWriter()
      .tag(1, WireType.Varint)
      .int64(3n)
      .tag(5, WireType.LengthDelimited)
      .bytes(refBytes)
      .tag(30, WireType.Varint)
      .int64(99n)
      .tag(14, WireType.Bit64)
      .fixed64(7n)
      .finish();
    const original = frame(payload);
    const m = decodeManifest(original);
    expect(m.$unknown?.map((u) => u.no)).toEqual([30, 14]);
    expect(m.dataFiles[0]?.$unknown?.[0]?.no).toBe(15);
    expect(encodeManifest(m)).toEqual(original);
    // protoc (which knows the schema) sees the unknown fields too.
    const text = protocDecode(encodeManifest(m).subarray(9));
    expect(text).toContain("30: 99");
    expect(text).toContain('15: "future-dv-checksum"');
  });

  it("rejects bad entry paths: InvalidArgument on encode, Corrupt on decode", () => {
    const bad = [
      "",
      "/abs/file.parquet",
      "data/../secret",
      "..",
      "data/./x",
      "data//x",
      "data/x/",
      "data\\x",
      "data/x\u0000",
      "data/\nx",
      "data/\u007fx",
      "data/\u0085x",
      // The table's own control files: a mirror or a restore would copy a "data file" over them.
      "version-hint.text",
      "version-hint.text.tmp",
      "metadata/v2.metadata.pb",
      "metadata/v2.manifest.bin",
      "metadata/low_water.txt",
      "metadata",
    ];
    for (const p of bad) {
      for (const m of [
        createManifest({ dataFiles: [{ path: p }] }),
        createManifest({ dataFiles: [{ path: "data/ok", dvPath: p }] }),
        createManifest({ deleteFiles: [{ path: p }] }),
      ]) {
        expect(
          codeOfSync(() => encodeManifest(m)),
          JSON.stringify(p),
        ).toBe("InvalidArgument");
        // The same manifest written by another implementation (no validation on that side).
        const foreign = frame(toBinary(ManifestSchema, m));
        expect(
          codeOfSync(() => decodeManifest(foreign)),
          JSON.stringify(p),
        ).toBe("Corrupt");
      }
    }
    const msg = corruptMessage(() =>
      decodeManifest(
        frame(
          toBinary(ManifestSchema, createManifest({ dataFiles: [{ path: "data/ok" }, { path: "../x" }] })),
        ),
      ),
    );
    expect(msg).toMatch(/data_files\[1\]\.path "\.\.\/x" has a "\.\." segment/);
    const control = corruptMessage(() =>
      decodeManifest(
        frame(toBinary(ManifestSchema, createManifest({ dataFiles: [{ path: "version-hint.text" }] }))),
      ),
    );
    expect(control).toMatch(
      /data_files\[0\]\.path "version-hint\.text" names the table's version-hint\.text/,
    );
    const good = [
      "data/x.parquet",
      "a",
      "data/é/ü 1+2=3~(x).parquet",
      "data/.hidden",
      "data/x..y",
      "data/😀.puffin",
      "data/metadata/x.parquet",
      "data/version-hint.text",
      "metadata.parquet",
    ];
    for (const p of good) {
      const m = createManifest({ dataFiles: [{ path: p, dvPath: p }], deleteFiles: [{ path: p }] });
      expect(liveFiles(decodeManifest(encodeManifest(m)))).toEqual([p]);
    }
  });
});

describe("live files and diff", () => {
  it("liveFiles: data files with status != deleted plus their dv paths, deduplicated, in order", () => {
    expect(liveFiles(golden())).toEqual([
      "data/L0/0001-é.parquet",
      "data/dv/0001.puffin",
      "data/L1/0002.parquet",
    ]);
    expect(liveDataFiles(golden()).map((f) => f.path)).toEqual([
      "data/L0/0001-é.parquet",
      "data/L1/0002.parquet",
    ]);
  });

  it("liveFileInfo: exact sizes of data files, a lower bound for dv files", () => {
    expect(liveFileInfo(golden())).toEqual([
      { path: "data/L0/0001-é.parquet", kind: "data", size: 4096, minSize: 4096 },
      { path: "data/dv/0001.puffin", kind: "dv", minSize: 72 },
      { path: "data/L1/0002.parquet", kind: "data", size: 77, minSize: 77 },
    ]);
  });

  it("diffManifests: added and removed live files, from nothing too", () => {
    const a = createManifest({
      dataFiles: [
        { path: "d/1", status: 0 },
        { path: "d/2", status: 0, dvPath: "d/dv1" },
        { path: "d/gone", status: 2 },
      ],
    });
    const b = createManifest({
      dataFiles: [
        { path: "d/2", status: 0, dvPath: "d/dv2" },
        { path: "d/3", status: 1 },
        { path: "d/1", status: 2 },
      ],
    });
    expect(diffManifests(a, b)).toEqual({ added: ["d/dv2", "d/3"], removed: ["d/1", "d/dv1"] });
    expect(diffManifests(b, b)).toEqual({ added: [], removed: [] });
    expect(diffManifests(undefined, a)).toEqual({ added: ["d/1", "d/2", "d/dv1"], removed: [] });
  });
});

describe("fuzz", () => {
  it("10,000 mutated and random byte strings: only Corrupt errors, no other throw, no hang", () => {
    const rand = seededRandom(0x71de);
    const int = (n: number) => Math.floor(rand() * n);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
    const started = Date.now();
    const outcomes = { decoded: 0, corrupt: 0 };
    for (let i = 0; i < 10_000; i++) {
      let input: Uint8Array;
      switch (i % 5) {
        case 0: // random bytes
          input = bytes(int(64));
          break;
        case 1: {
          // golden with a few bytes flipped (header included)
          input = goldenBin.slice();
          for (let k = 1 + int(8); k > 0; k--) input[int(input.length)] = int(256);
          break;
        }
        case 2: // a valid header around a random payload
          input = frame(bytes(int(200)));
          break;
        case 3: {
          // golden truncated, with the header's length possibly rewritten
          input = goldenBin.slice(0, int(goldenBin.length + 1));
          if (input.length >= 9 && rand() < 0.5) new DataView(input.buffer).setUint32(5, int(400), true);
          break;
        }
        default: {
          // golden payload with bytes inserted or deleted, re-framed with a correct length
          const p = Array.from(goldenBin.subarray(9));
          for (let k = 1 + int(4); k > 0; k--) {
            if (rand() < 0.5) p.splice(int(p.length), 1);
            else p.splice(int(p.length + 1), 0, int(256));
          }
          input = frame(Uint8Array.from(p));
        }
      }
      try {
        const m = decodeManifest(input);
        outcomes.decoded++;
        // Whatever decodes is a valid manifest: it re-encodes and decodes to the same thing.
        expect(equals(ManifestSchema, decodeManifest(encodeManifest(m)), m)).toBe(true);
      } catch (e) {
        if (!isTidemarkError(e, "Corrupt"))
          throw new Error(`input ${i} threw a non-Corrupt error: ${String(e)}`);
        expect((e as Error).message).toMatch(/^\[Corrupt\] cannot decode manifest: /);
        outcomes.corrupt++;
      }
    }
    expect(outcomes.decoded + outcomes.corrupt).toBe(10_000);
    expect(outcomes.corrupt).toBeGreaterThan(1000);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
