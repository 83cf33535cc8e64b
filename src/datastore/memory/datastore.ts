/**
 * The in-memory MVCC datastore: multi-version rows (row-store.ts), a commit log with the change feed
 * and schema history (commit-log.ts), serialised read-write transactions (transaction.ts) and garbage
 * collection between them (gc.ts). Nothing survives the process; every instance is a new datastore.
 */
import type * as ds from '../datastore.js';
import type { Revision } from '../datastore.js';
import { closedDatastore, expiredRevision } from '../../errors/index.js';
import { Mutex } from '../common/mutex.js';
import type { DatastoreOptions, GcResult } from '../common/options.js';
import { datastoreSettings } from '../common/options.js';
import { assertRevisionInRange, laterRevision, quantizationWindowStart } from '../common/revisions.js';
import { frozenMetadata } from '../common/metadata.js';
import { watchCommits } from '../common/watch-loop.js';
import { matchesPatterns } from '../relation-patterns.js';
import { CommitLog } from './commit-log.js';
import { collectGarbage } from './gc.js';
import { RowStore } from './row-store.js';
import { MemoryTransaction } from './transaction.js';

export type { GcResult } from '../common/options.js';

/** Clock and windows; the memory datastore runs no background GC of its own (openDatastore adds it). */
export type MemoryDatastoreOptions = DatastoreOptions;

export class MemoryDatastore implements ds.Datastore {
  readonly id = globalThis.crypto.randomUUID();
  private readonly rows = new RowStore();
  private readonly log = new CommitLog();
  private readonly mutex = new Mutex();
  private readonly quantizationMs: number;
  private readonly gcWindowMs: number;
  private readonly now: () => number;
  /** Wakes watchers waiting for the next commit. */
  private waiters = new Set<() => void>();
  private closed = false;

  constructor(options: MemoryDatastoreOptions = {}) {
    const settings = datastoreSettings(options);
    this.quantizationMs = settings.quantizationMs;
    this.gcWindowMs = settings.gcWindowMs;
    this.now = settings.now;
  }

  async headRevision(): Promise<Revision> {
    this.assertOpen();
    return this.log.head;
  }

  /**
   * The newest revision committed at or before the start of the current quantization window, so
   * callers within one window share a revision (and its caches). When no commit is that old (a young
   * datastore) this is head rather than the empty revision 0, so fresh data is not hidden for a window.
   */
  async optimizedRevision(): Promise<Revision> {
    this.assertOpen();
    if (this.quantizationMs === 0) return this.log.head;
    const nowMs = this.now();
    const quantized = this.log.revisionAt(quantizationWindowStart(nowMs, this.quantizationMs)) ?? this.log.head;
    return laterRevision(quantized, this.expiryBoundary(nowMs));
  }

  /**
   * Expiry is by time, not by whether gc() has run yet: a revision superseded more than the GC window
   * ago is refused, so whether an old token works does not depend on GC timing.
   */
  async assertRevisionReadable(revision: Revision): Promise<void> {
    this.assertOpen();
    assertRevisionInRange(revision, this.log.head, this.expiryBoundary(this.now()));
  }

  snapshot(revision: Revision): ds.SnapshotReader {
    return {
      revision,
      queryRelationships: async (query, options) => {
        this.assertReadable(revision);
        return this.rows.query(query, revision, this.now(), options);
      },
      readSchema: async () => {
        this.assertReadable(revision);
        return this.log.schemaAt(revision);
      },
    };
  }

  readWrite<T>(
    fn: (tx: ds.ReadWriteTransaction) => Promise<T>,
    { signal, metadata }: ds.WriteOptions = {},
  ): Promise<{ revision: Revision; result: T }> {
    let stored: ds.TransactionMetadata | undefined;
    try {
      stored = frozenMetadata(metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.mutex.run(async () => {
      this.assertOpen();
      const tx = new MemoryTransaction(this.rows, this.log, this.log.head + 1n, this.now, signal);
      let result: T;
      try {
        result = await fn(tx);
        // The point of no return: from this check to the commit below, nothing can abort.
        signal?.throwIfAborted();
      } catch (e) {
        tx.rollback();
        tx.close();
        throw e;
      }
      tx.finish();
      this.log.append({
        revision: tx.revision,
        time: Math.max(this.now(), this.log.lastCommitTime),
        changes: tx.changes,
        ...(tx.schema !== undefined ? { schema: tx.schema } : {}),
        ...(stored !== undefined ? { metadata: stored } : {}),
      });
      this.wakeWatchers();
      return { revision: tx.revision, result };
    }, signal);
  }

  /** Ends quietly when `signal` aborts or the datastore closes. */
  async *watch(after: Revision, signal?: AbortSignal, only?: ds.WatchPatterns): AsyncIterable<ds.RevisionChanges> {
    this.assertReadable(after);
    yield* watchCommits(after, signal, {
      closed: () => this.closed,
      read: (cursor) => {
        const commits = this.log.after(cursor);
        if (!commits) throw expiredRevision(cursor, this.log.oldestReadable);
        return commits;
      },
      wait: () => this.nextCommit(signal),
      deliver: (c) => {
        const changes = only ? c.changes.filter((x) => matchesPatterns(x.relationship, only)) : [...c.changes];
        return {
          revision: c.revision,
          changes,
          ...(c.schema !== undefined ? { schema: c.schema } : {}),
          ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
          committedAt: c.time,
        };
      },
    });
  }

  async revisionAt(ms: number): Promise<Revision> {
    this.assertOpen();
    return this.log.revisionAt(ms) ?? 0n;
  }

  /**
   * Drop what no readable revision needs: row versions deleted at or before the oldest readable
   * revision (the one current at now - gcWindow), versions that expired before that time, and older
   * change-log entries and schema versions. Runs between transactions. O(rows).
   */
  gc(nowMs: number = this.now()): Promise<GcResult> {
    return this.mutex.run(async () => {
      this.assertOpen();
      return collectGarbage(this.rows, this.log, this.expiryBoundary(nowMs), nowMs - this.gcWindowMs);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeWatchers();
  }

  /** The oldest revision still readable at `nowMs`: the one that was current at nowMs - gcWindow. */
  private expiryBoundary(nowMs: number): Revision {
    return laterRevision(this.log.revisionAt(nowMs - this.gcWindowMs) ?? 0n, this.log.oldestReadable);
  }

  /** Reads only check what makes a read wrong (not time expiry), so in-flight requests finish. */
  private assertReadable(revision: Revision): void {
    this.assertOpen();
    assertRevisionInRange(revision, this.log.head, this.log.oldestReadable);
  }

  private assertOpen(): void {
    if (this.closed) throw closedDatastore();
  }

  private nextCommit(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wakeWatchers(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}

/** A new, empty in-memory datastore. Throws INVALID_ARGUMENT for a negative window. */
export function openMemoryDatastore(options?: MemoryDatastoreOptions): MemoryDatastore {
  return new MemoryDatastore(options);
}

/** @deprecated Use openMemoryDatastore: every datastore is opened with `open…`. */
export const createMemoryDatastore = openMemoryDatastore;
