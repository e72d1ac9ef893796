/**
 * A table's `iceberg` setting: the Apache Iceberg views its mirror writes
 * after each mirrored version (src/iceberg/, docs/iceberg.md), each for the
 * location its readers address the mirror at: the Worker's own object route
 * (`https://worker.example/objects/orders`) or the target bucket as
 * `s3://bucket/prefix` (S3, R2 through its S3 API). Iceberg metadata holds
 * absolute paths, so a view written for a wrong location names files no
 * reader finds, and a view's prefix keeps its location for good: the
 * location is checked before anything is mirrored (`InvalidArgument` naming
 * the table and the field), against the target where the configuration
 * tells enough.
 *
 * Shapes: `"s3://bucket/prefix"`, `{ location, prefix? }` (`prefix`: where
 * the view's files go under the mirror's root, default `iceberg`), or an
 * array of up to {@link MAX_VIEWS} of these (a view per location, each under
 * its own prefix). A string is kept as `{ location }`.
 */
import { TidemarkError } from "../src/errors.ts";
import { ViewLocation } from "../src/iceberg/location.ts";
import { checkViewPrefixes, type IcebergViewOptions } from "../src/iceberg/view.ts";
import type { StoreUrl } from "../src/store/url.ts";

/** One Iceberg view of a table's mirror. */
export interface ViewSetting {
  /** The mirror's root as the view's readers reach it: `s3://bucket/prefix`, or an `http(s)://` base. */
  location: string;
  /** The view's prefix under the mirror's root (default `iceberg`). */
  prefix?: string;
}

/** The `iceberg` key of a table configuration, normalised. */
export type IcebergSetting = ViewSetting | ViewSetting[];

/** Views one table may carry: each costs its writes per mirrored version. */
export const MAX_VIEWS = 4;

/** The schemes a reader of a Worker's table addresses its mirror by. */
const LOCATION = /^(?:s3|https?):\/\//i;

const invalid = (message: string) => new TidemarkError("InvalidArgument", message);
/** An error's message without its `[Code] ` prefix, to be given again under a field's name. */
const reason = (e: unknown) => (e as Error).message.replace(/^\[[A-Za-z]+\] /, "");

function parseView(v: unknown, name: string): ViewSetting {
  const view: Record<string, unknown> =
    typeof v === "string" ? { location: v } : (v as Record<string, unknown>);
  if (typeof view !== "object" || view === null || Array.isArray(view)) {
    throw invalid(
      `${name} must be a location (s3://bucket/prefix or an https:// base) or { location, prefix? }`,
    );
  }
  for (const k of Object.keys(view)) {
    if (k !== "location" && k !== "prefix")
      throw invalid(`${name}: unknown key ${JSON.stringify(k)} (known: location, prefix)`);
  }
  const { location, prefix } = view;
  if (typeof location !== "string" || !LOCATION.test(location)) {
    throw invalid(
      `${name}.location must be s3://bucket/prefix or the https:// base readers reach the mirror at, got ${JSON.stringify(String(location).slice(0, 100))}`,
    );
  }
  if (prefix !== undefined && typeof prefix !== "string")
    throw invalid(`${name}.prefix must be a key prefix`);
  try {
    // Credentials, a query or a fragment, a bad prefix.
    new ViewLocation(location, prefix);
  } catch (e) {
    throw invalid(`${name}: ${reason(e)}`);
  }
  return prefix === undefined ? { location } : { location, prefix };
}

/**
 * Checks a table's `iceberg` setting (`name`: the field as the error names
 * it) and normalises it.
 *
 * @throws TidemarkError `InvalidArgument` naming the field.
 */
export function parseIcebergSetting(v: unknown, name: string): IcebergSetting {
  if (!Array.isArray(v)) {
    const one = parseView(v, name);
    checkViewPrefixes([viewLocation(one)]);
    return one;
  }
  if (v.length === 0 || v.length > MAX_VIEWS) {
    throw invalid(`${name} must list 1 to ${MAX_VIEWS} views`);
  }
  const views = v.map((x, i) => parseView(x, `${name}[${i}]`));
  try {
    checkViewPrefixes(views.map(viewLocation));
  } catch (e) {
    throw invalid(`${name}: ${reason(e)}`);
  }
  return views;
}

const viewLocation = (v: ViewSetting) => new ViewLocation(v.location, v.prefix);

/** The views of a setting, as the `Mirror` option `iceberg` takes them (none when absent). */
export function viewSettings(setting: IcebergSetting | undefined): ViewSetting[] {
  if (setting === undefined) return [];
  return Array.isArray(setting) ? setting : [setting];
}

/** The `Mirror` option `iceberg` of a setting (`undefined`: no view). */
export function mirrorViews(setting: IcebergSetting | undefined): IcebergViewOptions[] | undefined {
  const views = viewSettings(setting);
  return views.length > 0 ? views.map((v) => ({ ...v })) : undefined;
}

/**
 * Refuses a view location that cannot be the table's target: an
 * `s3://bucket/prefix` whose prefix (and, for an `s3://` target, bucket) is
 * not the target's, or the object route of another table
 * (`.../objects/{other}`). Other `http(s)://` bases (a custom domain, a
 * public bucket) cannot be checked here.
 *
 * @throws TidemarkError `InvalidArgument` naming the table and the field.
 */
export function checkViewTarget(
  table: string,
  setting: IcebergSetting | undefined,
  target: StoreUrl,
  where: string,
): void {
  const views = viewSettings(setting);
  const trim = (p: string) => p.replace(/^\/+|\/+$/g, "");
  for (const [i, v] of views.entries()) {
    const name = `${where}iceberg${Array.isArray(setting) ? `[${i}]` : ""}.location`;
    const refuse = (why: string) => invalid(`table ${table}: ${name} ${v.location} ${why}`);
    const url = new URL(v.location);
    let path: string;
    try {
      path = trim(decodeURIComponent(url.pathname));
    } catch {
      throw refuse("has a path that is not percent-encoded text");
    }
    if (url.protocol === "s3:") {
      if (target.kind === "s3" && url.hostname !== target.bucket) {
        throw refuse(`names bucket ${url.hostname}; the target's is ${target.bucket}`);
      }
      if ((target.kind === "s3" || target.kind === "r2") && path !== trim(target.prefix)) {
        throw refuse(
          `names prefix "${path}"; the target keeps the table under "${trim(target.prefix)}" (the view's paths must be the mirror's keys)`,
        );
      }
      continue;
    }
    const route = /(?:^|\/)objects\/([^/]+)$/.exec(path);
    if (route && route[1] !== table)
      throw refuse(`is the object route of table ${route[1]}, not of ${table}`);
  }
}
