/** S3 DeleteObjects and the R2 binding take at most 1,000 keys per call. */
export const DELETE_BATCH = 1000;

/** Groups a (possibly async) sequence into arrays of at most `size` items. */
export async function* batches<T>(items: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[]> {
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
 * Runs `fn` over `items` with at most `limit` calls in flight; resolves when all
 * settle, rejecting with the first error (the others are still awaited, so no
 * work is left running behind the caller's back).
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]();
  let firstError: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (firstError) return;
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (e) {
        firstError ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (firstError) throw firstError.e;
}
