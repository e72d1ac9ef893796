/**
 * Pushed wake-ups: the queue consumer of R2 event notifications.
 *
 * A source bucket listed in `PUSH_BUCKETS` sends a message to the worker's
 * queue for each object created (`wrangler r2 bucket notification create`).
 * A message about a manifest (`metadata/v{N}.manifest.bin`) or merutable's
 * `version-hint.text` kicks the Durable Object of every table whose source is
 * there; anything else is acknowledged and dropped. Messages are delivered at
 * least once and in no particular order, so they only ever *wake* a table:
 * its mirror still finds the source's HEAD and follows the manifest chain,
 * the only ordering authority. A duplicate or late message about a version
 * already mirrored costs one Durable Object request and no store request.
 * https://developers.cloudflare.com/r2/buckets/event-notifications/
 */
import { METADATA_PREFIX, parseManifestKey } from "../src/catalog/layout.ts";
import { VERSION_HINT_KEY } from "../src/catalog/posix.ts";
import { toTidemarkError } from "../src/errors.ts";
import { parseStoreUrl } from "../src/store/url.ts";
import type { Env } from "./env.ts";
import { perEnv } from "./per-env.ts";
import { eventLocations, pushBuckets, pushedBucket } from "./push-buckets.ts";
import { sourceTablesOn, staticConfig, staticTables, TABLES_PREFIX } from "./static-tables.ts";
import { sourceLocation } from "./stores.ts";
import { isTableName } from "./table-config.ts";
import { mirrorObject, tableRegistry } from "./tables.ts";

/** The body of an R2 event notification message (the documented shape). */
export interface R2EventMessage {
  account: string;
  /** `PutObject`, `CopyObject`, `CompleteMultipartUpload`, `DeleteObject`, `LifecycleDeletion`. */
  action: string;
  bucket: string;
  object: { key: string; size?: number; eTag?: string };
  eventTime?: string;
  copySource?: { bucket: string; object: string };
}

