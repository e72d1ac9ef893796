/**
 * S3's XML: the parser settings, reading documents (list pages, delete
 * results, multipart and copy answers, `<Error>` bodies), escaping, and the
 * `encoding-type=url` decoding of listed keys.
 *
 * @module
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

// Elements that repeat; fast-xml-parser would make a single one a plain value.
const ARRAYS = new Set([
  "ListBucketResult.Contents",
  "ListBucketResult.CommonPrefixes",
  "DeleteResult.Deleted",
  "DeleteResult.Error",
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  // Keys like "00012" must stay strings, and keys may start or end with spaces.
  parseTagValue: false,
  trimValues: false,
  // Numeric character references (&#x1F600;) in keys and messages.
  htmlEntities: true,
  isArray: (_name, jpath) => ARRAYS.has(String(jpath)),
});

/** A parsed XML document (element name → string | element | element[]). */
export type XmlNode = { [name: string]: XmlValue };
/** A value in an {@link XmlNode}. */
export type XmlValue = string | XmlNode | XmlValue[];

/**
 * Parses an S3 XML document; `undefined` when it is not well-formed (a
 * truncated body: "a 200 OK response can contain valid or invalid XML", AWS
 * API reference) or empty.
 */
export function parseXml(text: string): XmlNode | undefined {
  if (text.trim() === "" || XMLValidator.validate(text) !== true) return undefined;
  try {
    return parser.parse(text) as XmlNode;
  } catch {
    return undefined;
  }
}

/** The text of a child element (`""` for an empty one), or `undefined` when absent. */
export function xmlText(node: XmlValue | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return undefined;
  const v = node[name];
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  // An element with only whitespace text around nothing: `#text`, or empty.
  if (!Array.isArray(v)) return typeof v["#text"] === "string" ? v["#text"] : "";
  return undefined;
}

/** A child element as an object (`undefined` when absent or text). */
export function xmlChild(node: XmlValue | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return undefined;
  const v = node[name];
  return v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : undefined;
}

/** Child elements that repeat, always as an array of objects. */
export function xmlList(node: XmlValue | undefined, name: string): XmlNode[] {
  if (node === undefined || typeof node === "string" || Array.isArray(node)) return [];
  const v = node[name];
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return all.filter((x): x is XmlNode => typeof x === "object" && x !== null && !Array.isArray(x));
}

/** What an S3 `<Error>` body says. */
export interface S3ErrorBody {
  code?: string;
  message?: string;
  requestId?: string;
}

/**
 * The `<Error>` of an S3 response body, or `undefined` when the body is not
 * an error document (empty, truncated, HTML from a proxy, or a success).
 */
export function parseS3Error(text: string): S3ErrorBody | undefined {
  const doc = parseXml(text);
  const err = xmlChild(doc, "Error");
  if (!err) return undefined;
  const out: S3ErrorBody = {};
  const code = xmlText(err, "Code");
  const message = xmlText(err, "Message");
  const requestId = xmlText(err, "RequestId");
  if (code) out.code = code;
  if (message) out.message = message;
  if (requestId) out.requestId = requestId;
  return out;
}

/** Escapes text for an XML element's content. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

/** Decodes an `encoding-type=url` value: `+` is a space, then percent-decoding (AWS encodes a space as `+`). */
export function decodeS3Url(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/** One page of a ListObjectsV2 answer, keys still as stored (with the store's prefix). */
export interface ListPage {
  objects: Array<{ key: string; size: number; etag: string; lastModified?: Date }>;
  prefixes: string[];
  truncated: boolean;
  nextToken: string | undefined;
}

/**
 * Reads a ListObjectsV2 page (`encoding-type=url` keys decoded); `undefined`
 * when the body is not a `ListBucketResult` (cut off: "a 200 OK response can
 * contain valid or invalid XML").
 */
export function parseListPage(text: string): ListPage | undefined {
  const page = xmlChild(parseXml(text), "ListBucketResult");
  if (!page) return undefined;
  const urlEncoded = xmlText(page, "EncodingType")?.toLowerCase() === "url";
  const dec = (s: string) => (urlEncoded ? decodeS3Url(s) : s);
  return {
    objects: xmlList(page, "Contents").map((c) => {
      const o: ListPage["objects"][number] = {
        key: dec(xmlText(c, "Key") ?? ""),
        size: Number(xmlText(c, "Size") ?? "0"),
        etag: xmlText(c, "ETag") ?? "",
      };
      const lm = xmlText(c, "LastModified");
      if (lm) {
        const d = new Date(lm);
        if (!Number.isNaN(d.getTime())) o.lastModified = d;
      }
      return o;
    }),
    prefixes: xmlList(page, "CommonPrefixes").map((c) => dec(xmlText(c, "Prefix") ?? "")),
    truncated: xmlText(page, "IsTruncated") === "true",
    nextToken: xmlText(page, "NextContinuationToken") || undefined,
  };
}

/**
 * The body of a DeleteObjects request (quiet: only failures come back); an
 * object given with its `versionId` deletes that version for good.
 */
export function deleteRequestXml(objects: Array<string | { key: string; versionId: string }>): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>${objects
    .map((o) =>
      typeof o === "string"
        ? `<Object><Key>${xmlEscape(o)}</Key></Object>`
        : `<Object><Key>${xmlEscape(o.key)}</Key><VersionId>${xmlEscape(o.versionId)}</VersionId></Object>`,
    )
    .join("")}</Delete>`;
}

/**
 * The per-key failures of a DeleteObjects answer (keys as stored);
 * `undefined` when the body is not a `DeleteResult` (cut off).
 */
export function parseDeleteResult(
  text: string,
): Array<{ key: string; code: string; message: string }> | undefined {
  const doc = parseXml(text);
  const result = xmlChild(doc, "DeleteResult");
  if (!result) {
    // Quiet mode with nothing to report may send an empty <DeleteResult/>,
    // which parses as text; a body that is not XML at all is cut off.
    return doc && typeof doc.DeleteResult === "string" ? [] : undefined;
  }
  return xmlList(result, "Error").map((e) => ({
    key: xmlText(e, "Key") ?? "",
    code: xmlText(e, "Code") ?? "Unknown",
    message: xmlText(e, "Message") ?? "",
  }));
}
