/**
 * The PostgreSQL datastore (pg, a connection pool): for production, shared by several Pemba
 * processes. Same MVCC design as the memory datastore, in tables (see migrations.ts).
 *
 * Commit order: every group of read-write transactions first takes a transaction-scoped advisory
 * lock (pg_advisory_xact_lock, keyed by the datastore id) and holds it until COMMIT. That serialises
 * writers across processes, so (a) revisions are simply head + 1, head + 2…, dense and assigned in
 * commit order, which Watch relies on (a reader can never see revision N+1 committed before N); and
 * (b) the transactions' READ COMMITTED reads, all made after the lock was granted, see every earlier
 * commit, so two writers with conflicting preconditions cannot both succeed. SERIALIZABLE with retries
 * would allow concurrent writers but must re-run the caller's function on conflict, and still needs
 * ordering for dense revisions; one writer at a time is what the other backends do too.
 *
 * Group commit (see readWrite): within a process, the transactions waiting for the writer run one
 * after another in one database transaction, each its own revision with its own change-log entries,
 * and one COMMIT (one WAL flush) makes them all durable; each stays all or nothing on its own through
 * savepoints (see SharedTransaction in transaction.ts). Round trips: one for BEGIN, the lock and the
 * head; one per write call (its lookup, carrying the previous write); one for the commits and COMMIT.
 *
 * A transaction whose caller's signal aborts never commits: it leaves the queue at once; while its
 * group waits for the lock it leaves the group (the last one to leave cancels the wait); while it
 * runs as the group's first, the abort cancels the statement it is running (a long INSERT, say) and
 * the group's database transaction is rolled back (the members after it wait for the next group);
 * as a later member, it fails at its next step; and one that aborts after it ran is undone before
 * the COMMIT, with the members after it. From COMMIT on, COMMIT's outcome is the answer.
 *
 * Snapshot reads carry the head and the oldest readable revision in the same statement (see
 * withRevisionState), so they cost one round trip and are exact even while GC runs elsewhere.
 *
 * With read replicas (readReplicaUris), a snapshot read goes to a replica known to have applied its
 * revision, and falls back to the primary when none has or the replica fails (see replicas.ts).
 * Everything else (head, optimized revision, revision checks, writes, watch, GC) uses the primary.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type * as ds from '../datastore.js';
import type { Revision, StoredSchema } from '../datastore.js';
import { CommitNotifier } from '../common/commit-notifier.js';
import { closedDatastore, datastoreUnavailable, expiredRevision, negativeRevision } from '../../errors/index.js';
import { startOwnGcLoop, stopBackgroundWork } from '../common/durable.js';
import type { GcLoop } from '../common/gc-loop.js';
import { GroupQueue, settle } from '../common/group-commit.js';
import type { GroupMember } from '../common/group-commit.js';
import { Mutex } from '../common/mutex.js';
import type { DurableDatastoreOptions, GcResult } from '../common/options.js';
import { validateLimit, durableDatastoreSettings } from '../common/options.js';
import { assertRevisionInRange, laterRevision, quantizationWindowStart } from '../common/revisions.js';
import { watchCommits } from '../common/watch-loop.js';
import { backendPid, cancelUntil } from './cancel.js';
import { mapPgError } from './errors.js';
import { collectGarbage } from './gc.js';
import { readDatastoreId } from './migrations.js';
import type { PoolOptions } from './pool.js';
import { createPool, openMinimum, query, withClient } from './pool.js';
import type { RelationshipRow, Sql } from './queries.js';
import { relationshipsSql, SCHEMA_AT, textLiteral, toRelationship, withRevisionState } from './queries.js';
import type { ReplicaSetOptions, ReplicaStats } from './replicas.js';
import { ReplicaSet } from './replicas.js';
import type { Savepoint } from './transaction.js';
import { PostgresTransaction, SharedTransaction, undoneWithEarlier } from './transaction.js';
import { readCommits } from './watch.js';

export type { GcResult } from '../common/options.js';
export type { ReplicaSetOptions, ReplicaStats } from './replicas.js';

/** The shared options (clock, windows, GC interval), the pool's and PostgreSQL's own. */
export interface PostgresDatastoreOptions extends DurableDatastoreOptions, PoolOptions {
  /** How often in ms waiting watchers look for commits made by other processes (default 100). */
  watchPollMs?: number;
  /**
   * PostgreSQL streaming replicas of this database (postgres:// URIs), which snapshot reads are
   * spread to once they have applied the revision read (known from a poll every 150 ms: until a
   * replica's first poll, and whenever none has the revision, the primary answers).
   */
  readReplicaUris?: readonly string[];
  /** Timeouts, pool size and poll interval of the read replicas (see REPLICA_DEFAULTS). */
  readReplicaOptions?: ReplicaSetOptions;
  /**
   * A pool of its own for the writer (group commits) and garbage collection, sized apart from the
   * one reads use (SpiceDB's write pool); absent, reads and writes share one pool.
   */
  writePool?: PoolOptions;
}

