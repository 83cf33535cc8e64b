/**
 * The queue of a group-committing datastore (SQLite, PostgreSQL): read-write transactions wait here
 * for the writer, and when it becomes free the ones waiting run together in one database transaction
 * (the datastore's commitGroup), each its own revision, made durable by one COMMIT.
 */
import type { ReadWriteTransaction, Revision, TransactionMetadata } from '../datastore.js';
import { metadataText } from './metadata.js';
import type { Mutex } from './mutex.js';

/** A transaction waiting for (or running in) a group commit. */
export interface GroupMember {
  fn: (tx: ReadWriteTransaction) => Promise<unknown>;
  signal: AbortSignal | undefined;
  /** The JSON text of its metadata (WriteOptions.metadata), stored with its commit. */
  metadata: string | undefined;
  /** Answered already (readWrite's promise is settled). */
  settled: boolean;
  resolve: (v: { revision: Revision; result: unknown }) => void;
  reject: (e: unknown) => void;
  /** The abort listener while it waits. */
  drop: () => void;
}

/** Answers a member once (its commit, or why it failed) and stops listening to its signal. */
export function settle(
  m: GroupMember,
  value: { revision: Revision; result: unknown } | undefined,
  error?: unknown,
): void {
  if (m.settled) return;
  m.settled = true;
  m.signal?.removeEventListener('abort', m.drop);
  if (value) m.resolve(value);
  else m.reject(error);
}

export class GroupQueue {
  private readonly waiting: GroupMember[] = [];
  private queued = false;

  constructor(
    /** Most transactions one group runs (bounds the latency of the first). */
    private readonly maxGroup: number,
    /** Group commits and the datastore's other writer work (GC) take turns through it. */
    private readonly mutex: Mutex,
    /** Runs one group (the members, in order) and answers every member. */
    private readonly commitGroup: (members: GroupMember[]) => Promise<void>,
  ) {}

  /**
   * `fn`'s transaction, committed with the group it joins; an aborted call leaves the queue at once.
   * Metadata JSON cannot encode fails this call here, not its group.
   */
  enqueue<T>(
    fn: (tx: ReadWriteTransaction) => Promise<T>,
    signal: AbortSignal | undefined,
    metadata?: TransactionMetadata,
  ): Promise<{ revision: Revision; result: T }> {
    let text: string | undefined;
    try {
      text = metadataText(metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const member: GroupMember = {
        fn,
        signal,
        metadata: text,
        settled: false,
        resolve: (v) => resolve(v as { revision: Revision; result: T }),
        reject,
        drop: () => {
          const at = this.waiting.indexOf(member);
          if (at >= 0) this.waiting.splice(at, 1);
          settle(member, undefined, signal!.reason);
        },
      };
      signal?.addEventListener('abort', member.drop, { once: true });
      this.waiting.push(member);
      this.schedule();
    });
  }

  /** Members a group did not get to run: first in line for the next group. */
  requeue(members: GroupMember[]): void {
    if (members.length === 0) return;
    this.waiting.unshift(...members);
    this.schedule();
  }

  /**
   * Queues a group commit unless one is queued already. It starts on a later turn of the event loop
   * (setImmediate), so every call read in this turn (the requests that arrived while the writer
   * synced the previous group, say) joins it.
   */
  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => void this.mutex.run(() => this.next()));
  }

  private async next(): Promise<void> {
    this.queued = false;
    const members = this.waiting.splice(0, this.maxGroup);
    if (this.waiting.length > 0) this.schedule();
    if (members.length > 0) await this.commitGroup(members);
  }
}
