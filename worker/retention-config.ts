/**
 * A table's retention and Object Lock settings in the Worker (the `retention`
 * and `lock` keys of a table configuration, worker/config.ts): the mirror's
 * own options (`Mirror`'s `retention` and `lock`, src/mirror/retention.ts),
 * each value checked with `InvalidArgument` naming the field as the
 * configuration spells it (`TABLE_CONFIG.orders.retention.keepVersions`), and
 * the two checked together as `tidemark mirror` checks its flags: a lock
 * period shorter than `keepDays` is refused, and so is a lock on a target
 * that cannot keep a retention (an R2 binding: R2 locks by bucket rules, not
 * per object).
 */
import { TidemarkError, toTidemarkError } from "../src/errors.ts";
import type { MirrorLockOptions, RetentionOptions } from "../src/mirror/retention.ts";
import { retentionSettings } from "../src/mirror/retention.ts";
import { checkNumber } from "../src/options.ts";
import { capabilitiesOf, type ObjectStore } from "../src/store/types.ts";

const LOCK_MODES = ["governance", "compliance"] as const;

function invalid(message: string): TidemarkError {
  return new TidemarkError("InvalidArgument", message);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Refuses keys of `v` other than `known`, naming `name`. */
function onlyKeys(v: Record<string, unknown>, name: string, known: readonly string[]): void {
  for (const k of Object.keys(v)) {
    if (!known.includes(k))
      throw invalid(`${name}: unknown key ${JSON.stringify(k)} (known: ${known.join(", ")})`);
  }
}

/**
 * The `retention` key: `{ keepVersions?, keepDays?, graceMs? }`, at least one
 * of the first two (the library's `RetentionOptions`).
 *
 * @throws TidemarkError `InvalidArgument` naming the field.
 */
export function parseRetention(v: unknown, name: string): RetentionOptions {
  if (!isObject(v)) throw invalid(`${name} must be { keepVersions?, keepDays?, graceMs? }`);
  onlyKeys(v, name, ["keepVersions", "keepDays", "graceMs"]);
  const out: RetentionOptions = {};
  if (v.keepVersions !== undefined)
    out.keepVersions = checkNumber(`${name}.keepVersions`, v.keepVersions, { min: 1 });
  if (v.keepDays !== undefined)
    out.keepDays = checkNumber(`${name}.keepDays`, v.keepDays, { min: 0, integer: false });
  if (v.graceMs !== undefined) out.graceMs = checkNumber(`${name}.graceMs`, v.graceMs, { min: 0 });
  if (out.keepVersions === undefined && out.keepDays === undefined) {
    throw invalid(`${name} needs keepVersions, keepDays, or both`);
  }
  return out;
}

/**
 * The `lock` key: `{ mode: "governance" | "compliance", days }` (days > 0,
 * fractions allowed).
 *
 * @throws TidemarkError `InvalidArgument` naming the field.
 */
export function parseLock(v: unknown, name: string): MirrorLockOptions {
  if (!isObject(v)) throw invalid(`${name} must be { mode: "governance" | "compliance", days }`);
  onlyKeys(v, name, ["mode", "days"]);
  const mode = v.mode;
  if (!LOCK_MODES.includes(mode as MirrorLockOptions["mode"])) {
    throw invalid(
      `${name}.mode must be "governance" or "compliance", got ${JSON.stringify(mode) ?? "nothing"}`,
    );
  }
  if (v.days === undefined) throw invalid(`${name}.days is required (the lock period, in days)`);
  const days = checkNumber(`${name}.days`, v.days, { min: 0, integer: false });
  if (!(days > 0)) throw invalid(`${name}.days must be more than 0, got ${days}`);
  return { mode: mode as MirrorLockOptions["mode"], days };
}

/**
 * Checks a table's `retention` and `lock` together, as the mirror will (its
 * own check, `retentionSettings`, with the field names prefixed by `where`),
 * and that a lock's target keeps retentions. No I/O.
 *
 * @throws TidemarkError `InvalidArgument` naming the field.
 */
export function checkRetentionConfig(
  config: { retention?: RetentionOptions; lock?: MirrorLockOptions },
  target: ObjectStore,
  where: string,
): void {
  try {
    retentionSettings(config.retention, config.lock);
  } catch (e) {
    const err = toTidemarkError(e);
    // The library names `lock.days` and `retention.keepDays`: the same keys as the configuration's.
    throw invalid(`${where}${err.message.replace(/^\[\w+\] /, "")}`);
  }
  if (config.lock !== undefined && !capabilitiesOf(target).objectLock) {
    throw invalid(
      `${where}lock: the target ${target.name} cannot keep an Object Lock retention per object ` +
        "(an s3:// bucket created with Object Lock can; R2 locks by bucket rules, set in its dashboard)",
    );
  }
}

/** The mirror's `retention` and `lock` options of a table configuration (absent keys stay absent). */
export function retentionOptions(config: { retention?: RetentionOptions; lock?: MirrorLockOptions }): {
  retention?: RetentionOptions;
  lock?: MirrorLockOptions;
} {
  return {
    ...(config.retention !== undefined ? { retention: config.retention } : {}),
    ...(config.lock !== undefined ? { lock: config.lock } : {}),
  };
}
