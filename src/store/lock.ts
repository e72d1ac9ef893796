/**
 * Object Lock retentions on puts ({@link ObjectLock}): their check, and the
 * refusal of a store that cannot keep one (it never writes the object
 * unlocked).
 *
 * @module
 */
import { TidemarkError } from "../errors.ts";
import type { ObjectLock } from "./types.ts";

const MODES: ReadonlySet<string> = new Set(["governance", "compliance"]);

/**
 * Checks a put's `lock`: a known mode and a valid date.
 *
 * @throws TidemarkError `InvalidArgument` naming the key.
 */
export function checkLock(lock: ObjectLock, key: string): void {
  if (!MODES.has(lock?.mode)) {
    throw new TidemarkError(
      "InvalidArgument",
      `put ${JSON.stringify(key)}: lock.mode must be "governance" or "compliance"`,
      { key },
    );
  }
  if (!(lock.retainUntil instanceof Date) || Number.isNaN(lock.retainUntil.getTime())) {
    throw new TidemarkError(
      "InvalidArgument",
      `put ${JSON.stringify(key)}: lock.retainUntil must be a Date`,
      {
        key,
      },
    );
  }
}

/** `NotSupported`: `store` cannot keep a retention, so the locked put is refused, never written unlocked. */
export function lockNotSupported(store: string, key: string): TidemarkError {
  return new TidemarkError(
    "NotSupported",
    `put ${JSON.stringify(key)} on ${store}: this store cannot keep an Object Lock retention (lock), ` +
      "and a locked put is never written unlocked",
    { key },
  );
}

/** Whether `lock` still protects its object at `nowMs`. */
export function lockHolds(lock: ObjectLock | undefined, nowMs: number): boolean {
  return lock !== undefined && lock.retainUntil.getTime() > nowMs;
}
