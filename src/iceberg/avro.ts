/**
 * Avro object container files (https://avro.apache.org/docs/1.12.0/specification/#object-container-files),
 * the subset Iceberg's manifest lists and manifests use: records, unions,
 * arrays, maps, fixed, and the primitive types; the `null` codec. Written
 * and read with web-standard globals only, so the view is made in every
 * runtime (a Worker, a browser, Deno, Node).
 *
 * Written here rather than taken from a library: none on npm writes container
 * files in every runtime. `avsc` 5.7 uses Node's `Buffer` and builds container
 * files on Node streams; its 6.0 line has been an alpha since October 2024
 * (CommonJS, containers still on Node's `stream`); Apache's `avro-js` and
 * `@avro/types` use `Buffer`; icebird's `avroWrite` runs everywhere but writes
 * no file metadata besides the schema and codec (an Iceberg manifest needs
 * `schema`, `partition-spec`, `format-version`, `content`). fastavro and
 * icebird read every file written here in the tests.
 *
 * The sync marker is derived from the file's content (SHA-256), so the same
 * records make the same bytes: a re-run after a crash writes what the first
 * run wrote.
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";

/** An Avro primitive type name. */
export type AvroPrimitive = "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string";

/** A field of an Avro record, with Iceberg's `field-id`. */
export interface AvroField {
  name: string;
  type: AvroType;
  "field-id"?: number;
  default?: null;
  doc?: string;
}

/** An Avro schema (the subset used here). */
export type AvroType =
  | AvroPrimitive
  | AvroType[]
  | { type: "record"; name: string; fields: AvroField[] }
  | { type: "array"; items: AvroType; "element-id"?: number; logicalType?: "map" }
  | { type: "map"; values: AvroType; "key-id"?: number; "value-id"?: number }
  | { type: "fixed"; name: string; size: number }
  | { type: AvroPrimitive; logicalType?: string };

const MAGIC = Uint8Array.of(0x4f, 0x62, 0x6a, 0x01); // "Obj" 1
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A growable byte buffer with Avro's encodings. */
class Writer {
  #buf = new Uint8Array(1024);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  /** A zig-zag varint of a value that fits 64 bits. */
  long(v: bigint | number): void {
    if (typeof v === "number" && Number.isSafeInteger(v) && Math.abs(v) < 2 ** 30) {
      let n = (v << 1) ^ (v >> 31);
      n >>>= 0;
      while (n > 0x7f) {
        this.byte((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.byte(n);
      return;
    }
    let n = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n));
    while (n > 0x7fn) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.byte(Number(n));
  }

  float(v: number, bytes: 4 | 8): void {
    const b = new Uint8Array(bytes);
    const view = new DataView(b.buffer);
    if (bytes === 4) view.setFloat32(0, v, true);
    else view.setFloat64(0, v, true);
    this.bytes(b);
  }

  sized(b: Uint8Array): void {
    this.long(b.length);
    this.bytes(b);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

function fail(path: string, why: string): never {
  throw new TidemarkError("InvalidArgument", `cannot encode Avro: ${path || "value"} ${why}`);
}

/** Whether `v` fits union branch `t` (the first branch that fits is written). */
function fits(t: AvroType, v: unknown): boolean {
  const name = typeof t === "string" ? t : Array.isArray(t) ? "union" : t.type;
  switch (name) {
    case "null":
      return v === null || v === undefined;
    case "boolean":
      return typeof v === "boolean";
    case "int":
      return typeof v === "number" && Number.isInteger(v);
    case "long":
      return typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v));
    case "float":
    case "double":
      return typeof v === "number";
    case "string":
      return typeof v === "string";
    case "bytes":
    case "fixed":
      return v instanceof Uint8Array;
    case "record":
    case "map":
      return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
    case "array":
      return Array.isArray(v);
    default:
      return false;
  }
}

function write(w: Writer, t: AvroType, v: unknown, path: string, names: Map<string, AvroType>): void {
  if (Array.isArray(t)) {
    const i = t.findIndex((b) => fits(resolve(b, names), v));
    if (i < 0) fail(path, `fits no branch of ${JSON.stringify(t)}`);
    w.long(i);
    write(w, t[i] as AvroType, v, path, names);
    return;
  }
  const r = resolve(t, names);
  const name = typeof r === "string" ? r : (r as { type: string }).type;
  if (!fits(r, v) && name !== "null") fail(path, `is not a ${name}: ${typeof v}`);
  switch (name) {
    case "null":
      return;
    case "boolean":
      w.byte(v ? 1 : 0);
      return;
    case "int": {
      const n = v as number;
      if (n < -(2 ** 31) || n >= 2 ** 31) fail(path, `${n} does not fit an int`);
      w.long(n);
      return;
    }
    case "long": {
      const n = BigInt(v as bigint | number);
      if (n < -(2n ** 63n) || n >= 2n ** 63n) fail(path, `${n} does not fit a long`);
      w.long(n);
      return;
    }
    case "float":
      w.float(v as number, 4);
      return;
    case "double":
      w.float(v as number, 8);
      return;
    case "string":
      w.sized(encoder.encode(v as string));
      return;
    case "bytes":
      w.sized(v as Uint8Array);
      return;
    case "fixed": {
      const size = (r as { size: number }).size;
      if ((v as Uint8Array).length !== size) fail(path, `has ${(v as Uint8Array).length} bytes, not ${size}`);
      w.bytes(v as Uint8Array);
      return;
    }
    case "record": {
      const rec = r as { name: string; fields: AvroField[] };
      names.set(rec.name, rec as AvroType);
      const o = v as Record<string, unknown>;
      for (const f of rec.fields) write(w, f.type, o[f.name] ?? null, `${path}.${f.name}`, names);
      return;
    }
    case "array": {
      const items = (r as { items: AvroType }).items;
      const a = v as unknown[];
      if (a.length > 0) {
        w.long(a.length);
        for (const [i, x] of a.entries()) write(w, items, x, `${path}[${i}]`, names);
      }
      w.long(0);
      return;
    }
    case "map": {
      const values = (r as { values: AvroType }).values;
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length > 0) {
        w.long(entries.length);
        for (const [k, x] of entries) {
          w.sized(encoder.encode(k));
          write(w, values, x, `${path}.${k}`, names);
        }
      }
      w.long(0);
      return;
    }
    default:
      fail(path, `has an unsupported type ${JSON.stringify(t)}`);
  }
}

