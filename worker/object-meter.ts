/**
 * What a Durable Object is billed for, counted as it happens: the requests it
 * receives (each RPC call and alarm), the wall time it is active (handling at
 * least one), and the storage rows it reads and writes (each key got, put or
 * deleted; each `setAlarm`). A Durable Object reads and writes its storage
 * through its meter, and wraps each request in {@link ObjectMeter.request}.
 * https://developers.cloudflare.com/durable-objects/platform/pricing/
 */
import type { DurableObjectUsage } from "./cost.ts";

/** No use yet. */
export const freshUsage = (): DurableObjectUsage => ({
  requests: 0,
  activeMs: 0,
  rowsWritten: 0,
  rowsRead: 0,
});

/** A Durable Object's storage, counted, and its requests. */
export class ObjectMeter {
  readonly #storage: DurableObjectStorage;
  #usage: DurableObjectUsage = freshUsage();
  /** Requests being handled now, and since when (the object is billed while one is). */
  #active = 0;
  #activeSince = 0;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /**
   * Takes up the counts an earlier instance persisted, adding what this one
   * counted so far (loading them read rows too).
   */
  resume(saved: Partial<DurableObjectUsage>): void {
    const now = this.#usage;
    this.#usage = { ...freshUsage(), ...saved };
    this.#usage.rowsRead += now.rowsRead;
    this.#usage.rowsWritten += now.rowsWritten;
  }

  /** The counts so far (what to persist), without the request in flight's active time. */
  get counted(): DurableObjectUsage {
    return this.#usage;
  }

  /** The counts so far, the active time of the requests in flight included. */
  reading(): DurableObjectUsage {
    const active = this.#active > 0 ? Date.now() - this.#activeSince : 0;
    return { ...this.#usage, activeMs: this.#usage.activeMs + active };
  }

  /** Runs `fn` as one billed request: counted, and its wall time while no other request was in flight. */
  async request<T>(fn: () => Promise<T>): Promise<T> {
    this.#usage.requests++;
    if (this.#active++ === 0) this.#activeSince = Date.now();
    try {
      return await fn();
    } finally {
      if (--this.#active === 0) this.#usage.activeMs += Date.now() - this.#activeSince;
    }
  }

  get<T>(key: string): Promise<T | undefined> {
    this.#usage.rowsRead++;
    return this.#storage.get<T>(key);
  }

  put(entries: Record<string, unknown>): Promise<void> {
    this.#usage.rowsWritten += Object.keys(entries).length;
    return this.#storage.put(entries);
  }

  delete(keys: string[]): Promise<number> {
    this.#usage.rowsWritten += keys.length;
    return this.#storage.delete(keys);
  }

  setAlarm(atMs: number): Promise<void> {
    this.#usage.rowsWritten++; // "Each setAlarm() is billed as a single row written."
    return this.#storage.setAlarm(atMs);
  }

  deleteAlarm(): Promise<void> {
    this.#usage.rowsWritten++;
    return this.#storage.deleteAlarm();
  }

  /** Makes the alarm fire now, unless one is due sooner (a row written only when it moves). */
  async alarmNow(): Promise<void> {
    const at = await this.getAlarm();
    const now = Date.now();
    if (at === null || at > now) await this.setAlarm(now);
  }

  /** When the alarm fires (epoch ms), `null` when none is set. Not billed as a row. */
  getAlarm(): Promise<number | null> {
    return this.#storage.getAlarm();
  }

  /**
   * Counts `rows` written by a write the object makes itself (one row and
   * its alarm written together, counted before the row is built so that it
   * holds its own write).
   */
  willWrite(rows: number): void {
    this.#usage.rowsWritten += rows;
  }
}
