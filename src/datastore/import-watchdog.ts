/**
 * Limits on one bulk import (ImportBulkRelationships), which holds the writer from its first batch
 * to its commit while every other write waits behind it: a client that stops sending without
 * closing the stream, or drips batches forever, must not stall writes indefinitely. Past a limit
 * the import fails with DEADLINE_EXCEEDED and rolls back.
 */
import { deadlineExceeded } from '../errors/index.js';

export interface ImportLimits {
  /** Longest wait for the next batch, in ms (0 or absent: no limit). */
  idleTimeoutMs?: number;
  /** Longest the import may hold the writer, in ms (0 or absent: no limit). */
  maxLockHoldMs?: number;
}

export class ImportWatchdog {
  /** Aborts with the caller's reason, or when a limit is passed: the import's transaction runs under it. */
  readonly signal: AbortSignal;
  private readonly limit = new AbortController();
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: ImportLimits,
    caller?: AbortSignal,
  ) {
    this.signal = caller ? AbortSignal.any([caller, this.limit.signal]) : this.limit.signal;
  }

  /** The import has the writer: from now on it may hold it for maxLockHoldMs. */
  holding(): void {
    const ms = this.limits.maxLockHoldMs;
    if (!ms) return;
    this.holdTimer = setTimeout(
      () =>
        this.limit.abort(
          deadlineExceeded(
            `bulk import held the write lock for more than ${ms} ms (--import-max-lock-hold); it was rolled back and nothing was imported: split it into smaller imports`,
          ),
        ),
      ms,
    );
  }

  /** The batches of `source`; ends with the signal's reason as soon as it aborts, even while waiting for a batch. */
  async *batches<T>(source: AsyncIterable<T> | Iterable<T>): AsyncIterable<T> {
    const it: AsyncIterator<T> | Iterator<T> =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
        : (source as Iterable<T>)[Symbol.iterator]();
    try {
      for (;;) {
        const next = await this.nextBatch(() => it.next());
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Not awaited: a source blocked waiting for its client cannot be returned until it wakes up.
      void Promise.resolve(it.return?.()).catch(() => undefined);
    }
  }

  dispose(): void {
    clearTimeout(this.holdTimer);
  }

  /** Asks for the next batch unless already aborted (an unawaited request would reject unhandled). */
  private nextBatch<R>(ask: () => R | Promise<R>): Promise<R> {
    const { signal } = this;
    if (signal.aborted) return Promise.reject(signal.reason);
    const next = Promise.resolve(ask());
    const ms = this.limits.idleTimeoutMs;
    return new Promise<R>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      const idle = ms
        ? setTimeout(
            () =>
              this.limit.abort(
                deadlineExceeded(
                  `bulk import received no batch for ${ms} ms (--import-idle-timeout) while holding the write lock; it was rolled back and nothing was imported`,
                ),
              ),
            ms,
          )
        : undefined;
      signal.addEventListener('abort', onAbort, { once: true });
      const settled = () => {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
      };
      next.then(
        (v) => {
          settled();
          resolve(v);
        },
        (e: unknown) => {
          settled();
          reject(e);
        },
      );
    });
  }
}
