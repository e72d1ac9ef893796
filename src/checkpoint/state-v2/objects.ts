/**
 * One partial or commit descriptor checked as LaminarDB's reader checks it
 * before it uses the payload (`decode_partial_with_attestation`,
 * `decode_commit_descriptor_with_attestation`): its header, its size
 * (header plus the payload length the header declares) and the SHA-256 of
 * its payload, streamed. Without `hashes`, only the header is fetched (a
 * ranged GET) and the size comes from the listing: what LaminarDB checks
 * when it seals.
 *
 * @module
 */

import { getIfExists } from "../../store/exists.ts";
import type { ObjectStore } from "../../store/types.ts";
import {
  DESCRIPTOR_HEADER_LEN,
  type DescriptorAttestation,
  parseDescriptorHeader,
} from "./descriptor-header.ts";
import { type Fault, isFault } from "./fault.ts";
import { readFramed } from "./framed.ts";
import type { Attempt } from "./keys.ts";
import type { ListedObject } from "./listing.ts";
import { PARTIAL_HEADER_LEN, type PartialAttestation, parsePartialHeader } from "./partial-header.ts";
import type { CheckpointRule } from "./problems.ts";

/** How an object of one kind is framed and named. */
interface Framing<A extends { payloadLen: bigint; payloadSha256: string }> {
  headerLen: number;
  parse: (header: Uint8Array) => A | Fault;
  sizeRule: CheckpointRule;
  shaRule: CheckpointRule;
  what: string;
}

/**
 * Checks one framed object; `null` when it is gone (deleted since it was
 * listed: a prune running meanwhile).
 */
async function checkFramed<A extends { payloadLen: bigint; payloadSha256: string }>(
  store: ObjectStore,
  o: ListedObject,
  f: Framing<A>,
  hashes: boolean,
): Promise<A | Fault | null> {
  let parsed: A | Fault | undefined;
  let size = o.size;
  const whole = hashes || o.size < f.headerLen;
  const got = await getIfExists(store, o.key, whole ? {} : { range: { offset: 0, length: f.headerLen } });
  if (got === undefined) return null;
  if (whole) size = got.size;
  const read = await readFramed(got.body, f.headerLen, (header) => {
    parsed = f.parse(header);
    return whole && !isFault(parsed) && BigInt(size) === BigInt(f.headerLen) + parsed.payloadLen;
  });
  const a = parsed ?? f.parse(read.header);
  if (isFault(a)) return a;
  const expected = BigInt(f.headerLen) + a.payloadLen;
  if (BigInt(size) !== expected) {
    return {
      rule: f.sizeRule,
      message: `${f.what} payload length mismatch: the header declares ${a.payloadLen} payload bytes (${expected} in all), the object is ${size} bytes`,
    };
  }
  if (read.payloadSha256 !== undefined && read.payloadSha256 !== a.payloadSha256) {
    return {
      rule: f.shaRule,
      message: `${f.what} payload checksum mismatch: the header says SHA-256 ${a.payloadSha256}, the payload's is ${read.payloadSha256}`,
    };
  }
  return a;
}

/** Checks the partial of `vnode` in `attempt` (see the module). */
export function checkPartial(
  store: ObjectStore,
  o: ListedObject,
  attempt: Attempt,
  vnode: number,
  hashes: boolean,
): Promise<PartialAttestation | Fault | null> {
  return checkFramed(
    store,
    o,
    {
      headerLen: PARTIAL_HEADER_LEN,
      parse: (h) => parsePartialHeader(h, attempt, vnode),
      sizeRule: "partial-size",
      shaRule: "partial-sha256",
      what: "vnode partial",
    },
    hashes,
  );
}

/** Checks descriptor `key` of `attempt` (see the module). */
export function checkDescriptor(
  store: ObjectStore,
  o: ListedObject,
  attempt: Attempt,
  key: string,
  hashes: boolean,
): Promise<DescriptorAttestation | Fault | null> {
  return checkFramed(
    store,
    o,
    {
      headerLen: DESCRIPTOR_HEADER_LEN,
      parse: (h) => parseDescriptorHeader(h, attempt, key),
      sizeRule: "descriptor-size",
      shaRule: "descriptor-sha256",
      what: "commit descriptor",
    },
    hashes,
  );
}
