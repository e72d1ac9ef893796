/**
 * One partial or descriptor of a sealed attempt copied to the target, so
 * that the target never holds an object its seal would not accept: the
 * source's bytes stream through unbuffered while their header is compared
 * with the seal's entry and their payload hashed, and a mismatch fails the
 * stream before it ends, so the create-only put never lands. An object
 * already on the target is accepted only when it is proven the source's
 * (`proveOrigin`, as the table mirror does) and its own bytes pass the same
 * checks.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { isTidemarkError, TidemarkError } from "../../errors.ts";
import { originMetadata, proveOrigin } from "../../mirror/origin.ts";
import type { ObjectMeta, ObjectStore } from "../../store/types.ts";
import { DESCRIPTOR_HEADER_LEN, parseDescriptorHeader } from "./descriptor-header.ts";
import { type Fault, isFault } from "./fault.ts";
import { readFramed } from "./framed.ts";
import { hex } from "./ids.ts";
import { type Attempt, descriptorKey, partialKey } from "./keys.ts";
import { PARTIAL_HEADER_LEN, parsePartialHeader } from "./partial-header.ts";
import { descriptorDifference, partialDifference, type Seal } from "./seal.ts";

/** An object a seal names, and what its bytes must be. */
export interface SealedObject {
  key: string;
  /** Header plus payload length, as the seal's entry says. */
  size: number;
  headerLen: number;
  /** Why `header` is not what the seal's entry attests (`undefined`: it is). */
  headerFault: (header: Uint8Array) => Fault | undefined;
  /** The payload's SHA-256 the seal names (lowercase hex). */
  payloadSha256: string;
}

/** The source's object is not what its seal says: the attempt cannot be copied as it is. */
export class DamagedSource extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.name = "DamagedSource";
    this.key = key;
  }
}

/** What a copy needs to know of the mirror. */
export interface CopyContext {
  source: ObjectStore;
  target: ObjectStore;
  /** The source's identity recorded on every copy (`storeId(source)`). */
  sourceId: string;
  /** For messages: `checkpoint attempt E`. */
  partOf: string;
}

/** A pass-through of a source body that checks it, and what it found. */
interface CheckedStream {
  stream: ReadableStream<Uint8Array>;
  /** Set when the bytes did not match the seal (the stream then errored). */
  damage: () => DamagedSource | undefined;
}

/**
 * A pass-through of `body` that checks it as it goes: the header when it is
 * complete, the payload's digest and length at the end. Each chunk is passed
 * on only when the next one arrives, so a mismatch found at the end errors
 * the stream before its last bytes are sent: a put of it never completes
 * (a server holding every declared byte could otherwise store the object).
 */
