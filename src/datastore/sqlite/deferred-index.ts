/**
 * A large import builds the subject index once at the end instead of row by row. Rows arrive in
 * resource order, so the resource index grows almost sequentially, but every row lands at a random
 * place in the subject index: a third of the import's time. Building it afterwards sorts once.
 * The index is dropped inside the write transaction and created again before anything in that
 * transaction reads and before COMMIT, so no reader and no commit ever lacks it (DDL is
 * transactional: a rollback restores it too).
 */
import type { StatementCache } from './queries.js';
import { SUBJECT_INDEX } from './migrations.js';

/** Rows a transaction inserts before deferring is considered: rebuilding has a fixed cost. */
const MIN_ROWS = 50_000;

export class DeferredSubjectIndex {
  private inserted = 0;
  private dropped = false;

  constructor(private readonly stmts: StatementCache) {}

  /**
   * `n` more rows were inserted. Defers the index once this transaction's rows outnumber the ones
   * before it, so the rebuild (which sorts every row) costs less than inserting the rest one by one.
   */
  add(n: number): void {
    this.inserted += n;
    if (this.dropped || this.inserted < MIN_ROWS) return;
    const { top } = this.stmts.get('SELECT coalesce(max(id), 0) AS top FROM relationships').get() as { top: number };
    if (top - this.inserted > this.inserted) return;
    this.stmts.db.exec('DROP INDEX relationships_current_by_subject');
    this.dropped = true;
  }

  /** The index exists again (before a read in the transaction, and before COMMIT). */
  restore(): void {
    if (!this.dropped) return;
    this.stmts.db.exec(SUBJECT_INDEX);
    this.dropped = false;
  }
}
