/**
 * `source`, iterated with every step raced against a call's abort (`race` rejects with the abort
 * reason as soon as the call aborts), and closed once the consumer stops.
 */
export async function* abortableIterable<T>(
  source: AsyncIterable<T>,
  race: <U>(promise: Promise<U>) => Promise<U>,
): AsyncIterable<T> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await race(it.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Fire and forget: a generator blocked in an await cannot be returned until it wakes up.
    void it.return?.()?.catch(() => undefined);
  }
}
