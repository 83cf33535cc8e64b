/**
 * The SQLite datastore (better-sqlite3): the embedded default. Same MVCC design as the memory
 * datastore, in tables (see migrations.ts). Two connections to one file in WAL mode:
 *  - the writer runs read-write transactions one at a time (an in-process mutex, and BEGIN IMMEDIATE
 *    against other processes), with synchronous=FULL so an acknowledged commit survives a crash;
 *  - the reader serves snapshots, watch and revision checks, each in its own read transaction, so
 *    it never sees a transaction in progress on the writer.
 * better-sqlite3 is synchronous; the async contract wraps it (a busy wait on another process's lock
 * blocks the event loop for up to the busy timeout).
 */
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import type * as ds from '../datastore.js';
import type { Revision } from '../datastore.js';
import { CommitNotifier } from '../common/commit-notifier.js';
import { closedDatastore, datastoreUnavailable, expiredRevision, invalidArgument } from '../../errors/index.js';
import { startOwnGcLoop, stopBackgroundWork } from '../common/durable.js';
import type { GcLoop } from '../common/gc-loop.js';
import { GroupQueue, settle } from '../common/group-commit.js';
import type { GroupMember } from '../common/group-commit.js';
import { Mutex } from '../common/mutex.js';
import type { DurableDatastoreOptions, GcResult } from '../common/options.js';
import { durableDatastoreSettings, nonNegative } from '../common/options.js';
import { assertRevisionInRange, laterRevision, quantizationWindowStart } from '../common/revisions.js';
import { watchCommits } from '../common/watch-loop.js';
import { mapSqliteError, sqliteCall } from './errors.js';
import { collectGarbage } from './gc.js';
import { migrateSqlite } from './migrations.js';
import type { MigrationResult } from './migrations.js';
import {
  expiryBoundary,
  headRevision,
  oldestReadable,
  queryRows,
  readSchemaAt,
  revisionAt,
  StatementCache,
  toRelationship,
} from './queries.js';
import { SqliteTransaction } from './transaction.js';
import { readCommits } from './watch.js';
import { RecentCreates } from './recent-creates.js';

export type { GcResult } from '../common/options.js';

/** The shared options (clock, windows, GC interval) and SQLite's own. */
export interface SqliteDatastoreOptions extends DurableDatastoreOptions {
  /** How often in ms waiting watchers look for commits made by other processes (default 250). */
  watchPollMs?: number;
  /** How long in ms to wait for another process's write lock before failing with UNAVAILABLE (default 5000). */
  busyTimeoutMs?: number;
}

/** Commits read per watch round trip. */
const WATCH_BATCH = 100;
/** Most transactions one group commit runs (bounds the latency of the first). */
const MAX_GROUP = 256;

/** Where a member began: rows it inserts get ids above `top`; it writes `revision`. */
interface Mark {
  top: number;
  revision: Revision;
}

/** A member that ran, to be committed with its group. */
interface Ran {
  member: GroupMember;
  mark: Mark;
  revision: Revision;
  result: unknown;
  created: ds.RelationshipChange[] | undefined;
}

function topId(stmts: StatementCache): number {
  return stmts.get('SELECT coalesce(max(id), 0) FROM relationships').pluck().get() as number;
}

export class SqliteDatastore implements ds.Datastore {
  readonly id: string;
  /** What opening did to the file's tables (from === to when they were current). */
  readonly migration: MigrationResult;
  private readonly writer: BetterSqlite3.Database;
  private readonly reader: BetterSqlite3.Database;
  /** Statements on the writer (transactions, GC) and on the reader (everything else). */
  private readonly w: StatementCache;
  private readonly r: StatementCache;
  private readonly readTx: (fn: () => unknown) => unknown;
  /** Group commits and GC runs take turns through it. */
  private readonly mutex = new Mutex();
  /** Transactions waiting for the next group commit. */
  private readonly groups: GroupQueue;
  private readonly notifier: CommitNotifier;
  /** What this process's CREATE-only commits inserted, for its watchers. */
  private readonly recent = new RecentCreates();
  private readonly gcLoop: GcLoop;
  private readonly quantizationMs: number;
  private readonly gcWindowMs: number;
  private readonly now: () => number;
  private closed = false;
  /** optimizedRevision's answer for the current quantization window, once the window start fixes it. */
  private quantized: { windowStart: number; revision: Revision } | undefined;

