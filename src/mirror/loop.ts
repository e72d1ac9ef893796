import { type ErrorCode, isTidemarkError } from "../errors.ts";

/** Options of {@link TickLoop}. */
export interface TickLoopOptions {
  /** One pass; never throws (a failure is the pass's to record). */
  tick: () => Promise<unknown>;
  /** How long to wait after a pass, in ms. */
  nextDelayMs: () => number;
  /** Sleep between passes (default: a timer that `kick()` and `stop()` cancel). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `tick` over and over on a timer, in-process (Node, Deno, a browser):
 * tick, wait `nextDelayMs()` (or until a kick), repeat, until stopped. The
 * Durable Object drives its ticks from alarms instead, and so has no loop.
 */
export class TickLoop {
  readonly #opts: TickLoopOptions;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #kicked = false;
  #wake: (() => void) | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(opts: TickLoopOptions) {
    this.#opts = opts;
  }

  /** Starts the loop (a no-op when it runs or was stopped). */
  start(): void {
    if (this.#loop || this.#stopped) return;
    this.#loop = this.#run();
  }

  /** Ticks as soon as possible: ends the wait, or makes the loop tick again right after the tick in flight. */
  kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /**
   * Stops the loop: no new tick starts, and the wait ends. Returns the loop's
   * promise, which settles when the tick in flight (if any) has ended;
   * `undefined` when the loop never started.
   */
  stop(): Promise<void> | undefined {
    this.#stopped = true;
    this.#wake?.();
    return this.#loop;
  }

  /** Whether the loop was stopped (by {@link stop} or {@link shutdown}): its owner is closed for good. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * A mirror's shutdown: stops the loop and resolves once the tick in flight
   * has ended (the loop's, else `inFlight`, a tick driven from outside), or
   * after `timeoutMs`. Idempotent: later calls get the first call's promise.
   */
  shutdown(inFlight: Promise<unknown> | undefined, timeoutMs: number): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    const pending = this.stop() ?? inFlight;
    this.#shutdown = pending ? boundedWait(pending, timeoutMs) : Promise.resolve();
    return this.#shutdown;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#kicked = false;
      await this.#opts.tick();
      if (this.#stopped) break;
      if (this.#kicked) continue;
      await this.#wait(this.#opts.nextDelayMs());
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      if (this.#opts.sleep) this.#opts.sleep(ms).then(done, done);
      else timer = setTimeout(done, ms);
    });
  }
}

/**
 * The codes of mirror failures that no retry can fix, the one definition
 * `Mirror` and `tidemark mirror` share: `SplitBrain` (the target holds
 * another history, or the source's history was rewritten under the
 * mirror), `NotSupported` (a posix target, a store that cannot do what the
 * mirror needs), `StaleVersion` (fenced off by a newer writer). Every other
 * failure (`Transient`, `NotFound`: a late manifest, a source that is gone
 * for now; `PermissionDenied`, `Corrupt`...) is retried at the next tick.
 */
export const FATAL_MIRROR_CODES: readonly ErrorCode[] = ["SplitBrain", "NotSupported", "StaleVersion"];

/**
 * Whether a mirror failure is fatal (see {@link FATAL_MIRROR_CODES}): `Mirror`
 * rejects every pending `awaitMirror` with it (and new ones at once until a
 * tick succeeds); `tidemark mirror --watch` exits with it.
 */
export function isFatalMirrorError(e: unknown): boolean {
  return FATAL_MIRROR_CODES.some((code) => isTidemarkError(e, code));
}

/** Waits for `p` to settle, at most `ms` milliseconds (a shutdown that must not hang); never rejects. */
async function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  if (timer !== undefined) clearTimeout(timer);
}