/** The actions of the `object-create` event type: an object appeared. */
export const CREATE_ACTIONS: ReadonlySet<string> = new Set([
  "PutObject",
  "CopyObject",
  "CompleteMultipartUpload",
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `body` as an R2 event notification, or `undefined` when it is not one. */
export function parseR2Event(body: unknown): R2EventMessage | undefined {
  if (!isObject(body) || !isObject(body.object)) return undefined;
  const { action, bucket, object } = body;
  if (typeof action !== "string" || typeof bucket !== "string" || typeof object.key !== "string")
    return undefined;
  return body as unknown as R2EventMessage;
}

/** What a key says about a table: its root (`prefix`), and the version a manifest key names. */
export interface Wake {
  /** The table's root in the bucket: `""` or ending in `/`. */
  prefix: string;
  /** The manifest's version; `undefined` for `version-hint.text` (a posix table: it names the version itself). */
  version?: number;
}

/**
 * The wake-up a created object means: a manifest of the object-store layout
 * (the commit point), or merutable's `version-hint.text` (written after its
 * manifest). `undefined` for any other key (data files, low_water, a posix
 * table's `v{N}.metadata.pb`, which its hint follows).
 */
export function wakeOf(key: string): Wake | undefined {
  if (key === VERSION_HINT_KEY || key.endsWith(`/${VERSION_HINT_KEY}`)) {
    return { prefix: key.slice(0, key.length - VERSION_HINT_KEY.length) };
  }
  const at = key.lastIndexOf(`${METADATA_PREFIX}v`);
  if (at < 0 || (at > 0 && key[at - 1] !== "/")) return undefined;
  const version = parseManifestKey(key.slice(at));
  return version === undefined ? undefined : { prefix: key.slice(0, at), version };
}

/** What the consumer hands one table's Durable Object for a batch. */
export interface PushEvent {
  /** The source location the events were about (the object checks it is its source's). */
  location: string;
  /** The highest manifest version named; `undefined` when a `version-hint.text` was among them. */
  version?: number;
  /** Messages it stands for. */
  messages: number;
}

/** How a table's object took a push. */
export type PushOutcome = "woken" | "stale" | "ignored";

/**
 * The static tables (`TABLE_CONFIG`) whose wake-ups are pushed, by source
 * location; computed once per `env` (thousands of tables are parsed once,
 * not per batch). An entry that does not parse is left out here (its table
 * reports the error itself).
 */
const staticByLocation = perEnv((env: Env): Map<string, string[]> => {
  const pb = pushBuckets(env);
  const byLocation = new Map<string, string[]>();
  for (const table of Object.keys(staticTables(env))) {
    try {
      const config = staticConfig(env, table);
      if (config === undefined || config.push === false) continue;
      const url = parseStoreUrl(config.source.url, { kinds: ["s3", "r2", "http"] });
      const location = sourceLocation(url);
      if (location === undefined || pushedBucket(url, pb) === undefined) continue;
      byLocation.set(location, [...(byLocation.get(location) ?? []), table]);
    } catch {
      // Reported by the table's own status.
    }
  }
  return byLocation;
});

/**
 * The tables whose source is at each of `locations`: static ones, those of
 * the `SOURCE_TABLES` layout, and admin-configured ones (one call to the
 * registry). Candidates only: each table's object checks the location
 * against its own configuration before it wakes.
 */
export async function tablesAt(env: Env, locations: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, Set<string>>();
  const add = (location: string, table: string) => {
    const s = out.get(location) ?? new Set<string>();
    s.add(table);
    out.set(location, s);
  };
  const statics = staticByLocation(env);
  const layout = sourceTablesOn(env) ? `r2:SOURCE/${TABLES_PREFIX}` : undefined;
  for (const location of locations) {
    for (const t of statics.get(location) ?? []) add(location, t);
    if (layout !== undefined && location.startsWith(layout)) {
      const name = location.slice(layout.length, -1);
      if (isTableName(name) && location === `${layout}${name}/`) add(location, name);
    }
  }
  if (locations.length > 0) {
    const admin = await tableRegistry(env).lookup(locations);
    for (const [location, tables] of Object.entries(admin)) for (const t of tables) add(location, t);
  }
  return new Map([...out].map(([l, s]) => [l, [...s]]));
}

/** What a batch came to. */
export interface PushBatchResult {
  /** Messages about a manifest or hint of a table here. */
  routed: number;
  /** Other messages: other keys, other actions, other buckets, not an R2 event. */
  dropped: number;
  /** Messages handed back to the queue (a table's object failed to take them). */
  retried: number;
  /** Tables woken, and tables told of versions they already had. */
  woken: number;
  stale: number;
  /** Buckets that sent a manifest or hint but are not in `PUSH_BUCKETS` (a var forgotten: logged). */
  unlisted: string[];
}

/**
 * The queue consumer: routes a batch of R2 event notifications to the
 * Durable Objects of the tables they are about (one call per table and
 * batch, with the highest version named), acknowledges each message once
 * its tables took it, and hands a message back (`retry`) when one of them
 * failed with anything but a configuration error (which a retry cannot fix).
 */
export async function handlePushBatch(batch: MessageBatch<unknown>, env: Env): Promise<PushBatchResult> {
  const result: PushBatchResult = { routed: 0, dropped: 0, retried: 0, woken: 0, stale: 0, unlisted: [] };
  const unlisted = new Set<string>();
  const pb = pushBuckets(env);
  // Location -> the messages about it and what they name.
  const pending = new Map<
    string,
    { messages: Message<unknown>[]; version: number | undefined; hint: boolean }
  >();
  for (const m of batch.messages) {
    const event = parseR2Event(m.body);
    const wake = event && CREATE_ACTIONS.has(event.action) ? wakeOf(event.object.key) : undefined;
    const locations = event && wake ? eventLocations(event.bucket, wake.prefix, pb) : [];
    if (event && wake && locations.length === 0) unlisted.add(event.bucket);
    for (const location of locations) {
      const p = pending.get(location) ?? { messages: [], version: undefined, hint: false };
      p.messages.push(m);
      if (wake?.version === undefined) p.hint = true;
      else p.version = Math.max(p.version ?? 0, wake.version);
      pending.set(location, p);
    }
  }
  const tables = await tablesAt(env, [...pending.keys()]);
  const failed = new Set<Message<unknown>>();
  const routed = new Set<Message<unknown>>();
  await Promise.all(
    [...pending].map(async ([location, p]) => {
      const event: PushEvent = {
        location,
        messages: p.messages.length,
        ...(p.hint || p.version === undefined ? {} : { version: p.version }),
      };
      for (const table of tables.get(location) ?? []) {
        for (const m of p.messages) routed.add(m);
        try {
          const outcome = await mirrorObject(env, table).push(table, event);
          if (outcome === "woken") result.woken++;
          else if (outcome === "stale") result.stale++;
        } catch (e) {
          const err = toTidemarkError(e);
          // A table removed or misconfigured since: a retry cannot help (its status says why).
          if (err.code === "NotFound" || err.code === "InvalidArgument") continue;
          console.warn(`tidemark: table ${table}: a pushed wake-up failed, retrying it: ${err.message}`);
          for (const m of p.messages) failed.add(m);
        }
      }
    }),
  );
  // One answer per message: back to the queue if a table failed to take it,
  // else acknowledged (routed, or about nothing mirrored here).
  for (const m of batch.messages) {
    if (failed.has(m)) {
      result.retried++;
      m.retry();
      continue;
    }
    if (routed.has(m)) result.routed++;
    else result.dropped++;
    m.ack();
  }
  result.unlisted = [...unlisted].sort();
  if (result.unlisted.length > 0) {
    console.warn(
      `tidemark: event notifications of new manifests from bucket(s) ${result.unlisted.join(", ")} were dropped: not in PUSH_BUCKETS`,
    );
  }
  return result;
}
