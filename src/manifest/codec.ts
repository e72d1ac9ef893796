import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { TidemarkError } from "../errors.ts";
import {
  type DataFileRef,
  DataFileRefSchema,
  type DeleteFileRef,
  DeleteFileRefSchema,
  type Manifest,
  ManifestSchema,
} from "./gen/manifest_pb.ts";
import { checkPath } from "./paths.ts";

/** The 4-byte magic that starts every manifest file: ASCII `MRUB`. */
const MANIFEST_MAGIC: Uint8Array = new Uint8Array([0x4d, 0x52, 0x55, 0x42]);
/** The only frame format version there is. */
const MANIFEST_FORMAT_VERSION = 1;
/** Bytes before the protobuf payload: magic (4), version (1), LE u32 payload length (4). */
const MANIFEST_HEADER_BYTES = 9;

/** `DataFileRef.status` values (merutable's, Iceberg's manifest-entry status). */
export const FILE_STATUS = { existing: 0, added: 1, deleted: 2 } as const;
/** `DataFileRef.format` values. */
export const FILE_FORMAT = { columnar: 0, dual: 1 } as const;
/** `DeleteFileRef.content` values. */
export const DELETE_CONTENT = { position: 1, equality: 2 } as const;

/** Fields of a {@link Manifest} for {@link createManifest} (all optional; int64 fields are `bigint`). */
export type ManifestInit = MessageInitShape<typeof ManifestSchema>;
/** Fields of a {@link DataFileRef} for {@link createDataFileRef}. */
export type DataFileRefInit = MessageInitShape<typeof DataFileRefSchema>;
/** Fields of a {@link DeleteFileRef} for {@link createDeleteFileRef}. */
export type DeleteFileRefInit = MessageInitShape<typeof DeleteFileRefSchema>;

/** A new {@link Manifest} with `init`'s fields and defaults for the rest (protobuf-es `create`). */
export function createManifest(init: ManifestInit = {}): Manifest {
  return create(ManifestSchema, init);
}

/** A new {@link DataFileRef} with `init`'s fields and defaults for the rest. */
export function createDataFileRef(init: DataFileRefInit = {}): DataFileRef {
  return create(DataFileRefSchema, init);
}

/** A new {@link DeleteFileRef} with `init`'s fields and defaults for the rest. */
export function createDeleteFileRef(init: DeleteFileRefInit = {}): DeleteFileRef {
  return create(DeleteFileRefSchema, init);
}

function checkPaths(m: Manifest, mode: "encode" | "decode"): void {
  m.dataFiles.forEach((f, i) => {
    checkPath(f.path, `data_files[${i}].path`, mode);
    if (f.dvPath !== undefined) checkPath(f.dvPath, `data_files[${i}].dv_path`, mode);
  });
  m.deleteFiles.forEach((f, i) => {
    checkPath(f.path, `delete_files[${i}].path`, mode);
  });
}

/**
 * Encodes `m` as a manifest file: the MRUB frame around the protobuf payload
 * (merutable's format, byte for byte). Unknown fields kept from a decode are
 * written back.
 *
 * @throws TidemarkError `InvalidArgument` when an entry path is not relative
 *   and normalised (`pathProblem`: docs/layout.md), or the payload exceeds 4 GiB.
 */
export function encodeManifest(m: Manifest): Uint8Array {
  checkPaths(m, "encode");
  let payload: Uint8Array;
  try {
    payload = toBinary(ManifestSchema, m);
  } catch (e) {
    throw new TidemarkError("InvalidArgument", `cannot encode manifest: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (payload.length > 0xffff_ffff) {
    throw new TidemarkError("InvalidArgument", "cannot encode manifest: payload exceeds 4 GiB");
  }
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + payload.length);
  out.set(MANIFEST_MAGIC, 0);
  out[4] = MANIFEST_FORMAT_VERSION;
  new DataView(out.buffer).setUint32(5, payload.length, true);
  out.set(payload, MANIFEST_HEADER_BYTES);
  return out;
}

/**
 * Decodes a manifest file (the MRUB frame, then the protobuf payload).
 * Bytes past the stated payload length are ignored, as merutable does.
 * Unknown fields are kept, so re-encoding preserves them.
 *
 * @throws TidemarkError `Corrupt`, with a message naming the failed check:
 *   `short frame`, `bad magic`, `unsupported format version`, `truncated payload`,
 *   `invalid protobuf payload`, or an invalid entry path.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length < MANIFEST_HEADER_BYTES) {
    throw new TidemarkError(
      "Corrupt",
      `cannot decode manifest: short frame (${bytes.length} bytes, the header alone is ${MANIFEST_HEADER_BYTES})`,
    );
  }
  for (let i = 0; i < MANIFEST_MAGIC.length; i++) {
    if (bytes[i] !== MANIFEST_MAGIC[i]) {
      throw new TidemarkError("Corrupt", "cannot decode manifest: bad magic (expected MRUB)");
    }
  }
  const version = bytes[4];
  if (version !== MANIFEST_FORMAT_VERSION) {
    throw new TidemarkError(
      "Corrupt",
      `cannot decode manifest: unsupported format version ${version} (expected ${MANIFEST_FORMAT_VERSION})`,
    );
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, true);
  const available = bytes.length - MANIFEST_HEADER_BYTES;
  if (length > available) {
    throw new TidemarkError(
      "Corrupt",
      `cannot decode manifest: truncated payload (header says ${length} bytes, ${available} present)`,
    );
  }
  let m: Manifest;
  try {
    m = fromBinary(ManifestSchema, bytes.subarray(MANIFEST_HEADER_BYTES, MANIFEST_HEADER_BYTES + length));
  } catch (e) {
    throw new TidemarkError(
      "Corrupt",
      `cannot decode manifest: invalid protobuf payload (${(e as Error).message})`,
      { cause: e },
    );
  }
  checkPaths(m, "decode");
  return m;
}
