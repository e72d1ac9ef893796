/**
 * The inspector's state and how it reaches a table: the read token and the
 * worker's API (`api`, `authHeaders`), the table being viewed (`view`: its
 * store, reader, HEAD and snapshots, the selected snapshot and previewed
 * file), the signed URLs data files are read from (`fileUrl`), the snapshot's
 * merutable schema, and errors worded for a person. The worker's reads are
 * private: the page carries a read token taken from its URL fragment
 * (`#token=...`, which `npm start` prints; a fragment is never sent to a
 * server) into sessionStorage, and sends it as `Authorization: Bearer` to the
 * worker's own API and object route only, never to a `?url=` bucket; data
 * files of the worker's tables are read through short-lived signed URLs
 * (`/api/tables/:table/sign`), which need no header: the keys asked for in one
 * turn are signed by one request. Behind Cloudflare Access no token is needed.
 */
import type { ManifestFile } from "../../src/catalog/chain.ts";
import { TableReader } from "../../src/catalog/table.ts";
import { errorCodeOf, TidemarkError } from "../../src/errors.ts";
import type { Manifest } from "../../src/manifest/gen/manifest_pb.ts";
import type { HttpStore } from "../../src/store/http.ts";
import type { DrillJson } from "./drill-view.ts";
import { type MeruSchema, parseMeruSchema } from "./meru.ts";
import type { RetentionJson } from "./retention-view.ts";
import type { ViewStatusJson } from "./view-panel.ts";

const TOKEN_KEY = "tidemark.readToken";

/** The read token: from `#token=` (then dropped from the address bar), else this tab's sessionStorage. */
function readToken(): string | undefined {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m?.[1]) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", `${location.pathname}${location.search}`);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

const token = readToken();
/** Headers of requests to the worker itself (its API, its object route, its sign route). */
export const authHeaders: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
/** A GET of the worker's API with the page's credential. */
export const api = (path: string) => fetch(path, { headers: authHeaders });
export const NEEDS_TOKEN =
  "this page needs a read token: open the URL npm start printed, or add #token=<READ_TOKEN> to the address";

export interface Snapshot {
  version: number;
  manifest: Manifest;
  /** The manifest's bytes as stored. */
  bytes: Uint8Array;
}

export interface View {
  table: string | undefined;
  store: HttpStore;
  /** The table's reader (HEAD, snapshots; the manifests the page holds are not read again). */
  reader: PageTable;
  head: number;
  snapshots: Snapshot[];
  selected: number | undefined;
  /** The data file being previewed. */
  file: string | undefined;
}

/**
 * The page's table reader: a manifest the page already holds (`known`, set
 * as the snapshot list is read) is not read again when rows are read.
 */
export class PageTable extends TableReader {
  /** Manifests the page holds, by version. */
  known = new Map<number, ManifestFile>();

  override read(version: number): Promise<ManifestFile> {
    const f = this.known.get(version);
    return f ? Promise.resolve(f) : super.read(version);
  }
}

export let view: View | undefined;

/** Replaces the table being viewed (`view` is read-only to importers). */
export function setView(v: View): void {
  view = v;
}

/** Signed URLs of the worker's data files, by table and key, until shortly before they expire. */
const signedUrls = new Map<string, { url: string; expiresAt: number }>();
/** Keys of each table waiting to be signed, with the reads waiting for them. */
const unsigned = new Map<string, Map<string, Array<(r: string | Error) => void>>>();
/** Keys one sign request may carry (the worker's limit). */
const SIGN_BATCH = 1000;

/**
 * The URL a data file is read from: for a table of this worker, a
 * short-lived signed URL (GET/HEAD/Range without a header, so the Parquet
 * reader needs no credential); for a bucket URL typed in, the object's URL.
 * The keys asked for in one turn (a read of rows opens its files together)
 * are signed with one request.
 */