  /** Opens (creating and migrating if needed) the database file at `path`. */
  constructor(
    readonly path: string,
    options: SqliteDatastoreOptions = {},
  ) {
    if (path === '' || path === ':memory:') {
      throw invalidArgument('the sqlite datastore needs a file path; use the memory engine for a throwaway datastore');
    }
    const settings = durableDatastoreSettings(options);
    this.quantizationMs = settings.quantizationMs;
    this.gcWindowMs = settings.gcWindowMs;
    this.now = settings.now;
    const busyTimeoutMs = nonNegative('busyTimeoutMs', options.busyTimeoutMs ?? 5000);
    const opened: BetterSqlite3.Database[] = [];
    try {
      this.writer = sqliteCall(() => new Database(path));
      opened.push(this.writer);
      this.writer.pragma(`busy_timeout = ${busyTimeoutMs}`);
      const mode = this.writer.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal')
        throw invalidArgument(`cannot use WAL mode for the sqlite datastore ${path} (journal mode ${String(mode)})`);
      // FULL: the WAL is synced at every commit, so an acknowledged write survives a crash or power loss.
      this.writer.pragma('synchronous = FULL');
      // Writes land all over the relationship indexes: with SQLite's default 2 MiB page cache a large
      // import rereads their pages, and spills dirty ones to the WAL, over and over (64 MiB: ~1.5x at 1M rows).
      this.writer.pragma('cache_size = -65536');
      this.migration = migrateSqlite(this.writer, `the SQLite database ${path}`);
      this.id = this.migration.datastoreId;
      this.reader = sqliteCall(() => new Database(path));
      opened.push(this.reader);
      this.reader.pragma(`busy_timeout = ${busyTimeoutMs}`);
      this.reader.pragma('query_only = ON');
    } catch (e) {
      for (const db of opened) db.close();
      throw mapSqliteError(e);
    }
    this.w = new StatementCache(this.writer);
    this.r = new StatementCache(this.reader);
    this.readTx = this.reader.transaction((fn: () => unknown) => fn());
    this.notifier = new CommitNotifier(() => this.read(() => headRevision(this.r)), options.watchPollMs ?? 250);
    this.groups = new GroupQueue(MAX_GROUP, this.mutex, (members) => this.commitGroup(members));
    this.gcLoop = startOwnGcLoop(
      () => this.gc(),
      settings.gcIntervalMs,
      () => this.closed,
    );
  }

  async headRevision(): Promise<Revision> {
    const head = this.read(() => headRevision(this.r));
    // Another process's commit seen here wakes this process's watchers now, not at the next poll.
    this.notifier.notify(head);
    return head;
  }

  /** As the memory datastore's: the newest revision committed by the start of the quantization window. */
  async optimizedRevision(): Promise<Revision> {
    const nowMs = this.now();
    const windowStart = this.quantizationMs === 0 ? 0 : quantizationWindowStart(nowMs, this.quantizationMs);
    // Fixed for the window once found (as in the PostgreSQL datastore), unless expiry overtakes it.
    if (this.quantized?.windowStart === windowStart && this.gcWindowMs >= this.quantizationMs) {
      this.assertOpen();
      return this.quantized.revision;
    }
    return this.read(() => {
      const head = headRevision(this.r);
      if (this.quantizationMs === 0) return head;
      const found = revisionAt(this.r, windowStart);
      const revision = laterRevision(found ?? head, expiryBoundary(this.r, nowMs, this.gcWindowMs));
      // Cache only a revision the window start fixes: not head (a young datastore's answer), and not at
      // the window's very first millisecond, when a commit may still get that time.
      if (found !== undefined && nowMs > windowStart) this.quantized = { windowStart, revision };
      return revision;
    });
  }

  /** Expiry is by time, not by whether gc() has run yet (as in the memory datastore). */
  async assertRevisionReadable(revision: Revision): Promise<void> {
    this.read(() =>
      assertRevisionInRange(revision, headRevision(this.r), expiryBoundary(this.r, this.now(), this.gcWindowMs)),
    );
  }

  snapshot(revision: Revision): ds.SnapshotReader {
    return {
      revision,
      queryRelationships: async (query, options) =>
        this.read(() => {
          this.assertReadable(revision);
          return queryRows(this.r, query, revision, this.now(), options);
        }).map(toRelationship),
      readSchema: async () =>
        this.read(() => {
          this.assertReadable(revision);
          return readSchemaAt(this.r, revision);
        }),
    };
  }