/** Rows inserted before the first statistics refresh (see keepStatisticsFresh). */
const ANALYZE_AFTER_ROWS = 10_000;

/** Commits read per watch round trip. */
const WATCH_BATCH = 100;
/**
 * Most transactions one group commit runs: bounds the latency of the first, and the savepoints (one
 * subtransaction each) nested in the database transaction, under PostgreSQL's 64 cached per backend.
 */
const MAX_GROUP = 48;
/** The savepoint the group's first statement sets (see SharedTransaction). */
const BEGIN_SAVEPOINT = 'pemba_0';

/** A member that ran, to be committed with its group. */
interface Ran {
  member: GroupMember;
  /** Its place in the group. */
  index: number;
  /** The newest schema before it (what the members after it see when it is undone). */
  newestBefore: StoredSchema | null | undefined;
  /** The savepoint it began at: rolling back to it undoes this member and those after it. */
  start: Savepoint;
  revision: Revision;
  result: unknown;
  schema: string | undefined;
  inserted: number;
}

/** What a group's run committed, and which members are left for the next group. */
interface GroupOutcome {
  done: Ran[];
  rest: GroupMember[];
  /** The newest schema the group committed. */
  schema?: StoredSchema;
}

/** The error of a member undone with one before it whose call ended before the group committed. */
function undoneWithAborted(): Error {
  return datastoreUnavailable(
    'PostgreSQL datastore',
    'the transaction was committed with one whose call ended before it committed, and was undone with it; retry',
  );
}

const HEAD_SQL = 'SELECT coalesce(max(revision), 0) AS head FROM commits';
/** The newest revision committed at or before a time parameter. */
const revisionAtSql = (param: string) =>
  `(SELECT revision FROM commits WHERE committed_at <= ${param} ORDER BY committed_at DESC, revision DESC LIMIT 1)`;

export class PostgresDatastore implements ds.Datastore {
  private readonly lockKey: string;
  /** What a read-write transaction starts with (see readWrite). */
  private readonly beginSql: string;
  /** The newest schema a read-write transaction read or wrote in this process. */
  private schema: StoredSchema | undefined;
  /** Group commits take turns through it. */
  private readonly mutex = new Mutex();
  /** Transactions waiting for the next group commit. */
  private readonly groups: GroupQueue;
  private readonly notifier: CommitNotifier;
  private readonly gcLoop: GcLoop;
  private readonly quantizationMs: number;
  private readonly gcWindowMs: number;
  private readonly now: () => number;
  /** optimizedRevision() for the current quantization window, once a commit that old exists. */
  private quantized: { windowStart: number; revision: Revision } | undefined;
  /** Rows inserted through this datastore since it last refreshed the table statistics, and at that time. */
  private insertedSinceAnalyze = 0;
  private analyzeAt = ANALYZE_AFTER_ROWS;
  private analyzing = false;
  /** Calls using the pool, which close() lets finish (pg's pool strands calls queued after end()). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  /** The read replicas, when configured. */
  private readonly replicas: ReplicaSet | undefined;
  /** The newest primary head this process has seen (for replica lag). */
  private knownHead: Revision = 0n;
  private primaryReadCount = 0;

