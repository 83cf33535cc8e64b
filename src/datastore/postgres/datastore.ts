/**
 * The PostgreSQL datastore (pg, a connection pool): for production, shared by several Pemba
 * processes. Same MVCC design as the memory datastore, in tables (see migrations.ts).
 *
 * Commit order: every read-write transaction first takes a transaction-scoped advisory lock
 * (pg_advisory_xact_lock, keyed by the datastore id) and holds it until COMMIT. That serialises
 * writers across processes, so (a) the revision is simply head + 1, dense and assigned in commit
 * order, which Watch relies on (a reader can never see revision N+1 committed before N); and (b) the
 * transaction's READ COMMITTED reads, all made after the lock was granted, see every earlier commit,
 * so two writers with conflicting preconditions cannot both succeed. SERIALIZABLE with retries would
 * allow concurrent writers but must re-run the caller's function on conflict, and still needs
 * ordering for dense revisions; one writer at a time is what the other backends do too. Within a
 * process an in-process mutex queues writers first, so waiting writers do not hold pool connections.
 *
 * A transaction whose caller's signal aborts never commits: it leaves the queue at once; until COMMIT
 * is sent, the abort cancels the statement it is running (a wait for the lock held by another
 * process, say) and the transaction rolls back; from COMMIT on, COMMIT's outcome is the answer.
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
import { closedDatastore, expiredRevision, negativeRevision } from '../../errors/index.js';
import { startOwnGcLoop, stopBackgroundWork } from '../common/durable.js';
import type { GcLoop } from '../common/gc-loop.js';
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
import { createPool, query, withClient } from './pool.js';
import type { RelationshipRow, Sql } from './queries.js';
import { relationshipsSql, SCHEMA_AT, toRelationship, withRevisionState } from './queries.js';
import type { ReplicaSetOptions, ReplicaStats } from './replicas.js';
import { ReplicaSet } from './replicas.js';
import { PostgresTransaction } from './transaction.js';
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
}

/** Rows inserted before the first statistics refresh (see keepStatisticsFresh). */
const ANALYZE_AFTER_ROWS = 10_000;

/** Commits read per watch round trip. */
const WATCH_BATCH = 100;

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
  private readonly mutex = new Mutex();
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
      `SELECT (${HEAD_SQL}) AS head, (SELECT max(revision) FROM schemas) AS schema_rev`;
    this.notifier = new CommitNotifier(() => this.headRevision(), options.watchPollMs ?? 100);
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

  readWrite<T>(
    fn: (tx: ds.ReadWriteTransaction) => Promise<T>,
    { signal }: ds.WriteOptions = {},
  ): Promise<{ revision: Revision; result: T }> {
    return this.mutex.run(async () => {
      this.assertOpen();
      const committed = await withClient(this.pool, async (client, discard) => {
        const pid = signal && (await backendPid(client));
        let settled = false;
        const cancel = () => {
          discard(new Error('a cancel was sent to this connection'));
          cancelUntil(this.pool.options, pid!, () => settled);
        };
        signal?.addEventListener('abort', cancel, { once: true });
        let tx: PostgresTransaction | undefined;
        let committing = false;
        try {
          // Waiting for a connection may have outlasted the call.
          signal?.throwIfAborted();
          // One round trip: BEGIN, the commit lock, and (a statement after the lock is granted, so its
          // snapshot includes the previous commit) the head and the newest schema's revision.
          const results = (await query(client, this.beginSql)) as unknown as pg.QueryResult[];
          const { head, schema_rev } = results[2].rows[0] as { head: string; schema_rev: string | null };
          const revision = BigInt(head) + 1n;
          // The newest schema, when it is the one this process read last: no round trip to read it again.
          const known = this.schema;
          const schema =
            schema_rev === null
              ? null
              : known !== undefined && known.revision === BigInt(schema_rev)
                ? known
                : undefined;
          tx = new PostgresTransaction(client, revision, this.now, signal, {
            newest: schema,
            read: (stored) => {
              if (stored) this.schema = stored;
            },
          });
          const result = await fn(tx);
          await tx.finish(this.now());
          // The point of no return: no cancel from here on, and no COMMIT if the call has ended.
          signal?.removeEventListener('abort', cancel);
          signal?.throwIfAborted();
          committing = true;
          await query(client, 'COMMIT');
          return { revision: tx.revision, result, inserted: tx.inserted };
        } catch (e) {
          signal?.removeEventListener('abort', cancel);
          tx?.close();
          // A connection that cannot even roll back is not returned to the pool.
          await query(client, 'ROLLBACK').catch(discard);
          // A statement cancelled because the call ended fails with "canceling statement due to user request": report why.
          throw !committing && signal?.aborted ? signal.reason : e;
        } finally {
          settled = true;
        }
      });
      this.seeHead(committed.revision);
      this.notifier.notify(committed.revision);
      this.keepStatisticsFresh(committed.inserted);
      return { revision: committed.revision, result: committed.result };
    }, signal);
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
    return this.use(() => collectGarbage(this.pool, nowMs, this.gcWindowMs));
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
    await Promise.all([this.pool.end(), this.replicas?.close()]);
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
  try {
    return new PostgresDatastore(pool, await readDatastoreId(pool), options);
  } catch (e) {
    await pool.end();
    throw mapPgError(e);
  }
}