  /**
   * Group commit: the transactions waiting for the writer when it becomes free run one after another
   * in one SQLite transaction, each as its own revision (consecutive, as when they commit one by one),
   * and are made durable by one COMMIT, i.e. one sync of the WAL instead of one each. Each is still
   * all or nothing on its own: one that throws, or whose signal aborts before the COMMIT, is undone
   * (undoFrom) while the others commit. Nothing is acknowledged before the COMMIT has returned.
   */
  readWrite<T>(
    fn: (tx: ds.ReadWriteTransaction) => Promise<T>,
    { signal, metadata }: ds.WriteOptions = {},
  ): Promise<{ revision: Revision; result: T }> {
    return this.groups.enqueue(fn, signal, metadata);
  }

  /** Runs the waiting transactions (at most MAX_GROUP) in one SQLite transaction and commits them. */
  private async commitGroup(members: GroupMember[]): Promise<void> {
    if (this.closed) {
      for (const m of members) settle(m, undefined, closedDatastore());
      return;
    }
    try {
      sqliteCall(() => this.writer.exec('BEGIN IMMEDIATE'));
    } catch (e) {
      for (const m of members) settle(m, undefined, e);
      return;
    }
    const done: Ran[] = [];
    let lost: unknown; // set when the SQLite transaction is gone (SQLite rolled it back) or cannot be repaired
    let next = 0;
    for (; next < members.length && lost === undefined; next++) {
      const m = members[next];
      if (m.settled) continue; // its signal aborted while the ones before it ran
      m.signal?.removeEventListener('abort', m.drop);
      let mark: Mark | undefined;
      let tx: SqliteTransaction | undefined;
      try {
        mark = sqliteCall(() => ({ top: topId(this.w), revision: headRevision(this.w) + 1n }));
        tx = new SqliteTransaction(this.w, mark.revision, this.now, m.signal);
        const result = await m.fn(tx);
        tx.finish(this.now(), m.metadata);
        // Checked again, with every member's, right before the COMMIT (below).
        m.signal?.throwIfAborted();
        done.push({ member: m, mark, revision: tx.revision, result, created: tx.createdRowChanges() });
      } catch (e) {
        settle(m, undefined, e);
        lost = this.undoFrom(mark, tx, e);
      }
    }
    // The point of no return: these checks and the (synchronous) COMMIT are one step, nothing can abort
    // in between. A member whose signal aborted after it ran (a later member's fn awaited I/O meanwhile)
    // is undone, and with it the members after it, which read what it wrote: they fail, retryably.
    const aborted = lost === undefined ? done.findIndex((d) => d.member.signal?.aborted) : -1;
    if (aborted >= 0) {
      lost = this.undoFrom(done[aborted].mark);
      for (const d of done.splice(aborted)) {
        const signal = d.member.signal;
        settle(
          d.member,
          undefined,
          signal?.aborted
            ? signal.reason
            : datastoreUnavailable(
                'SQLite datastore',
                'the transaction was committed with one whose call ended before it committed, and was undone with it; retry',
              ),
        );
      }
    }
    if (lost === undefined && done.length > 0) {
      try {
        sqliteCall(() => this.writer.exec('COMMIT'));
      } catch (e) {
        lost = e;
      }
    }
    if (lost !== undefined || done.length === 0) {
      try {
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
      } catch {
        // SQLite already rolled back (e.g. after an I/O error): the original error is what matters.
      }
      for (const d of done) settle(d.member, undefined, lost);
      // The members not run yet wait for the next group.
      const rest = members.slice(next).filter((m) => !m.settled);
      this.groups.requeue(rest);
      return;
    }
    for (const d of done) {
      if (d.created) this.recent.add(d.revision, d.created);
      settle(d.member, { revision: d.revision, result: d.result });
    }
    // Watchers read the commit synchronously (a bulk import's million changes take ~2 s): wake
    // them after the writers have had their answers, not before.
    const committed = done[done.length - 1].revision;
    setImmediate(() => this.notifier.notify(committed));
  }