  /** Use openPostgresDatastore(), which checks the database is migrated. */
  constructor(
    private readonly pool: pg.Pool,
    readonly id: string,
    options: PostgresDatastoreOptions = {},
    /** Commits and GC use it (the reads' pool when there is no separate one). */
    private readonly writePool: pg.Pool = pool,
  ) {
    const settings = durableDatastoreSettings(options);
    this.quantizationMs = settings.quantizationMs;
    this.gcWindowMs = settings.gcWindowMs;
    this.now = settings.now;
    this.lockKey = BigInt.asIntN(
      64,
      createHash('sha256').update(`pemba commit lock ${id}`).digest().readBigUInt64BE(),
    ).toString();
    // lockKey is a decimal integer of our own making: safe to inline (a simple query takes no parameters).
    this.beginSql =
      `BEGIN; SELECT pg_advisory_xact_lock(${this.lockKey}); ` +
      `SELECT (${HEAD_SQL}) AS head, (SELECT max(revision) FROM schemas) AS schema_rev; SAVEPOINT ${BEGIN_SAVEPOINT}`;
    this.notifier = new CommitNotifier(() => this.headRevision(), options.watchPollMs ?? 100);
    this.groups = new GroupQueue(MAX_GROUP, this.mutex, (members) => this.commitGroup(members));
    this.gcLoop = startOwnGcLoop(
      () => this.gc(),
      settings.gcIntervalMs,
      () => this.closed,
    );
    const replicaUris = options.readReplicaUris ?? [];
    this.replicas = replicaUris.length > 0 ? new ReplicaSet(replicaUris, id, options.readReplicaOptions) : undefined;
  }

  async headRevision(): Promise<Revision> {
    const { rows } = await this.use(() => query<{ head: string }>(this.pool, HEAD_SQL));
    const head = this.seeHead(BigInt(rows[0].head));
    // Another process's commit seen here wakes this process's watchers (the nested-group index that a
    // read at this head may wait for) now, not at the next poll.
    this.notifier.notify(head);
    return head;
  }

  /** As the memory datastore's: the newest revision committed by the start of the quantization window. */
  async optimizedRevision(): Promise<Revision> {
    this.assertOpen();
    if (this.quantizationMs === 0) return this.headRevision();
    const nowMs = this.now();
    const windowStart = quantizationWindowStart(nowMs, this.quantizationMs);
    // Fixed for the window once found, unless the GC window is so short that expiry overtakes it.
    if (this.quantized?.windowStart === windowStart && this.gcWindowMs >= this.quantizationMs)
      return this.quantized.revision;
    const { rows } = await this.use(() =>
      query<{ head: string; quantized: string | null; at_cutoff: string | null; oldest: string }>(
        this.pool,
        `SELECT (${HEAD_SQL}) AS head, ${revisionAtSql('$1')} AS quantized, ${revisionAtSql('$2')} AS at_cutoff,
         (SELECT value::bigint FROM metadata WHERE key = 'oldest_readable') AS oldest`,
        [new Date(windowStart), new Date(nowMs - this.gcWindowMs)],
      ),
    );
    const r = rows[0];
    this.seeHead(BigInt(r.head));
    const quantized = BigInt(r.quantized ?? r.head);
    const boundary = laterRevision(BigInt(r.at_cutoff ?? 0), BigInt(r.oldest));
    const revision = laterRevision(quantized, boundary);
    // Cache only a revision the window start fixes: not head (a young datastore's answer), and not
    // at the window's very first millisecond, when a commit may still get that time. (Commits are
    // timed by their process's clock: one lagging behind can only make this answer a little older.)
    if (r.quantized !== null && nowMs > windowStart) this.quantized = { windowStart, revision };
    return revision;
  }

