/**
 * Requests a snapshot costs besides its files: source GET manifest, target
 * PUT checksum record, PUT manifest, low_water GET + PUT.
 */
export const SNAPSHOT_REQUESTS = 5;
/** Requests one file copy costs: target HEAD, source GET, target PUT. */
export const FILE_REQUESTS = 3;

/**
 * Tracks one tick's use of its budget of requests and bytes. Steps reserve
 * what they may need before they start and release it when they end, so work
 * in flight never overshoots the budget; the tick's first step of progress is
 * always allowed, or a file larger than the byte budget would never move.
 */
export class TickBudget {
  readonly #requests: number;
  readonly #bytes: number;
  readonly #used: () => number;
  #bytesUsed = 0;
  #reservedRequests = 0;
  #reservedBytes = 0;
  /**
   * A file copy started or a snapshot completed this tick. Until then any
   * step is allowed: a snapshot's own reservation must not count as the
   * tick's one step, or a file bigger than the byte budget (or a request
   * budget below a snapshot plus a file) would never move, tick after tick.
   */
  #progressed = false;

  /**
   * @param limits 0 or absent: unlimited.
   * @param used requests made so far this tick (as counted on the wire).
   */
  constructor(limits: { requests?: number; bytes?: number } | undefined, used: () => number) {
    this.#requests = limits?.requests || Number.POSITIVE_INFINITY;
    this.#bytes = limits?.bytes || Number.POSITIVE_INFINITY;
    this.#used = used;
  }

  /**
   * Whether a step needing `requests` and `bytes` may start; reserves them if
   * so. `progress`: the step itself moves the mirror forward (a file copy),
   * as opposed to opening a snapshot (see {@link progressed}).
   */
  begin(requests: number, bytes: number, progress = true): boolean {
    if (!this.fits(requests, bytes) && this.#progressed) return false;
    if (progress) this.#progressed = true;
    this.#reservedRequests += requests;
    this.#reservedBytes += bytes;
    return true;
  }

  /** Records progress made without a file step (a snapshot completed). */
  progressed(): void {
    this.#progressed = true;
  }

  /** Whether a step needing `requests` and `bytes` would fit now (reserves nothing). */
  fits(requests: number, bytes: number): boolean {
    return (
      this.#used() + this.#reservedRequests + requests <= this.#requests &&
      this.#bytesUsed + this.#reservedBytes + bytes <= this.#bytes
    );
  }

  /** Ends a step begun with `begin(requests, bytes)`, having moved `moved` bytes. */
  end(requests: number, bytes: number, moved: number): void {
    this.#reservedRequests -= requests;
    this.#reservedBytes -= bytes;
    this.#bytesUsed += moved;
  }
}
