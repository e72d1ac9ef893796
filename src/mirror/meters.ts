import { type MeteredStore, metered } from "../store/metered.ts";
import type { ObjectStore } from "../store/types.ts";
import { addRequestCounts, type MirrorCounters, zeroRequestCounts } from "./progress.ts";

/**
 * A mirror's two stores, metered (bodies pass through untouched: bytes are
 * counted as asked, not per chunk on the copy path): what the tick's budget
 * and the mirror's running counters know of the requests made.
 */
export class MirrorMeters {
  readonly source: MeteredStore;
  readonly target: MeteredStore;
  /** The stores' counts as last added to the counters. */
  #added = { source: zeroRequestCounts(), target: zeroRequestCounts() };

  constructor(source: ObjectStore, target: ObjectStore) {
    this.source = metered(source, { bytesIn: "requested" });
    this.target = metered(target, { bytesIn: "requested" });
  }

  /**
   * Requests both stores sent so far, for the budget: what went on the wire
   * (every attempt of a retried request, each page) when a store reports it
   * (`requestsSent`), else the calls made of it. Two views of one store
   * instance (prefixes of one bucket) each report the instance's total: the
   * budget then counts high, and stops early, never late.
   */
  requestsSent(): number {
    let n = 0;
    for (const store of [this.source, this.target]) {
      const sent = store.requestsSent?.();
      if (sent !== undefined) {
        n += sent;
      } else {
        const c = store.counts();
        n += c.readClass + c.writeClass;
      }
    }
    return n;
  }

  /** Adds what both stores did since the last call to `counters` (per side, and read/write together). */
  addTo(counters: Pick<MirrorCounters, "requests" | "source" | "target">): void {
    for (const side of ["source", "target"] as const) {
      const now = this[side].counts();
      const delta = addRequestCounts({ ...now }, this.#added[side], -1);
      counters.requests.read += delta.readClass;
      counters.requests.write += delta.writeClass;
      counters[side] = addRequestCounts(counters[side] ?? zeroRequestCounts(), delta);
      this.#added[side] = now;
    }
  }
}
