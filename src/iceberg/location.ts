/**
 * Where an Iceberg view's readers find the mirror: the absolute location of
 * its root (`s3://bucket/prefix` for S3 and R2, `https://host/path` for a
 * Worker's object route or a public bucket, `file:///dir` for a local
 * directory), and the view's own prefix in it.
 * Paths in Iceberg metadata are absolute up to format version 3, so a view
 * is written for one location (apache/iceberg#14606, trinodb/trino#25499:
 * copies of Iceberg tables need their paths rewritten).
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import { pathProblem } from "../manifest/paths.ts";

/** The default prefix of a view: never a key merutable or tidemark's layout detection reads. */
export const DEFAULT_VIEW_PREFIX = "iceberg";

/** A view's location and prefix, checked. */
export class ViewLocation {
  /** The mirror root as readers reach it, without a trailing `/`. */
  readonly base: string;
  /** The view's prefix on the mirror's store (no leading or trailing `/`). */
  readonly prefix: string;
  /** Object keys are percent-encoded per segment in the URL (HTTP), or used as they are (s3://...). */
  readonly #http: boolean;

  /**
   * @throws TidemarkError `InvalidArgument` for a location that is not an
   *   absolute URI (a scheme, then `//`), carries credentials, a query or a
   *   fragment; a prefix that is not a clean relative key prefix, or is
   *   under the table's own `metadata/`.
   */
  constructor(location: string, prefix = DEFAULT_VIEW_PREFIX) {
    // A scheme, then an authority (a bucket, a host); file: URIs have an empty one (file:///abs/dir).
    if (
      typeof location !== "string" ||
      !/^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]|file:\/\/\/.)/.test(location)
    ) {
      throw new TidemarkError(
        "InvalidArgument",
        `iceberg location must be an absolute URI such as s3://bucket/prefix or https://host/path, got ${JSON.stringify(String(location).slice(0, 100))}`,
      );
    }
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new TidemarkError("InvalidArgument", `iceberg location ${JSON.stringify(location)} is not a URI`);
    }
    if (url.username || url.password) {
      throw new TidemarkError("InvalidArgument", "iceberg location must not carry credentials");
    }
    if (url.search || url.hash || location.includes("?") || location.includes("#")) {
      throw new TidemarkError("InvalidArgument", "iceberg location must not carry a query or a fragment");
    }
    this.base = location.replace(/\/+$/, "");
    this.#http = url.protocol === "http:" || url.protocol === "https:";
    const p = String(prefix).replace(/\/+$/, "");
    const problem = pathProblem(p);
    if (problem !== undefined) {
      throw new TidemarkError("InvalidArgument", `iceberg prefix ${JSON.stringify(p)} ${problem}`);
    }
    const first = p.split("/")[0];
    if (first === "metadata" || first === "version-hint.text") {
      throw new TidemarkError(
        "InvalidArgument",
        `iceberg prefix ${JSON.stringify(p)} is under the table's own ${first}: the view needs a prefix of its own`,
      );
    }
    this.prefix = p;
  }

  /** The absolute path of the mirror's object `key`. */
  of(key: string): string {
    return `${this.base}/${this.#http ? key.split("/").map(encodeURIComponent).join("/") : key}`;
  }

  /** The object key of absolute path `path`, `undefined` when it is not under the location. */
  keyOf(path: string): string | undefined {
    if (!path.startsWith(`${this.base}/`)) return undefined;
    const rest = path.slice(this.base.length + 1);
    if (!this.#http) return rest;
    try {
      return rest.split("/").map(decodeURIComponent).join("/");
    } catch {
      return undefined;
    }
  }

  /** The view's table location (its metadata's `location`). */
  get table(): string {
    return this.of(this.prefix);
  }

  /** The absolute path of the view's own file `key` (relative to its prefix). */
  ofView(key: string): string {
    return this.of(`${this.prefix}/${key}`);
  }

  /** The view-relative key of absolute path `path`, `undefined` when it is not in the view. */
  viewKeyOf(path: string): string | undefined {
    const key = this.keyOf(path);
    return key?.startsWith(`${this.prefix}/`) ? key.slice(this.prefix.length + 1) : undefined;
  }
}
