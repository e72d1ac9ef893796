/**
 * Listings: ListObjectsV2, page by page.
 *
 * @module
 */
import { compareKeys } from "../keys.ts";
import type { ListOptions, ObjectMeta } from "../types.ts";
import { encodeRfc3986, stripEtag } from "../wire.ts";
import type { S3Context } from "./client.ts";
import { parseListPage, parseS3Error } from "./xml.ts";

/**
 * Lists keys under `prefix` in UTF-8 byte order with ListObjectsV2 (pages of
 * `maxKeys`, `encoding-type=url` so any key survives XML), lazily, one page
 * request at a time. With a delimiter, common prefixes come as `isPrefix`
 * entries in order among the keys. Listings carry no user metadata.
 */
export async function* listObjects(
  s3: S3Context,
  prefix: string,
  opts: ListOptions = {},
): AsyncIterable<ObjectMeta> {
  const { client, cfg } = s3;
  const kp = cfg.prefix;
  // Checked on the first next(), like every other failure of a listing.
  const fullPrefix = kp.fullPrefix(prefix);
  if (opts.startAfter !== undefined && opts.startAfter !== "") kp.full(opts.startAfter);
  let token: string | undefined;
  let startAfter = opts.startAfter === undefined ? undefined : kp.value + opts.startAfter;
  for (;;) {
    const params: [string, string][] = [
      ["list-type", "2"],
      ["encoding-type", "url"],
      ["max-keys", String(cfg.maxKeys)],
      ["prefix", fullPrefix],
    ];
    if (opts.delimiter) params.push(["delimiter", opts.delimiter]);
    if (token !== undefined) params.push(["continuation-token", token]);
    else if (startAfter !== undefined) params.push(["start-after", startAfter]);
    const query = params.map(([k, v]) => `${k}=${encodeRfc3986(v)}`).join("&");
    const page = await client.retrying(async () => {
      const res = await client.send({
        op: "list",
        key: kp.strip(fullPrefix),
        method: "GET",
        url: client.url(undefined, query),
      });
      // A body cut off mid-page rejects with Transient (the transport's `responseError`).
      const text = await res.text();
      const err = parseS3Error(text);
      if (err) throw client.fail({ op: "list" }, res.status, err);
      const p = parseListPage(text);
      // "A 200 OK response can contain valid or invalid XML": a cut-off page.
      if (!p) throw client.fail({ op: "list (unreadable page)" }, 503, undefined);
      return p;
    });
    const objects: ObjectMeta[] = page.objects.map((o) => ({
      ...o,
      key: kp.strip(o.key),
      etag: stripEtag(o.etag),
    }));
    const prefixes: ObjectMeta[] = page.prefixes.map((p) => ({
      key: kp.strip(p),
      size: 0,
      etag: "",
      isPrefix: true,
    }));
    // Contents and CommonPrefixes are each sorted; interleave them.
    const merged =
      prefixes.length === 0 ? objects : [...objects, ...prefixes].sort((a, b) => compareKeys(a.key, b.key));
    for (const m of merged) yield m;
    if (!page.truncated) return;
    if (page.nextToken) {
      token = page.nextToken;
    } else {
      // Truncated without a token (old or odd servers): continue after the last entry.
      const last = merged.at(-1);
      if (!last) return;
      token = undefined;
      startAfter = kp.value + last.key;
    }
  }
}