function checkedStream(body: ReadableStream<Uint8Array>, o: SealedObject): CheckedStream {
  const reader = body.getReader();
  const header = new Uint8Array(o.headerLen);
  let filled = 0;
  let seen = 0;
  let held: Uint8Array | undefined;
  let damage: DamagedSource | undefined;
  const h = sha256.create();
  const fail = (c: ReadableStreamDefaultController<Uint8Array>, message: string) => {
    damage = new DamagedSource(o.key, message);
    c.error(damage);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          const digest = hex(h.digest());
          if (seen !== o.size || filled < o.headerLen) {
            fail(c, `${o.key} is ${seen} bytes on the source; its seal says ${o.size}`);
          } else if (digest !== o.payloadSha256) {
            fail(c, `${o.key}: the payload's SHA-256 is ${digest}, its seal says ${o.payloadSha256}`);
          } else {
            if (held) c.enqueue(held);
            c.close();
          }
          return;
        }
        const chunk = r.value;
        if (chunk.length === 0) continue;
        seen += chunk.length;
        let payload = chunk;
        if (filled < o.headerLen) {
          const take = Math.min(o.headerLen - filled, chunk.length);
          header.set(chunk.subarray(0, take), filled);
          filled += take;
          payload = chunk.subarray(take);
          const f = filled === o.headerLen ? o.headerFault(header) : undefined;
          if (f) {
            fail(c, `${o.key}: ${f.message}`);
            await reader.cancel().catch(() => {});
            return;
          }
        }
        h.update(payload);
        const out = held;
        held = chunk;
        if (out) {
          c.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { stream, damage: () => damage };
}

/** Whether the object on the target passes the seal's checks (a GET, hashed as it streams). */
async function targetPasses(target: ObjectStore, o: SealedObject): Promise<boolean> {
  const got = await target.get(o.key);
  if (got.size !== o.size) {
    await got.body.cancel().catch(() => {});
    return false;
  }
  let fault: Fault | undefined;
  const read = await readFramed(got.body, o.headerLen, (header) => {
    fault =
      header.length === o.headerLen ? o.headerFault(header) : { rule: "partial-size", message: "short" };
    return fault === undefined;
  });
  return fault === undefined && read.payloadSha256 === o.payloadSha256;
}

/**
 * Accepts an object found on the target: its size the seal's, proven the
 * source's bytes, its bytes passing the seal's checks. Returns its etag.
 *
 * @throws TidemarkError `SplitBrain` when it is not the source's; a
 *   {@link DamagedSource} when it is, and the source's object is damaged.
 */
export async function acceptOnTarget(
  ctx: CopyContext,
  o: SealedObject,
  onTarget: ObjectMeta,
): Promise<string> {
  if (onTarget.size !== o.size) {
    throw new TidemarkError(
      "SplitBrain",
      `${ctx.target.name} already has ${o.key} with ${onTarget.size} bytes, ${ctx.partOf}'s seal says ${o.size}: another deployment's state was mirrored here`,
      { key: o.key },
    );
  }
  await proveOrigin({
    source: ctx.source,
    target: ctx.target,
    sourceId: ctx.sourceId,
    file: { path: o.key, kind: "data", size: o.size, minSize: o.size },
    version: 0,
    partOf: ctx.partOf,
    onTarget,
  });
  if (!(await targetPasses(ctx.target, o))) {
    throw new DamagedSource(o.key, `${o.key} is the source's, and does not match its seal`);
  }
  return onTarget.etag;
}

/**
 * Copies `o` source → target create-only (streamed and checked, see the
 * module), unless `onTarget` (what a listing of the target showed) says it is
 * there. Returns the bytes copied (`undefined`: it was there) and its etag
 * on the target.
 *
 * @throws a {@link DamagedSource} when the source's object does not match its
 *   seal (nothing is written); TidemarkError `SplitBrain` for another
 *   object at its key; `NotFound` when the source lost it; store errors.
 */
export async function copySealedObject(
  ctx: CopyContext,
  o: SealedObject,
  onTarget: ObjectMeta | undefined,
): Promise<{ copied: number | undefined; etag: string }> {
  if (onTarget) return { copied: undefined, etag: await acceptOnTarget(ctx, o, onTarget) };
  const got = await ctx.source.get(o.key);
  if (got.size !== o.size) {
    await got.body.cancel().catch(() => {});
    throw new DamagedSource(o.key, `${o.key} is ${got.size} bytes on the source; its seal says ${o.size}`);
  }
  const checked = checkedStream(got.body, o);
  const body = checked.stream;
  try {
    const put = await ctx.target.put(o.key, body, {
      size: o.size,
      mode: "create",
      contentType: "application/octet-stream",
      metadata: originMetadata(ctx.sourceId, got.etag),
    });
    return { copied: o.size, etag: put.etag };
  } catch (e) {
    if (!body.locked) body.cancel().catch(() => {});
    // The store reports a failed body its own way (a cause, a Transient): the stream says what it was.
    const damaged = checked.damage();
    if (damaged) throw damaged;
    // A racing mirror (or our own create whose response was lost) put it there first.
    if (isTidemarkError(e, "AlreadyExists")) {
      return { copied: undefined, etag: await acceptOnTarget(ctx, o, await ctx.target.head(o.key)) };
    }
    throw e;
  }
}

/** An object a seal names: its key, header length, and how its header is read and compared with the entry. */
function sealed<A extends object, E extends { payloadLen: bigint; payloadSha256: string }>(
  key: string,
  headerLen: number,
  entry: E,
  parse: (header: Uint8Array) => A | Fault,
  differs: (a: A, e: E) => string | undefined,
): SealedObject {
  return {
    key,
    size: headerLen + Number(entry.payloadLen),
    headerLen,
    payloadSha256: entry.payloadSha256,
    headerFault: (h) => {
      const a = parse(h);
      if (isFault(a)) return a;
      const field = differs(a, entry);
      return field === undefined
        ? undefined
        : { rule: "seal-inventory", message: `its header differs from the seal in ${field}` };
    },
  };
}

/** The objects `seal` names, with what each must be. */
export function sealedObjects(attempt: Attempt, seal: Seal): SealedObject[] {
  return [
    ...seal.sealedPartials.map((e) =>
      sealed(
        partialKey(attempt, e.vnode),
        PARTIAL_HEADER_LEN,
        e,
        (h) => parsePartialHeader(h, attempt, e.vnode),
        partialDifference,
      ),
    ),
    ...seal.sealedDescriptors.map((e) =>
      sealed(
        descriptorKey(attempt, e.key),
        DESCRIPTOR_HEADER_LEN,
        e,
        (h) => parseDescriptorHeader(h, attempt, e.key),
        descriptorDifference,
      ),
    ),
  ];
}
