import type { TidemarkError } from "../errors.ts";

/** One caller waiting for a mirror to reach a version; see {@link Waiters}. */
export interface Waiter {
  /** The version waited for; `undefined` until known (`awaitMirror()` of the source's HEAD). */
  version: number | undefined;
  /** Settles with the value passed to {@link Waiters.settle}, or an error. */
  readonly promise: Promise<number>;
}

interface Entry extends Waiter {
  resolve: (value: number) => void;
  reject: (e: TidemarkError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The callers of `awaitMirror`, for the `Mirror` (in-process) and the
 * Durable Object (over RPC): each waits for a version, with an optional
 * timeout, and is settled when the mirror reaches it or fails for good. A
 * waiter is registered before the mirror is woken, so an advance in between
 * is never missed; its timer never outlives it.
 */
export class Waiters {
  readonly #entries = new Set<Entry>();

  /**
   * Registers a waiter for `version`. After `timeoutMs` it rejects with
   * `timeoutError(waiter)` (no timeout when `undefined`).
   */
  add(
    version: number | undefined,
    timeoutMs: number | undefined,
    timeoutError: (w: Waiter) => TidemarkError,
  ): Waiter {
    let resolve!: (value: number) => void;
    let reject!: (e: TidemarkError) => void;
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { version, promise, resolve, reject };
    if (timeoutMs !== undefined) {
      entry.timer = setTimeout(() => this.reject(entry, timeoutError(entry)), timeoutMs);
    }
    this.#entries.add(entry);
    return entry;
  }

  /** Resolves, with `value`, every waiter whose version is known and at most `reached`. */
  settle(reached: number, value: number): void {
    for (const e of this.#entries) {
      if (e.version !== undefined && e.version <= reached) {
        this.#remove(e);
        e.resolve(value);
      }
    }
  }

  /** Rejects one waiter (a no-op once it is settled). */
  reject(w: Waiter, err: TidemarkError): void {
    const e = w as Entry;
    if (!this.#entries.has(e)) return;
    this.#remove(e);
    e.reject(err);
  }

  /** Rejects every waiter, each with `err(waiter)`. */
  rejectAll(err: (w: Waiter) => TidemarkError): void {
    for (const e of this.#entries) this.reject(e, err(e));
  }

  #remove(e: Entry): void {
    this.#entries.delete(e);
    if (e.timer !== undefined) clearTimeout(e.timer);
  }
}
