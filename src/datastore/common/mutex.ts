/**
 * Runs tasks one at a time in arrival order: read-write transactions are serialised through it.
 * A task whose signal aborts while it waits is dropped: it never runs, and its caller gets the
 * signal's reason at once instead of waiting for the tasks ahead of it.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const turn = this.tail;
    return new Promise<T>((resolve, reject) => {
      const drop = () => reject(signal!.reason);
      signal?.addEventListener('abort', drop, { once: true });
      // The next task waits for this one to settle, whether it succeeded, failed or was dropped.
      this.tail = turn.then(async () => {
        signal?.removeEventListener('abort', drop);
        if (signal?.aborted) return;
        try {
          resolve(await task());
        } catch (e) {
          reject(e);
        }
      });
    });
  }
}
