/**
 * A reader of 32-bit Roaring bitmaps in their portable serialisation
 * (https://github.com/RoaringBitmap/RoaringFormatSpec), the format inside
 * merutable's deletion vectors.
 *
 * Written here rather than taken from npm: the maintained Roaring packages
 * are CRoaring bindings (`roaring`: a native Node addon; `roaring-wasm`:
 * WebAssembly compiled at run time, which Cloudflare Workers refuse), and
 * a reader is all tidemark needs: about a hundred lines, checked against
 * Java's RoaringBitmap (the reference implementation) in the tests.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";

const SERIAL_COOKIE_NO_RUNCONTAINER = 12346;
const SERIAL_COOKIE = 12347;
const NO_OFFSET_THRESHOLD = 4;
const ARRAY_MAX = 4096;
const BITMAP_BYTES = 8192;

/**
 * Decodes one portable 32-bit Roaring bitmap at `offset` of `bytes`: its
 * values in ascending order, and the offset just past it.
 *
 * @throws TidemarkError `Corrupt` (prefixed with `where`) for a bad cookie,
 *   a truncated bitmap, containers out of order, or a run past 2^16.
 */
export function readRoaring32(
  bytes: Uint8Array,
  offset: number,
  where: string,
): { values: Uint32Array; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = offset;
  const corrupt = (why: string) => new TidemarkError("Corrupt", `${where}: roaring bitmap ${why}`);
  const need = (n: number) => {
    if (at + n > bytes.length) throw corrupt(`truncated at byte ${at - offset}`);
  };
  need(4);
  const cookie = view.getUint32(at, true);
  at += 4;
  let size: number;
  let runs: Uint8Array | undefined;
  if ((cookie & 0xffff) === SERIAL_COOKIE) {
    size = (cookie >>> 16) + 1;
    const n = (size + 7) >>> 3;
    need(n);
    runs = bytes.subarray(at, at + n);
    at += n;
  } else if (cookie === SERIAL_COOKIE_NO_RUNCONTAINER) {
    need(4);
    size = view.getUint32(at, true);
    at += 4;
  } else {
    throw corrupt(`has an unknown cookie 0x${cookie.toString(16)}`);
  }
  if (size > 65536) throw corrupt(`claims ${size} containers (at most 65536)`);
  need(size * 4);
  const keys: number[] = [];
  const cards: number[] = [];
  for (let i = 0; i < size; i++) {
    keys.push(view.getUint16(at, true));
    cards.push(view.getUint16(at + 2, true) + 1);
    at += 4;
  }
  // The offset header is redundant for a sequential read: skipped.
  if (!runs || size >= NO_OFFSET_THRESHOLD) {
    need(size * 4);
    at += size * 4;
  }
  const total = cards.reduce((a, b) => a + b, 0);
  const out = new Uint32Array(total);
  let n = 0;
  let previousKey = -1;
  for (let i = 0; i < size; i++) {
    const key = keys[i] as number;
    if (key <= previousKey) throw corrupt(`has container keys out of order (${key} after ${previousKey})`);
    previousKey = key;
    const high = key * 65536;
    const card = cards[i] as number;
    const isRun = runs !== undefined && (((runs[i >>> 3] as number) >>> (i & 7)) & 1) === 1;
    const start = n;
    if (isRun) {
      need(2);
      const nRuns = view.getUint16(at, true);
      at += 2;
      need(nRuns * 4);
      for (let r = 0; r < nRuns; r++) {
        const s = view.getUint16(at, true);
        const len = view.getUint16(at + 2, true);
        at += 4;
        if (s + len > 0xffff) throw corrupt(`has a run past 65535 in container ${key}`);
        if (n + len + 1 > total) throw corrupt(`container ${key} holds more values than its cardinality`);
        for (let v = s; v <= s + len; v++) out[n++] = high + v;
      }
    } else if (card <= ARRAY_MAX) {
      need(card * 2);
      for (let j = 0; j < card; j++) {
        out[n++] = high + view.getUint16(at, true);
        at += 2;
      }
    } else {
      need(BITMAP_BYTES);
      for (let w = 0; w < BITMAP_BYTES / 4; w++) {
        let word = view.getUint32(at + w * 4, true);
        while (word !== 0) {
          const bit = 31 - Math.clz32(word & -word);
          if (n >= total) throw corrupt(`container ${key} holds more values than its cardinality`);
          out[n++] = high + w * 32 + bit;
          word &= word - 1;
        }
      }
      at += BITMAP_BYTES;
    }
    if (n - start !== card)
      throw corrupt(`container ${key} holds ${n - start} values, its header says ${card}`);
    for (let j = start + 1; j < n; j++) {
      if ((out[j] as number) <= (out[j - 1] as number)) throw corrupt(`container ${key} is not sorted`);
    }
  }
  return { values: out, end: at };
}
