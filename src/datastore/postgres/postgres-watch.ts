/**
 * Watch support: reading commits from the change log, and waking watchers when a new commit may be
 * there — at once for commits made through this datastore, and by polling the head (one cheap
 * primary-key lookup per interval, shared by all watchers, only while some wait) for commits made by
 * other processes. Polling rather than LISTEN/NOTIFY: no dedicated connection to keep alive and
 * re-subscribe after PostgreSQL restarts, and nothing is missed while disconnected.
 */
import type pg from 'pg';
import type { RelationshipChange, Revision, RevisionChanges } from '../datastore.js';
import { query } from './postgres-pool.js';
import type { RelationshipRow } from './postgres-queries.js';
import { toRelationship } from './postgres-queries.js';

type ChangeRow = Omit<RelationshipRow, 'id' | 'created_rev' | 'resource_type'> & {
  oldest: string;
  revision: string | null;
  schema: string | null;
  operation: 'TOUCH' | 'DELETE' | null;
  resource_type: string;
};

/**
 * The oldest readable revision and the commits in (after, after + maxCommits], ascending, with their
 * changes and schema: one statement, so garbage collection cannot remove part of what it reads.
 */
export async function readCommits(
  pool: pg.Pool,
  after: Revision,
  maxCommits: number,
): Promise<{ oldest: Revision; commits: RevisionChanges[] }> {
  const { rows } = await query<ChangeRow>(
    pool,
    `SELECT s.oldest, x.* FROM (SELECT value::bigint AS oldest FROM metadata WHERE key = 'oldest_readable') s
     LEFT JOIN LATERAL (
       SELECT c.revision, sc.text AS schema, ch.operation, ch.resource_type, ch.resource_id, ch.relation, ch.subject_type,
         ch.subject_id, ch.subject_relation, ch.caveat_name, ch.caveat_context, ch.expires_at
       FROM commits c LEFT JOIN schemas sc ON sc.revision = c.revision LEFT JOIN changes ch ON ch.revision = c.revision
       WHERE c.revision > $1 AND c.revision <= $2 ORDER BY c.revision, ch.ordinal
     ) x ON true`,
    [String(after), String(after + BigInt(maxCommits))],
  );
  const commits: RevisionChanges[] = [];
  let last: RevisionChanges | undefined;
  for (const row of rows) {
    if (row.revision === null) continue;
    const revision = BigInt(row.revision);
    if (last?.revision !== revision) {
      last = { revision, changes: [], ...(row.schema !== null ? { schema: row.schema } : {}) };
      commits.push(last);
    }
    if (row.operation !== null) {
      const change: RelationshipChange = { operation: row.operation, relationship: toRelationship(row) };
      last.changes.push(change);
    }
  }
  return { oldest: BigInt(rows[0].oldest), commits };
}

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
    private readonly readHead: () => Promise<Revision>,
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