  /**
   * Undoes, inside the open SQLite transaction, everything the group's members from the one that
   * began at `mark` on wrote: their rows (ids above mark.top), retirements, change-log entries, commits
   * and schemas. Returns the error that makes the whole SQLite transaction lost, if any (`cause`
   * when SQLite rolled it back already, after an I/O error for instance).
   */
  private undoFrom(mark: Mark | undefined, tx?: SqliteTransaction, cause?: unknown): unknown {
    if (!this.writer.inTransaction) return cause ?? new Error('the SQLite transaction was rolled back');
    if (mark === undefined) return undefined; // the member failed before it wrote anything
    try {
      tx?.abandon();
      sqliteCall(() => {
        this.w.get('DELETE FROM relationships WHERE id > ?').run(mark.top);
        this.w.get('UPDATE relationships SET deleted_rev = NULL WHERE deleted_rev >= ?').run(mark.revision);
        this.w.get('DELETE FROM changes WHERE revision >= ?').run(mark.revision);
        this.w.get('DELETE FROM commits WHERE revision >= ?').run(mark.revision);
        this.w.get('DELETE FROM schemas WHERE revision >= ?').run(mark.revision);
      });
      return undefined;
    } catch (e) {
      return e;
    }
  }

  async revisionAt(ms: number): Promise<Revision> {
    return this.read(() => revisionAt(this.r, ms) ?? 0n);
  }

  /**
   * Runs `fn` in a write transaction of its own on the writer connection, between group commits and
   * GC runs (it takes their turn, and is synchronous, so it never joins a group's transaction): for
   * tables kept beside the datastore's in the same file, such as the OpenFGA catalog's.
   */
  async sideWrite<T>(fn: (db: BetterSqlite3.Database) => T): Promise<T> {
    this.assertOpen();
    return this.mutex.run(async () => {
      this.assertOpen();
      return sqliteCall(() => this.writer.transaction(() => fn(this.writer)).immediate());
    });
  }

  /** Runs `fn` in a read transaction on the reader connection (query only): sideWrite's reads. */
  sideRead<T>(fn: (db: BetterSqlite3.Database) => T): T {
    return this.read(() => fn(this.reader));
  }

  /** Ends quietly when `signal` aborts or the datastore closes. */
  async *watch(after: Revision, signal?: AbortSignal, only?: ds.WatchPatterns): AsyncIterable<ds.RevisionChanges> {
    this.read(() => this.assertReadable(after));
    yield* watchCommits(after, signal, {
      closed: () => this.closed,
      read: (cursor) =>
        this.read(() => {
          const oldest = oldestReadable(this.r);
          if (cursor < oldest) throw expiredRevision(cursor, oldest);
          return readCommits(this.r, cursor, WATCH_BATCH, only, this.recent);
        }),
      wait: (cursor) => this.notifier.wait(cursor, signal),
      deliver: (c) => c,
    });
  }

  /**
   * Drop row versions deleted at or before the oldest readable revision (the one current at
   * now - gcWindow), versions that expired before that time, and older change-log entries and
   * schema versions. Runs in short batches between transactions.
   */
  gc(nowMs: number = this.now()): Promise<GcResult> {
    this.assertOpen();
    const run = <T>(fn: () => T): Promise<T> =>
      this.mutex.run(async () => {
        this.assertOpen();
        return sqliteCall(() => this.writer.transaction(fn).immediate());
      });
    return collectGarbage(run, this.w, nowMs, this.gcWindowMs);
  }

  /** Ends watches, waits for the transaction in progress and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await stopBackgroundWork(this.notifier, this.gcLoop, this.mutex);
    this.reader.close();
    this.writer.close();
  }

  /** One read transaction on the reader connection: a consistent view of the committed state. */
  private read<T>(fn: () => T): T {
    this.assertOpen();
    return sqliteCall(() => this.readTx(fn) as T);
  }

  /** Reads only check what makes a read wrong (not time expiry), so in-flight requests finish. */
  private assertReadable(revision: Revision): void {
    assertRevisionInRange(revision, headRevision(this.r), oldestReadable(this.r));
  }

  private assertOpen(): void {
    if (this.closed) throw closedDatastore();
  }
}

/**
 * Opens the SQLite datastore in the file at `path`, creating and migrating it if needed (synchronous:
 * better-sqlite3 is). Throws INVALID_ARGUMENT for no path or a negative option, FAILED_PRECONDITION
 * for a file migrated by a newer Pemba, UNAVAILABLE when the file cannot be opened.
 */
export function openSqliteDatastore(path: string, options?: SqliteDatastoreOptions): SqliteDatastore {
  return new SqliteDatastore(path, options);
}