export async function fileUrl(v: View, key: string): Promise<string> {
  const table = v.table;
  if (!table) return v.store.url(key);
  const known = signedUrls.get(`${table}\n${key}`);
  if (known && known.expiresAt - Date.now() > 30_000) return known.url;
  const got = await new Promise<string | Error>((resolve) => {
    let waiting = unsigned.get(table);
    if (!waiting) {
      waiting = new Map();
      unsigned.set(table, waiting);
      setTimeout(() => void signWaiting(table), 0);
    }
    waiting.set(key, [...(waiting.get(key) ?? []), resolve]);
  });
  if (got instanceof Error) throw got;
  return got;
}

/** Signs the keys waiting for `table`, up to {@link SIGN_BATCH} a request. */
async function signWaiting(table: string): Promise<void> {
  const waiting = unsigned.get(table) ?? new Map<string, Array<(r: string | Error) => void>>();
  unsigned.delete(table);
  const keys = [...waiting.keys()];
  for (let i = 0; i < keys.length; i += SIGN_BATCH) {
    const batch = keys.slice(i, i + SIGN_BATCH);
    const answer = new Map<string, string | Error>();
    try {
      const r = await fetch(`/api/tables/${encodeURIComponent(table)}/sign`, {
        method: "POST",
        headers: { ...authHeaders, "Content-Type": "application/json" },
        body: JSON.stringify({ keys: batch }),
      });
      // No signing key configured (501): the object route with the page's credential cannot be
      // used by a plain fetch, so say what is missing.
      if (!r.ok) {
        const e = new TidemarkError(
          r.status === 401 || r.status === 403 ? "PermissionDenied" : "NotSupported",
          `cannot sign URLs of ${table}'s files: HTTP ${r.status}`,
        );
        for (const k of batch) answer.set(k, e);
      } else {
        const { urls, expiresAt } = (await r.json()) as { urls: Record<string, string>; expiresAt: string };
        for (const k of batch) {
          const url = Object.hasOwn(urls, k) ? urls[k] : undefined;
          if (url === undefined) {
            answer.set(k, new TidemarkError("Corrupt", `the worker signed no URL for ${k}`, { key: k }));
            continue;
          }
          const href = new URL(url, location.href).href;
          signedUrls.set(`${table}\n${k}`, { url: href, expiresAt: Date.parse(expiresAt) });
          answer.set(k, href);
        }
      }
    } catch {
      const e = new TidemarkError("Transient", `cannot reach the worker to sign URLs of ${table}'s files`);
      for (const k of batch) answer.set(k, e);
    }
    for (const k of batch)
      for (const resolve of waiting.get(k) ?? []) resolve(answer.get(k) as string | Error);
  }
}

/** merutable's schema of snapshot `s` (the manifest property), if it has one. */
export const schemaOf = (s: Snapshot | undefined): MeruSchema | undefined =>
  parseMeruSchema(s?.manifest.properties["merutable.schema.json"]);

/** An error as a person should read it. */
export function explain(e: unknown): string {
  const m = (e as Error).message;
  switch (errorCodeOf(e)) {
    case "PermissionDenied":
      return `Not authorised (HTTP 401/403): this mirror needs a read credential. ${m}`;
    case "NotFound":
      return `Not found (HTTP 404): ${m}`;
    case "Transient":
      return `The mirror cannot be reached right now (network error, HTTP 429 or 5xx); retrying. ${m}`;
    default:
      return m;
  }
}

export interface MirrorStatusJson {
  sourceHead: number | null;
  lagSeconds: number | null;
  counters: { files: number };
  lastError: { message: string } | null;
  lagHistory?: Array<{ atMs: number; lagSeconds: number | null }>;
  /** With a retention policy (retention-view.ts). */
  retention?: RetentionJson;
  /** The table's Iceberg views (view-panel.ts). */
  iceberg?: ViewStatusJson[];
  /** The table's drills (drill-view.ts). */
  drill?: DrillJson;
}
