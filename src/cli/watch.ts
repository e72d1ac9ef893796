/**
 * Driving a mirror loop from the command line, for `mirror` and
 * `checkpoint mirror` alike: the errors its ticks report (the last one, and
 * the first one retrying cannot fix), `--once` (tick until caught up) and
 * `--watch` (run until SIGINT/SIGTERM or a fatal error, a line per advance).
 *
 * @module
 */
import type { TidemarkError } from "../errors.ts";
import type { CliContext } from "./context.ts";
import type { OutputOptions } from "./output.ts";

/** The options every mirror loop command takes (`loopOptions` in main.ts). */
export interface LoopCliOptions extends OutputOptions {
  from: string;
  to: string;
  once?: boolean;
  watch?: boolean;
  parallel: number;
  pollInterval: number;
}

/** What the CLI drives: `Mirror` or `CheckpointMirror`. */
export interface Loop {
  tick(): Promise<unknown>;
  start(): void;
  shutdown(): Promise<void>;
  status(): { caughtUp: boolean; nextDelayMs: number };
}

/** The errors a loop's ticks report (its `onError`). */
export class TickErrors {
  last: TidemarkError | undefined;
  readonly #fatal: Promise<TidemarkError>;
  #resolve: ((e: TidemarkError) => void) | undefined;
  readonly #isFatal: (e: TidemarkError) => boolean;

  /** @param isFatal an error retrying cannot fix (another writer on the target...). */
  constructor(isFatal: (e: TidemarkError) => boolean) {
    this.#isFatal = isFatal;
    this.#fatal = new Promise<TidemarkError>((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** The loop's `onError`. */
  readonly onError = (e: TidemarkError): void => {
    this.last = e;
    if (this.#isFatal(e)) this.#resolve?.(e);
  };

  /** Resolves with the first fatal error. */
  get fatal(): Promise<TidemarkError> {
    return this.#fatal;
  }
}

/**
 * `--once`: ticks until caught up (more than one tick only if the source
 * moved meanwhile; at most 100), then shuts the loop down.
 *
 * @throws the error of the last tick, if it failed.
 */
export async function catchUp(loop: Loop, errors: TickErrors): Promise<void> {
  try {
    for (let i = 0; i < 100; i++) {
      errors.last = undefined;
      await loop.tick();
      if (errors.last || loop.status().caughtUp) break;
    }
  } finally {
    await loop.shutdown();
  }
  if (errors.last) throw errors.last;
}

/**
 * `--watch`: runs the loop until SIGINT/SIGTERM (then shuts it down
 * cleanly) or a fatal error; calls `report` as it goes (it prints a line when
 * the loop advanced) and prints each new tick failure on stderr.
 *
 * @throws the fatal error, after the shutdown.
 */
export async function watch(
  ctx: CliContext,
  loop: Loop,
  errors: TickErrors,
  report: () => void,
): Promise<void> {
  const stop = ctx.waitForStop();
  loop.start();
  let lastReported: TidemarkError | undefined;
  const timer = setInterval(() => {
    report();
    const e = errors.last;
    if (e && e !== lastReported) {
      lastReported = e;
      ctx.io.stderr(
        `tidemark: ${e.message} (retrying in ${Math.round(loop.status().nextDelayMs / 1000)} s)\n`,
      );
    }
  }, 250);
  const outcome = await Promise.race([stop.then(() => undefined), errors.fatal]);
  clearInterval(timer);
  await loop.shutdown();
  report();
  if (outcome) throw outcome;
}
