/**
 * Wakes watchers when a commit newer than the one they have seen may exist: at once for commits made
 * through this datastore (`notify`), and by polling the head — one read per interval, shared by all
 * watchers, only while some wait — for commits made by other processes sharing the storage.
 */
import type { Revision } from '../datastore.js';

interface Waiter {
  after: Revision;
  wake: () => void;
}

/** Wakes watchers waiting for a revision newer than the one they have seen. */
export class CommitNotifier {
  private readonly waiters = new Set<Waiter>();
  private knownHead: Revision = 0n;
  private polling = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    /** The committed head as the database sees it (other processes' commits included). */
    private readonly readHead: () => Revision | Promise<Revision>,
    private readonly pollMs: number,
  ) {}

  /** `revision` is committed (through this datastore, or seen by polling). */
  notify(revision: Revision): void {
    if (revision > this.knownHead) this.knownHead = revision;
    for (const w of [...this.waiters]) if (revision > w.after) w.wake();
  }

  /** Resolves once a revision after `after` may exist, or when `signal` aborts or the notifier closes. */
  wait(after: Revision, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted || this.knownHead > after) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        after,
        wake: () => {
          this.waiters.delete(waiter);
          signal?.removeEventListener('abort', waiter.wake);
          resolve();
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      this.schedulePoll();
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of [...this.waiters]) w.wake();
  }

  private schedulePoll(): void {
    if (this.timer || this.polling || this.closed || this.pollMs <= 0) return;
    this.timer = setTimeout(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  /** One poll at a time; the next is scheduled when this one has finished. */
  private async poll(): Promise<void> {
    this.timer = undefined;
    if (this.waiters.size === 0 || this.closed) return;
    this.polling = true;
    try {
      this.notify(await this.readHead());
    } catch {
      // Let the watchers read again: they report the failure to their callers.
      for (const w of [...this.waiters]) w.wake();
    } finally {
      this.polling = false;
    }
    if (this.waiters.size > 0) this.schedulePoll();
  }
}