/** A named type referenced by name is the type it names. */
function resolve(t: AvroType, names: Map<string, AvroType>): AvroType {
  if (typeof t === "string" && !PRIMITIVES.has(t)) {
    const named = names.get(t);
    if (!named) throw new TidemarkError("Corrupt", `Avro schema names an unknown type ${t}`);
    return named;
  }
  return t;
}

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"]);

/**
 * An Avro object container file of `records` with schema `schema` and the
 * file metadata `meta` (besides `avro.schema` and `avro.codec`), uncompressed,
 * in one block.
 *
 * @throws TidemarkError `InvalidArgument` naming the field when a value does
 *   not fit the schema.
 */
export async function encodeAvroFile(
  schema: AvroType,
  records: readonly unknown[],
  meta: Record<string, string>,
): Promise<Uint8Array> {
  const names = new Map<string, AvroType>();
  const body = new Writer();
  for (const [i, r] of records.entries()) write(body, schema, r, `record ${i}`, names);
  const data = body.result();
  const header = new Writer();
  header.bytes(MAGIC);
  const all = { "avro.schema": JSON.stringify(schema), "avro.codec": "null", ...meta };
  header.long(Object.keys(all).length);
  for (const [k, v] of Object.entries(all)) {
    header.sized(encoder.encode(k));
    header.sized(encoder.encode(v));
  }
  header.long(0);
  const head = header.result();
  // The marker only has to be unlikely inside the data; from the content, the same file twice is the same bytes.
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", concat([head, data])));
  const sync = digest.subarray(0, 16);
  const out = new Writer();
  out.bytes(head);
  out.bytes(sync);
  if (records.length > 0) {
    out.long(records.length);
    out.long(data.length);
    out.bytes(data);
    out.bytes(sync);
  }
  return out.result();
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A reader of Avro's encodings over bytes. */
class Reader {
  readonly #b: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;
  at = 0;

  constructor(b: Uint8Array, what: string) {
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.#what = what;
  }

  corrupt(why: string): TidemarkError {
    return new TidemarkError("Corrupt", `${this.#what}: ${why} at byte ${this.at}`, { key: this.#what });
  }

  get done(): boolean {
    return this.at >= this.#b.length;
  }

  take(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.#b.length) throw this.corrupt(`${n} bytes past the end`);
    const out = this.#b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  long(): bigint {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      if (shift > 63n) throw this.corrupt("a varint longer than 10 bytes");
      const b = this.take(1)[0] as number;
      n |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
    }
    return BigInt.asIntN(64, (n >> 1n) ^ -(n & 1n));
  }

  count(): number {
    const n = this.long();
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.corrupt(`a count of ${n}`);
    }
    return Number(n);
  }

  float(bytes: 4 | 8): number {
    const at = this.at;
    this.take(bytes);
    return bytes === 4 ? this.#view.getFloat32(at, true) : this.#view.getFloat64(at, true);
  }

  sized(): Uint8Array {
    return this.take(this.count());
  }

  string(): string {
    try {
      return decoder.decode(this.sized());
    } catch (e) {
      if (e instanceof TidemarkError) throw e;
      throw this.corrupt("a string that is not UTF-8");
    }
  }
}

/** Reads an array's or map's blocks (a negative count is followed by the block's size). */
function blocks(r: Reader, each: () => void): void {
  for (;;) {
    let n = r.count();
    if (n === 0) return;
    if (n < 0) {
      n = -n;
      r.long();
    }
    for (let i = 0; i < n; i++) each();
  }
}

function read(r: Reader, t: AvroType, names: Map<string, AvroType>): unknown {
  if (Array.isArray(t)) {
    const i = r.count();
    const branch = t[i];
    if (branch === undefined) throw r.corrupt(`union branch ${i} of ${t.length}`);
    return read(r, branch, names);
  }
  const rt = resolve(t, names);
  const name = typeof rt === "string" ? rt : (rt as { type: string }).type;
  switch (name) {
    case "null":
      return null;
    case "boolean":
      return r.take(1)[0] === 1;
    case "int":
      return Number(r.long());
    case "long":
      return r.long();
    case "float":
      return r.float(4);
    case "double":
      return r.float(8);
    case "string":
      return r.string();
    case "bytes":
      return r.sized().slice();
    case "fixed":
      return r.take((rt as { size: number }).size).slice();
    case "enum":
      return (rt as unknown as { symbols: string[] }).symbols[r.count()];
    case "record": {
      const rec = rt as { name: string; fields: AvroField[] };
      names.set(rec.name, rec as AvroType);
      const o: Record<string, unknown> = {};
      for (const f of rec.fields) o[f.name] = read(r, f.type, names);
      return o;
    }
    case "array": {
      const items = (rt as { items: AvroType }).items;
      const out: unknown[] = [];
      blocks(r, () => out.push(read(r, items, names)));
      return out;
    }
    case "map": {
      const values = (rt as { values: AvroType }).values;
      const out: Record<string, unknown> = {};
      blocks(r, () => {
        const k = r.string();
        out[k] = read(r, values, names);
      });
      return out;
    }
    default:
      throw r.corrupt(`an unsupported type ${JSON.stringify(t)}`);
  }
}

/** A decoded container file. */
export interface AvroFile {
  schema: AvroType;
  /** File metadata (`avro.schema` and `avro.codec` included), as text. */
  meta: Record<string, string>;
  records: unknown[];
}

/**
 * Decodes an Avro object container file with the `null` codec (what
 * {@link encodeAvroFile} writes): longs as `bigint`.
 *
 * @param what the file's name, for messages.
 * @throws TidemarkError `Corrupt` for anything else than such a file.
 */
export function decodeAvroFile(bytes: Uint8Array, what: string): AvroFile {
  const r = new Reader(bytes, what);
  const magic = r.take(4);
  if (!MAGIC.every((b, i) => magic[i] === b)) throw r.corrupt("not an Avro container file");
  const meta: Record<string, string> = {};
  blocks(r, () => {
    const k = r.string();
    meta[k] = r.string();
  });
  const codec = meta["avro.codec"] ?? "null";
  if (codec !== "null") throw r.corrupt(`codec ${codec} (only null is read here)`);
  let schema: AvroType;
  try {
    schema = JSON.parse(meta["avro.schema"] ?? "") as AvroType;
  } catch {
    throw r.corrupt("avro.schema is not JSON");
  }
  const sync = r.take(16).slice();
  const names = new Map<string, AvroType>();
  const records: unknown[] = [];
  while (!r.done) {
    const n = r.count();
    const size = r.count();
    const end = r.at + size;
    for (let i = 0; i < n; i++) records.push(read(r, schema, names));
    if (r.at !== end) throw r.corrupt(`a block of ${size} bytes held ${r.at - (end - size)}`);
    const marker = r.take(16);
    if (!sync.every((b, i) => marker[i] === b)) throw r.corrupt("a block not ended by the sync marker");
  }
  return { schema, meta, records };
}
