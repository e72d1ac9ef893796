/**
 * A file read in byte ranges, as hyparquet's `AsyncBuffer`: reads issued in
 * one turn are merged into one request when at most {@link MERGE_GAP} bytes
 * apart, a range whose end was already read fetches only what is missing,
 * and nothing held is read twice. What {@link RangeFile.slice} reads is kept
 * (footers: a small file's tail read holds its data too); what
 * {@link RangeFile.read} reads (data pages) is handed over, not kept. The one place that does this, for the
 * table reader (over any `ObjectStore`) and the inspector's file preview
 * (over `fetch` and signed URLs).
 *
 * @module
 */
import { isTidemarkError, TidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";

/** Reads issued together are merged across gaps up to this size. */
export const MERGE_GAP = 64 * 1024;

/** Bytes a {@link RangeSource} read: they start at `offset` and hold at least what was asked. */
export interface RangeBytes {
  offset: number;
  bytes: ArrayBuffer;
}

/** Where a file's bytes come from. */
export interface RangeSource {
  /** The file's key (for messages; never a URL, which may be signed). */
  key: string;
  /** Its size in bytes (from the manifest: no HEAD). */
  size: number;
  /**
   * Reads `[start, end)`. It may return more (a server that ignores Range
   * sends the whole file): what it returns is kept and served from.
   */
  read(start: number, end: number): Promise<RangeBytes>;
}

interface Chunk {
  start: number;
  end: number;
  data: Promise<ArrayBuffer>;
}

interface Pending {
  start: number;
  end: number;
  /** Keep what is read (else it is only handed over). */
  keep: boolean;
  resolve: (b: Uint8Array) => void;
  reject: (e: unknown) => void;
}

/**
 * hyparquet's `AsyncBuffer` over a {@link RangeSource}: merges, caches and
 * counts its reads. A failed read is not kept (the next one asks again).
 * What it holds is kept until {@link RangeFile.release}.
 */
export class RangeFile {
  readonly byteLength: number;
  readonly key: string;
  /** Requests made so far. */
  requests = 0;
  /** Bytes those requests returned. */
  bytesRead = 0;
  readonly #src: RangeSource;
  #chunks: Chunk[] = [];
  #pending: Pending[] = [];

  constructor(src: RangeSource) {
    this.#src = src;
    this.key = src.key;
    this.byteLength = src.size;
  }

  /** Bytes `[start, end)`, a copy, kept for later reads; see the class notes. */
  slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    return this.#get(start, end, true).then((v) => v.slice().buffer);
  }

  /** Bytes `[start, end)` as a view of what was read (no copy), not kept unless it was held already. */
  read(start: number, end: number): Promise<Uint8Array> {
    return this.#get(start, end, false);
  }

  #get(start: number, end: number, keep: boolean): Promise<Uint8Array> {
    // An empty range is no request (and `bytes=a-(a-1)` is no valid Range).
    if (end <= start) return Promise.resolve(new Uint8Array(0));
    const hit = this.#chunks.find((c) => c.start <= start && end <= c.end);
    if (hit) return hit.data.then((b) => new Uint8Array(b, start - hit.start, end - start));
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) queueMicrotask(() => this.#flush());
      this.#pending.push({ start, end, keep, resolve, reject });
    });
  }

  /** Forgets what is held entirely inside `[start, end)` (bytes no longer needed). */
  release(start = 0, end = this.byteLength): void {
    this.#chunks = this.#chunks.filter((c) => c.start < start || c.end > end);
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.#chunks.reduce((n, c) => n + (c.end - c.start), 0);
  }

  #flush(): void {
    const batch = this.#pending.sort((a, b) => a.start - b.start);
    this.#pending = [];
    let i = 0;
    while (i < batch.length) {
      const first = batch[i] as Pending;
      let end = first.end;
      let keep = first.keep;
      let j = i + 1;
      // Kept reads (footers) merge across gaps; data reads were planned by their caller: only when they touch.
      for (; j < batch.length; j++) {
        const next = batch[j] as Pending;
        if (next.start - end > (keep && next.keep ? MERGE_GAP : 0)) break;
        end = Math.max(end, next.end);
        keep &&= next.keep;
      }
      const start = first.start;
      // A range whose end is already here (the tail read first) fetches only what is missing.
      const known = this.#chunks.find((c) => c.start > start && c.start < end && end <= c.end);
      const data = known
        ? Promise.all([this.#fetch(start, known.start), known.data]).then(([a, b]) => {
            const out = new Uint8Array(end - start);
            out.set(new Uint8Array(a));
            out.set(new Uint8Array(b, 0, end - known.start), a.byteLength);
            return out.buffer;
          })
        : this.#fetch(start, end);
      const chunk = { start, end, data };
      const members = batch.slice(i, j);
      if (members.some((p) => p.keep)) this.#chunks.push(chunk);
      for (const p of members) {
        data.then(
          (b) => p.resolve(new Uint8Array(b, p.start - start, p.end - p.start)),
          (e: unknown) => p.reject(e),
        );
      }
      data.catch(() => {
        const at = this.#chunks.indexOf(chunk);
        if (at >= 0) this.#chunks.splice(at, 1);
      });
      i = j;
    }
  }

  async #fetch(start: number, end: number): Promise<ArrayBuffer> {
    this.requests++;
    const got = await this.#src.read(start, end);
    this.bytesRead += got.bytes.byteLength;
    const gotEnd = got.offset + got.bytes.byteLength;
    if (got.offset > start || gotEnd < end) {
      throw new TidemarkError(
        "Corrupt",
        `read ${JSON.stringify(this.key)}: asked for bytes ${start}-${end - 1}, got ${got.offset}-${gotEnd - 1}`,
        { key: this.key },
      );
    }
    if (got.offset === start && gotEnd === end) return got.bytes;
    // More than asked (the whole file): keep it all.
    this.#chunks.push({ start: got.offset, end: gotEnd, data: Promise.resolve(got.bytes) });
    return got.bytes.slice(start - got.offset, end - got.offset);
  }
}

/**
 * A {@link RangeSource} over an `ObjectStore` (ranged `get`s). A file
 * shorter than `size` (a range past its end) is `Corrupt`: not the file
 * the manifest references.
 */
export function storeRangeSource(store: ObjectStore, key: string, size: number): RangeSource {
  return {
    key,
    size,
    async read(start, end) {
      let bytes: Uint8Array;
      try {
        bytes = await (await store.get(key, { range: { offset: start, length: end - start } })).bytes();
      } catch (e) {
        if (!isTidemarkError(e, "InvalidArgument")) throw e;
        throw new TidemarkError(
          "Corrupt",
          `${key} ends before byte ${end} (bytes ${start}-${end - 1} asked): not the file the manifest references`,
          { key, cause: e },
        );
      }
      if (bytes.length !== end - start) {
        throw new TidemarkError(
          "Corrupt",
          `${key}: asked for ${end - start} bytes at ${start}, got ${bytes.length} (the manifest says ${size} bytes)`,
          { key },
        );
      }
      const buffer =
        bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
          ? (bytes.buffer as ArrayBuffer)
          : (bytes.slice().buffer as ArrayBuffer);
      return { offset: start, bytes: buffer };
    },
  };
}