  /** Expiry is by time, not by whether gc() has run yet (as in the memory datastore). */
  async assertRevisionReadable(revision: Revision): Promise<void> {
    this.assertOpen();
    // Before the round trip (assertRevisionInRange below checks it again, at no cost).
    if (revision < 0n) throw negativeRevision(revision);
    const { rows } = await this.use(() =>
      query<{ head: string; at_cutoff: string | null; oldest: string }>(
        this.pool,
        `SELECT (${HEAD_SQL}) AS head, ${revisionAtSql('$1')} AS at_cutoff,
         (SELECT value::bigint FROM metadata WHERE key = 'oldest_readable') AS oldest`,
        [new Date(this.now() - this.gcWindowMs)],
      ),
    );
    const boundary = laterRevision(BigInt(rows[0].at_cutoff ?? 0), BigInt(rows[0].oldest));
    assertRevisionInRange(revision, this.seeHead(BigInt(rows[0].head)), boundary);
  }

  /** Reads at `revision`: from a read replica that has applied it, if any (unless `options.primary`), else the primary. */
  snapshot(revision: Revision, options: ds.SnapshotOptions = {}): ds.SnapshotReader {
    const primary = options.primary === true;
    return {
      revision,
      primary,
      queryRelationships: async (q, options) => {
        this.assertOpen();
        if (revision < 0n) throw negativeRevision(revision);
        validateLimit(options?.limit, 'query');
        const rows = await this.snapshotRead<RelationshipRow & { id: string | null }>(
          revision,
          primary,
          relationshipsSql(q, revision, this.now(), options),
        );
        return rows.filter((row) => row.id !== null).map(toRelationship);
      },
      readSchema: async () => {
        this.assertOpen();
        if (revision < 0n) throw negativeRevision(revision);
        const [row] = await this.snapshotRead<{ revision: string | null; text: string | null }>(
          revision,
          primary,
          { text: SCHEMA_AT, values: [String(revision)] },
          'q.revision, q.text',
        );
        return row.revision === null ? undefined : { text: row.text!, revision: BigInt(row.revision) };
      },
    };
  }

  /**
   * Group commit: the transactions waiting for the writer when it becomes free run one after another
   * in one database transaction, each as its own revision (consecutive, as when they commit one by
   * one), and are made durable by one COMMIT: one WAL flush, and one commit lock turn, instead of one
   * each. Each is still all or nothing on its own: one that throws is rolled back to the savepoint it
   * began at while the others go on, and one whose signal aborts before the COMMIT is undone with
   * those after it (which read what it wrote). Nothing is acknowledged before the COMMIT has returned.
   */
  readWrite<T>(
    fn: (tx: ds.ReadWriteTransaction) => Promise<T>,
    { signal, metadata }: ds.WriteOptions = {},
  ): Promise<{ revision: Revision; result: T }> {
    if (this.closed) return Promise.reject(closedDatastore());
    return this.groups.enqueue(fn, signal, metadata);
  }

  /** Runs the waiting transactions (at most MAX_GROUP) in one database transaction and commits them. */
  private async commitGroup(members: GroupMember[]): Promise<void> {
    if (this.closed) {
      for (const m of members) settle(m, undefined, closedDatastore());
      return;
    }
    let outcome: GroupOutcome;
    try {
      outcome = await this.use(() =>
        withClient(this.writePool, (client, discard) => this.runGroup(client, discard, members)),
      );
    } catch (e) {
      // No connection, or the commit lock could not be had: none of them ran.
      for (const m of members) settle(m, undefined, e);
      return;
    }
    const { done, rest } = outcome;
    // The members not run yet wait for the next group.
    this.groups.requeue(rest);
    if (done.length === 0) return;
    for (const d of done) settle(d.member, { revision: d.revision, result: d.result });
    const last = done[done.length - 1];
    if (outcome.schema) this.schema = outcome.schema;
    this.seeHead(last.revision);
    this.notifier.notify(last.revision);
    this.keepStatisticsFresh(done.reduce((n, d) => n + d.inserted, 0));
  }

