import { TidemarkError } from "../errors.ts";
import type { ObjectMeta, ObjectStore } from "../store/types.ts";
import { metadataHeaders, stripEtag } from "../store/wire.ts";

/** A byte range request resolved against an object size: `[start, end]` inclusive. */
interface ResolvedRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range` header against `size` (RFC 9110 §14.1.2): `bytes=a-b`,
 * `bytes=a-` and `bytes=-n`. One range only; `undefined` means "serve the whole
 * object" (absent, not bytes, several ranges, or malformed: servers may ignore
 * a Range they do not support); `"unsatisfiable"` means 416.
 */
function parseRange(header: string | null, size: number): ResolvedRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    return size === 0 ? "unsatisfiable" : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || stripEtag(v) === etag;
  });
}

function headersOf(meta: ObjectMeta): Headers {
  const h = new Headers({
    ETag: `"${meta.etag}"`,
    "Accept-Ranges": "bytes",
    "Cache-Control": "no-cache",
  });
  if (meta.lastModified) h.set("Last-Modified", meta.lastModified.toUTCString());
  try {
    for (const [k, v] of Object.entries(metadataHeaders(meta.metadata, meta.key))) h.set(k, v);
  } catch {
    // Metadata that cannot be a header (an odd key) is left out, not fatal.
  }
  return h;
}

/**
 * Serves object `key` of `store` as an HTTP response for `request` (GET or
 * HEAD): `ETag` (quoted) and `Last-Modified`, user metadata as `x-amz-meta-*`,
 * `If-None-Match` → 304, a single `Range` → 206 with `Content-Range` (416 when
 * unsatisfiable), the body streamed from the store, never buffered. This is
 * what {@link HttpStore} reads, so a browser can read a private store through
 * the server. Errors are thrown as `TidemarkError` (NotFound, ...) for the
 * caller's error handler.
 */
export async function serveObject(store: ObjectStore, key: string, request: Request): Promise<Response> {
  if (key === "") throw new TidemarkError("NotFound", "no object key in the path");
  const meta = await store.head(key);
  const headers = headersOf(meta);
  if (etagMatches(request.headers.get("If-None-Match"), meta.etag)) {
    return new Response(null, { status: 304, headers });
  }
  const range = parseRange(request.headers.get("Range"), meta.size);
  if (range === "unsatisfiable") {
    headers.set("Content-Range", `bytes */${meta.size}`);
    return new Response(null, { status: 416, headers });
  }
  const status = range ? 206 : 200;
  const length = range ? range.end - range.start + 1 : meta.size;
  headers.set("Content-Length", String(length));
  headers.set("Content-Type", "application/octet-stream");
  if (range) headers.set("Content-Range", `bytes ${range.start}-${range.end}/${meta.size}`);
  if (request.method === "HEAD") return new Response(null, { status, headers });
  // A NotFound here (deleted between head and get) propagates as a 404.
  const obj = await store.get(key, range ? { range: { offset: range.start, length } } : {});
  if (obj.etag !== meta.etag) {
    // Replaced between head and get: the headers would lie; let the client retry.
    obj.body.cancel().catch(() => {});
    throw new TidemarkError("Transient", "object changed while being served", { key });
  }
  return new Response(obj.body, { status, headers });
}
