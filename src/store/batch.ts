import { checkNumber } from "../options.ts";

/** S3 DeleteObjects and the R2 binding take at most 1,000 keys per call. */
export const DELETE_BATCH = 1000;

/**
 * Groups a (possibly async) sequence into arrays of at most `size` items.
 *
 * @throws TidemarkError `InvalidArgument` unless `size` is an integer >= 1.
 */
export async function* batches<T>(items: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[]> {
  checkNumber("size", size, { min: 1 });
  let batch: T[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight (`Infinity`: all
 * at once); resolves when all settle, rejecting with the first error (the
 * others are still awaited, so no work is left running behind the caller's
 * back).
 *
 * @throws TidemarkError `InvalidArgument` unless `limit` is an integer >= 1 or
 *   `Infinity` (a `NaN` limit once ran no item at all and reported success).
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  checkNumber("limit", limit, { min: 1, infinity: true });
  const it = items[Symbol.iterator]();
  let firstError: { e: unknown } | undefined;
  const worker = async (first: T): Promise<void> => {
    for (let item = first; ; ) {
      try {
        await fn(item);
      } catch (e) {
        firstError ??= { e };
      }
      if (firstError) return;
      const next = it.next();
      if (next.done) return;
      item = next.value;
    }
  };
  // One worker per item up to `limit`, started as items come: a huge limit
  // costs nothing beyond the items there are.
  const workers: Promise<void>[] = [];
  while (workers.length < limit && !firstError) {
    const next = it.next();
    if (next.done) break;
    workers.push(worker(next.value));
  }
  await Promise.all(workers);
  if (firstError) throw firstError.e;
}