  /**
   * The group on one connection: BEGIN, the commit lock and the head in one round trip, each member's
   * transaction, then its commits, schemas and COMMIT in one more. Settles every member that failed;
   * returns those that committed, and those left to run in the next group when the database
   * transaction was lost before their turn.
   */
  private async runGroup(
    client: pg.PoolClient,
    discard: (reason: Error) => void,
    members: GroupMember[],
  ): Promise<GroupOutcome> {
    if (members.every((m) => m.settled)) return { done: [], rest: [] };
    const pid = members.some((m) => m.signal) ? await backendPid(client) : undefined;
    let finished = false;
    let cancelled = false;
    /** Stops what the connection runs, for good: it is not reused, and the database transaction is lost. */
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      discard(new Error('a cancel was sent to this connection'));
      cancelUntil(this.pool.options, pid!, () => finished);
    };
    try {
      return await this.runMembers(client, discard, members, cancel, () => cancelled);
    } finally {
      finished = true;
    }
  }

  private async runMembers(
    client: pg.PoolClient,
    discard: (reason: Error) => void,
    members: GroupMember[],
    cancel: () => void,
    isCancelled: () => boolean,
  ): Promise<GroupOutcome> {
    const live = () => members.filter((m) => !m.settled);
    // While the group waits for the commit lock (held by another process, say), a member whose call
    // ends leaves it at once, unless it is the last one: then the wait itself stops, and it is
    // answered once it has (so no abandoned lock wait is left behind it).
    const leave = new Map<GroupMember, () => void>();
    for (const m of members) {
      if (!m.signal || m.settled) continue;
      const signal = m.signal;
      leave.set(m, () => {
        if (members.some((o) => o !== m && !o.settled)) settle(m, undefined, signal.reason);
        else cancel();
      });
    }
    let first: pg.QueryResult[];
    try {
      for (const [m, listener] of leave) {
        m.signal!.removeEventListener('abort', m.drop);
        m.signal!.addEventListener('abort', listener, { once: true });
      }
      // Waiting for a connection may have outlasted every call.
      if (live().length === 0) return { done: [], rest: [] };
      first = (await query(client, this.beginSql)) as unknown as pg.QueryResult[];
    } catch (e) {
      await query(client, 'ROLLBACK').catch(discard);
      if (isCancelled()) return { done: [], rest: [] };
      throw e;
    } finally {
      for (const [m, listener] of leave) {
        m.signal!.removeEventListener('abort', listener);
        if (m.signal!.aborted) settle(m, undefined, m.signal!.reason);
        else if (!m.settled) m.signal!.addEventListener('abort', m.drop, { once: true });
      }
    }
    const { head, schema_rev } = first[2].rows[0] as { head: string; schema_rev: string | null };
    const db = new SharedTransaction(client, BEGIN_SAVEPOINT);
    // The newest schema, when it is the one this process read last: no round trip to read it again.
    const known = this.schema;
    let newest: StoredSchema | null | undefined =
      schema_rev === null ? null : known !== undefined && known.revision === BigInt(schema_rev) ? known : undefined;
    let revision = BigInt(head) + 1n;
    const done: Ran[] = [];
    let lost: unknown; // set when the database transaction cannot go on
    /**
     * Undoes done[from] and the members after it (they may have read what it wrote): the first fails
     * with `error` (its own), the others retryably, or with their signal's reason if it aborted.
     */
    const undoFrom = async (from: number, error: (d: Ran) => unknown) => {
      lost = await db.rollbackTo(done[from].start).then(
        () => undefined,
        (e: unknown) => e,
      );
      revision = done[from].revision;
      newest = done[from].newestBefore;
      for (const d of done.splice(from)) {
        const signal = d.member.signal;
        settle(d.member, undefined, signal?.aborted ? signal.reason : error(d));
      }
    };
    /** After a deferred write failed: undoes its member, if it already ran, with those after it. */
    const undoFailed = async (): Promise<boolean> => {
      const failure = db.failure;
      if (!failure) return false;
      db.failure = undefined;
      const at = done.findIndex((d) => d.index === failure.owner);
      if (at < 0) return false;
      const failed = done[at];
      await undoFrom(at, (d) => (d === failed ? failure.error : undoneWithEarlier()));
      return true;
    };
    let next = 0;
    for (; next < members.length && lost === undefined && !isCancelled(); next++) {
      const m = members[next];
      if (m.settled) continue; // its signal aborted while the ones before it ran
      m.signal?.removeEventListener('abort', m.drop);
      const start = db.latest;
      // With nothing of the group at stake yet, an abort stops the statement running, as a lone
      // writer's does (a long import's INSERT, say); later members then wait for the next group.
      // After that, it takes effect at the member's next step (each checks its signal).
      const stop = done.length === 0 ? cancel : undefined;
      if (stop) m.signal?.addEventListener('abort', stop, { once: true });
      let tx: PostgresTransaction | undefined;
      const newestBefore = newest;
      let ran: Ran | undefined;
      let error: unknown;
      try {
        m.signal?.throwIfAborted();
        tx = new PostgresTransaction(db, next, revision, this.now, m.signal, {
          newest: newestBefore,
          read: (stored) => {
            if (stored) this.schema = stored;
          },
        });
        const result = await m.fn(tx);
        const { schema } = tx.finish();
        m.signal?.throwIfAborted();
        ran = { member: m, index: next, start, newestBefore, revision, result, schema, inserted: tx.inserted };
      } catch (e) {
        tx?.close();
        error = e;
      } finally {
        if (stop) m.signal?.removeEventListener('abort', stop);
      }
      const failure = db.failure;
      if (failure && failure.owner !== next) {
        // A write of a member before it failed only now: undo that one, those after it, and this one.
        if (isCancelled()) break;
        settle(m, undefined, m.signal?.aborted ? m.signal.reason : undoneWithEarlier());
        if (!(await undoFailed())) lost = failure.error;
        continue;
      }
      if (failure) {
        db.failure = undefined;
        ran = undefined;
        error = failure.error;
      }
      if (ran) {
        done.push(ran);
        if (ran.schema !== undefined) newest = { text: ran.schema, revision };
        revision++;
        continue;
      }
      // A statement cancelled because the call ended fails with "canceling statement due to user request": report why.
      settle(m, undefined, m.signal?.aborted ? m.signal.reason : error);
      if (isCancelled()) break;
      lost = await db.rollbackTo(start).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    if (isCancelled()) lost ??= new Error('cancelled');
    // The point of no return: the checks below and sending COMMIT are one step, nothing can abort in
    // between. A member whose signal aborted after it ran (a later member's fn awaited I/O meanwhile)
    // is undone, and with it the members after it, which read what it wrote: they fail, retryably.
    // Undoing takes a round trip, during which another may abort: check again after. So does a
    // deferred write that fails with the COMMIT (its member is undone, and the rest committed).
    for (;;) {
      const aborted = lost === undefined ? done.findIndex((d) => d.member.signal?.aborted) : -1;
      if (aborted >= 0) {
        await undoFrom(aborted, () => undoneWithAborted());
        continue;
      }
      if (lost !== undefined || done.length === 0) break;
      try {
        await db.commit(this.commitSql(done));
        return {
          done,
          rest: [],
          schema: done.reduce<StoredSchema | undefined>(
            (s, d) => (d.schema !== undefined ? { text: d.schema, revision: d.revision } : s),
            undefined,
          ),
        };
      } catch (e) {
        if (!(await undoFailed())) lost = e;
      }
    }
    await query(client, 'ROLLBACK').catch(discard);
    for (const d of done) settle(d.member, undefined, lost);
    return { done: [], rest: members.slice(next).filter((m) => !m.settled) };
  }

  /**
   * The members' commits (one time for the group, never before the previous commit's) and schemas,
   * then COMMIT: one simple query, so one round trip, sent in the same step as the last abort checks.
   */
  private commitSql(done: Ran[]): string {
    const from = String(done[0].revision);
    const to = String(done[done.length - 1].revision);
    const at = textLiteral(new Date(this.now()).toISOString());
    // Transaction metadata, when a member has some: joined to the members' revisions.
    const withMetadata = done.filter((d) => d.member.metadata !== undefined);
    const metadata =
      withMetadata.length === 0
        ? undefined
        : `(VALUES ${withMetadata.map((d) => `(${String(d.revision)}::bigint, ${textLiteral(d.member.metadata!)})`).join(', ')}) AS m (revision, metadata)`;
    const statements = [
      `INSERT INTO commits (revision, committed_at${metadata ? ', metadata' : ''})
       SELECT r, GREATEST(${at}::timestamptz, (SELECT committed_at FROM commits ORDER BY revision DESC LIMIT 1))${metadata ? ', m.metadata' : ''}
       FROM generate_series(${from}::bigint, ${to}::bigint) AS r${metadata ? ` LEFT JOIN ${metadata} ON m.revision = r` : ''}`,
    ];
    const schemas = done.filter((d) => d.schema !== undefined);
    if (schemas.length > 0)
      statements.push(
        `INSERT INTO schemas (revision, text) VALUES ${schemas.map((d) => `(${String(d.revision)}, ${textLiteral(d.schema!)})`).join(', ')}`,
      );
    statements.push('COMMIT');
    return statements.join('; ');
  }

  async revisionAt(ms: number): Promise<Revision> {
    const { rows } = await this.use(() =>
      query<{ revision: string | null }>(this.pool, `SELECT ${revisionAtSql('$1')} AS revision`, [new Date(ms)]),
    );
    return BigInt(rows[0].revision ?? 0);
  }

  /**
   * Runs `fn` with the primary's pool, tracked so close() waits for it: for tables kept beside the
   * datastore's in the same database, such as the OpenFGA catalog's.
   */
  withPrimary<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    return this.use(() => fn(this.pool));
  }

  /** Ends quietly when `signal` aborts or the datastore closes; a lost connection ends it with UNAVAILABLE. */
  async *watch(after: Revision, signal?: AbortSignal, only?: ds.WatchPatterns): AsyncIterable<ds.RevisionChanges> {
    this.assertOpen();
    if (after < 0n) throw negativeRevision(after);
    await this.readAt(after, undefined);
    yield* watchCommits(after, signal, {
      closed: () => this.closed,
      read: async (cursor) => {
        let batch: Awaited<ReturnType<typeof readCommits>>;
        try {
          batch = await this.use(() => readCommits(this.pool, cursor, WATCH_BATCH, only));
        } catch (e) {
          if (this.closed || signal?.aborted) return undefined;
          throw e;
        }
        if (cursor < batch.oldest) throw expiredRevision(cursor, batch.oldest);
        return batch.commits;
      },
      wait: (cursor) => this.notifier.wait(cursor, signal),
      deliver: (c) => c,
    });
  }

  /**
   * Drop row versions deleted at or before the oldest readable revision (the one current at
   * now - gcWindow), versions that expired before that time, and older change-log entries and
   * schema versions. Needs no lock; safe to run from several processes.
   */
  gc(nowMs: number = this.now()): Promise<GcResult> {
    return this.use(() => collectGarbage(this.writePool, nowMs, this.gcWindowMs));
  }

  /** The read replicas' state, in the order configured (none without replicas). */
  replicaStats(): ReplicaStats[] {
    return this.replicas?.stats(this.knownHead) ?? [];
  }

  /** How many snapshot reads the primary answered (every one without replicas; with them, those no replica could). */
  primaryReads(): number {
    return this.primaryReadCount;
  }

  /** Ends watches, lets calls in progress finish and closes the pools. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await stopBackgroundWork(this.notifier, this.gcLoop, this.mutex);
    await Promise.allSettled([...this.inFlight]);
    await Promise.all([
      this.pool.end(),
      this.writePool !== this.pool ? this.writePool.end() : undefined,
      this.replicas?.close(),
    ]);
  }

  /**
   * Until autovacuum first analyzes a table (up to a minute or more), the planner guesses, and after a
   * bulk import it guesses badly: it scans a whole type's index instead of looking up the ids asked
   * for. So after every doubling of the rows this process inserted (10k, 20k, 40k…), refresh the
   * statistics in the background: logarithmically few ANALYZEs, each sampling a bounded number of rows.
   */
  private keepStatisticsFresh(inserted: number): void {
    this.insertedSinceAnalyze += inserted;
    if (this.insertedSinceAnalyze < this.analyzeAt || this.analyzing || this.closed) return;
    this.analyzing = true;
    this.analyzeAt = this.insertedSinceAnalyze * 2;
    this.use(() => query(this.pool, 'ANALYZE relationships'))
      .catch(() => undefined) // autovacuum will do it anyway
      .finally(() => {
        this.analyzing = false;
      });
  }

  /** Runs `fn` unless closed, tracked so close() waits for it. */
  private use<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const call = fn();
    this.inFlight.add(call);
    void call.catch(() => undefined).finally(() => this.inFlight.delete(call));
    return call;
  }

  /**
   * A snapshot read: on a replica that has applied `revision` when there is one (and `primary` is
   * not asked for), else on the primary. The replica's statement returns its own head and oldest
   * readable revision, checked like the primary's; a replica that fails, or turns out not to have
   * the revision after all, leaves the read to the primary.
   */
  private async snapshotRead<R extends pg.QueryResultRow>(
    revision: Revision,
    primary: boolean,
    inner: Sql | undefined,
    columns?: string,
  ): Promise<R[]> {
    const replica = primary ? undefined : this.replicas?.pick(revision);
    if (replica) {
      const sql = withRevisionState(inner, columns);
      const rows = await this.use(() => this.replicas!.read<R & { head: string; oldest: string }>(replica, sql));
      if (rows && BigInt(rows[0].head) >= revision) {
        assertRevisionInRange(revision, BigInt(rows[0].head), BigInt(rows[0].oldest));
        replica.reads++;
        return inner ? rows : [];
      }
    }
    this.primaryReadCount++;
    return this.readAt<R>(revision, inner, columns);
  }

  /**
   * Rows of `inner` read at `revision`, after checking in the same statement that the revision is
   * committed and not collected. Reads only check what makes a read wrong (not time expiry), so
   * in-flight requests finish.
   */
  private async readAt<R extends pg.QueryResultRow>(
    revision: Revision,
    inner: Sql | undefined,
    columns?: string,
  ): Promise<R[]> {
    const sql = withRevisionState(inner, columns);
    const { rows } = await this.use(() => query<R & { head: string; oldest: string }>(this.pool, sql.text, sql.values));
    assertRevisionInRange(revision, this.seeHead(BigInt(rows[0].head)), BigInt(rows[0].oldest));
    return inner ? rows : [];
  }

  /** Notes a primary head seen (for replica lag) and returns it. */
  private seeHead(head: Revision): Revision {
    if (head > this.knownHead) this.knownHead = head;
    return head;
  }

  private assertOpen(): void {
    if (this.closed) throw closedDatastore();
  }
}

/**
 * Connects to a migrated database. Refuses an unmigrated one (run `pemba datastore migrate`) and one
 * migrated by a newer Pemba.
 */
export async function openPostgresDatastore(
  connUri: string,
  options: PostgresDatastoreOptions = {},
): Promise<PostgresDatastore> {
  const pool = createPool(connUri, options);
  const writePool = options.writePool ? createPool(connUri, options.writePool) : pool;
  try {
    const id = await readDatastoreId(pool);
    await Promise.all([openMinimum(pool), writePool !== pool ? openMinimum(writePool) : undefined]);
    return new PostgresDatastore(pool, id, options, writePool);
  } catch (e) {
    await Promise.all([pool.end(), writePool !== pool ? writePool.end() : undefined]);
    throw mapPgError(e);
  }
}
