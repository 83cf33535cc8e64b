/**
 * Watch support: reading commits from the change log, and waking watchers when a new commit may be
 * there — at once for commits made through this datastore, by polling the head for commits made by
 * other processes sharing the file (e.g. `pemba import` while a server runs).
 */
import type { RelationshipChange, Revision, RevisionChanges } from '../datastore.js';
import type { StatementCache } from './sqlite-queries.js';
import { toRelationship } from './sqlite-queries.js';

interface ChangeRow {
  revision: number;
  schema: string | null;
  operation: 'TOUCH' | 'DELETE' | null;
  resource_type: string;
  resource_id: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
  caveat_name: string | null;
  caveat_context: string | null;
  expires_at: number | null;
}

/** Commits in (after, after + maxCommits], ascending, with their changes and schema. */
export function readCommits(stmts: StatementCache, after: Revision, maxCommits: number): RevisionChanges[] {
  const rows = stmts.get(
    'SELECT c.revision, s.text AS schema, ch.operation, ch.resource_type, ch.resource_id, ch.relation, ch.subject_type, ' +
      'ch.subject_id, ch.subject_relation, ch.caveat_name, ch.caveat_context, ch.expires_at FROM commits c ' +
      'LEFT JOIN schemas s ON s.revision = c.revision LEFT JOIN changes ch ON ch.revision = c.revision ' +
      'WHERE c.revision > ? AND c.revision <= ? ORDER BY c.revision, ch.ordinal',
  ).all(after, after + BigInt(maxCommits)) as ChangeRow[];
  const commits: RevisionChanges[] = [];
  let last: RevisionChanges | undefined;
  for (const row of rows) {
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
  return commits;
}

interface Waiter {
  after: Revision;
  wake: () => void;
}

/** Wakes watchers waiting for a revision newer than the one they have seen. */
export class CommitNotifier {
  private readonly waiters = new Set<Waiter>();
  private knownHead: Revision = 0n;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    /** The committed head as the database sees it (other processes' commits included). */
    private readonly readHead: () => Revision,
    private readonly pollMs: number,
  ) {}

  /** `revision` was committed through this datastore. */
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
    if (this.timer || this.closed || this.pollMs <= 0) return;
    this.timer = setTimeout(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  private poll(): void {
    this.timer = undefined;
    if (this.waiters.size === 0) return;
    let head: Revision;
    try {
      head = this.readHead();
    } catch {
      // Let the watchers read again: they report the failure to their callers.
      for (const w of [...this.waiters]) w.wake();
      return;
    }
    this.notify(head);
    if (this.waiters.size > 0) this.schedulePoll();
  }
}
