/**
 * The Worker as the workers tests run it (vitest.config.ts `main`): the
 * production entry, with a `MirrorObject` that also records the puts its
 * mirror makes per target key, kept in the object's storage so the count
 * survives evictions: the tests prove no file is uploaded twice. It also
 * records the store requests of each alarm's tick (in memory), which the
 * retention tests compare with the table's budget.
 */
import { type Body, type ObjectStore, type PutOptions, wrapperOf } from "../../src/index.ts";
import type { Env } from "../../worker/env.ts";
import { MirrorObject as ProductionMirrorObject } from "../../worker/mirror-object.ts";

export * from "../../worker/index.ts";
export { default } from "../../worker/index.ts";

const K_PUTS = "test:puts";

/** The store requests the mirror has counted, from the object's persisted row (read and write classes). */
async function countedRequests(storage: DurableObjectStorage): Promise<number> {
  const state = await storage.get<{ progress: { counters: { requests: { read: number; write: number } } } }>(
    "state",
  );
  const r = state?.progress.counters.requests;
  return r ? r.read + r.write : 0;
}

export class MirrorObject extends ProductionMirrorObject {
  #puts: Record<string, number> = {};
  #alarmRequests: number[] = [];
  /** The requests the persisted row counted after the last alarm (only a tick, in an alarm, adds to them). */
  #counted = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#puts = (await ctx.storage.get<Record<string, number>>(K_PUTS)) ?? {};
      this.#counted = await countedRequests(ctx.storage);
    });
  }

  protected override mirrorTarget(target: ObjectStore): ObjectStore {
    const store = super.mirrorTarget(target);
    return {
      ...wrapperOf(store), // the same identity: progress stays bound to the real target
      get: (k, o) => store.get(k, o),
      head: (k) => store.head(k),
      put: (k: string, b: Body, o?: PutOptions) => {
        this.#puts[k] = (this.#puts[k] ?? 0) + 1;
        // Not awaited: the object's storage writes are ordered and coalesced.
        void this.ctx.storage.put(K_PUTS, this.#puts);
        return store.put(k, b, o);
      },
      delete: (k) => store.delete(k),
      deleteMany: (ks) => store.deleteMany(ks),
      list: (p, o) => store.list(p, o),
    };
  }

  /** Each alarm's tick: the store requests it made (what its budget bounds); in memory, this instance's. */
  override async alarm(): Promise<void> {
    // Started at once, as the runtime starts it (a kick during a tick must find it in flight).
    await super.alarm();
    const counted = await countedRequests(this.ctx.storage);
    this.#alarmRequests.push(counted - this.#counted);
    this.#counted = counted;
  }

  /** The store requests of each alarm's tick in this instance, oldest first. */
  async testAlarmRequests(): Promise<number[]> {
    return [...this.#alarmRequests];
  }

  /** Puts per target key since the object was created. */
  async testPutCounts(): Promise<Record<string, number>> {
    return { ...this.#puts };
  }
}
