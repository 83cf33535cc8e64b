/**
 * The fast path of a write() that only CREATEs, as a bulk import's are, or only adds relationships
 * that have no current version (CREATE or TOUCH, as a bulk WriteRelationships' usually are): plain
 * INSERTs, without the
 * savepoint that makes other writes atomic. A savepoint costs a copy of every page the call first
 * touches, and a batch of inserts touches pages all over the two relationship indexes: a third of
 * the import's time. Atomicity is kept by hand instead: this call's rows are the ones with ids above
 * the largest before it, and on a conflict they are deleted again.
 *
 * While a transaction has written nothing but such batches, their change-log entries are not copied
 * into `changes`: they are the rows themselves (created_rev = the revision, ids in one range, in id
 * order), and the commit records that range in `commits.created_from` / `created_to`. The first
 * write of any other kind copies them (copyCreated) and the change log is written as usual from
 * then on. GC copies them too before it deletes such a row while its commit is still watchable
 * (gc.ts).
 */
import type { RelationshipUpdate } from '../../relationships/relationship.js';
import type { Revision } from '../datastore.js';
import { sqliteCall } from './errors.js';
import type { StatementCache } from './queries.js';
import { putValues, valuesOf } from './queries.js';

export const INSERT_ROW =
  'INSERT INTO relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, ' +
  'caveat_name, caveat_context, expires_at, created_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** Rows per multi-row INSERT: one statement step and one bind call instead of ROWS_PER_INSERT. */
const ROWS_PER_INSERT = 100;
const COLUMNS = 10;
/**
 * OR FAIL: a conflicting row stops the statement but keeps the rows before it, so SQLite needs no
 * statement journal (the copy of every page the statement touches that OR ABORT, the default, keeps
 * to undo a multi-row statement). The call's rows are deleted by hand on a conflict anyway.
 */
const INSERT_ROWS =
  'INSERT OR FAIL INTO relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, ' +
  `caveat_name, caveat_context, expires_at, created_rev) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
const TOP_ID = 'SELECT coalesce(max(id), 0) FROM relationships';
// Rows inserted after `id` are this call's: the transaction holds the write lock, and new rows get max(id) + 1.
const DELETE_AFTER = 'DELETE FROM relationships WHERE id > ?';
// The rows created at @rev with ids in [@from, @to], as change-log entries from @ordinal on, in id order.
const COPY_CREATED =
  "INSERT INTO changes SELECT @rev, @ordinal + row_number() OVER (ORDER BY id) - 1, 'TOUCH', resource_type, resource_id, " +
  'relation, subject_type, subject_id, subject_relation, caveat_name, caveat_context, expires_at FROM relationships ' +
  'WHERE id BETWEEN @from AND @to AND created_rev = @rev';

/**
 * Whether every update only adds (CREATE or TOUCH). A TOUCH of a relationship that has no current
 * version does what a CREATE does (inserts it, reported as a TOUCH), so such a batch is tried as
 * plain inserts first: the unique index on current versions refuses the first TOUCH that has one, and
 * the batch is rerun by the general rules. Trying costs less than asking the index first (one probe
 * per key either way), even when half of small batches rewrite existing relationships (bench/writes.ts).
 */
export function insertsOnly(updates: readonly RelationshipUpdate[]): boolean {
  for (const u of updates) if (u.operation !== 'CREATE' && u.operation !== 'TOUCH') return false;
  return true;
}

/** Ids of the rows a CREATE-only batch inserted: ascending, all of them in [first, last]. */
export interface CreatedIds {
  first: number;
  last: number;
}

/**
 * Insert every relationship as a new current version of `revision`, and when `log` is set, with
 * change-log entries from `ordinal` on; the range of the new rows' ids when done. Undefined when a
 * relationship already has a current version (the unique index on current versions refuses it):
 * then nothing of this call is left, and the caller reruns it with the general rules, which report
 * the conflict or replace an expired version. `updates` must not be empty.
 */
export function tryCreateAll(
  stmts: StatementCache,
  revision: Revision,
  ordinal: number,
  updates: readonly RelationshipUpdate[],
  log: boolean,
): CreatedIds | undefined {
  const top = stmts.get(TOP_ID).pluck().get() as number;
  try {
    const n = updates.length;
    const full = n - (n % ROWS_PER_INSERT);
    if (full > 0) {
      const insert = stmts.get(INSERT_ROWS);
      const args: unknown[] = new Array(ROWS_PER_INSERT * COLUMNS);
      for (let start = 0; start < full; start += ROWS_PER_INSERT) {
        let k = 0;
        for (let i = start; i < start + ROWS_PER_INSERT; i++) {
          k = putValues(updates[i].relationship, args, k);
          args[k++] = revision;
        }
        insert.run(args);
      }
    }
    const one = stmts.get(INSERT_ROW);
    for (let i = full; i < n; i++) one.run(...valuesOf(updates[i].relationship), revision);
    const ids = { first: top + 1, last: stmts.get('SELECT last_insert_rowid()').pluck().get() as number };
    if (log) copyCreated(stmts, revision, ordinal, ids);
    return ids;
  } catch (e) {
    if (!stmts.db.inTransaction) throw e; // SQLite rolled the whole transaction back (I/O error, disk full)
    // The change-log INSERT is last and one statement: if it failed, SQLite already undid it.
    sqliteCall(() => stmts.get(DELETE_AFTER).run(top));
    if ((e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') return undefined;
    throw e;
  }
}

/** Write the change-log entries of rows created at `revision` with ids in `ids`, from `ordinal` on. */
export function copyCreated(stmts: StatementCache, revision: Revision, ordinal: number, ids: CreatedIds): void {
  stmts.get(COPY_CREATED).run({ rev: revision, ordinal, from: ids.first, to: ids.last });
}
