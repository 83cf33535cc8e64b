/**
 * The fast path of a write() that only CREATEs, as a bulk import's are: plain INSERTs, without the
 * savepoint that makes other writes atomic. A savepoint costs a copy of every page the call first
 * touches, and a batch of inserts touches pages all over the two relationship indexes: a third of
 * the import's time. Atomicity is kept by hand instead: this call's rows are known by id, and on a
 * conflict they are deleted again.
 */
import type { RelationshipUpdate } from '../../relationship.js';
import type { Revision } from '../datastore.js';
import { sqliteCall } from './sqlite-errors.js';
import type { StatementCache } from './sqlite-queries.js';
import { valuesOf } from './sqlite-queries.js';

export const INSERT_ROW =
  'INSERT INTO relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, ' +
  'caveat_name, caveat_context, expires_at, created_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
// The change log copies the rows just inserted, in order (ordinal = first + position in the id list).
const LOG_ROWS =
  "INSERT INTO changes SELECT ?, ? + j.key, 'TOUCH', r.resource_type, r.resource_id, r.relation, r.subject_type, " +
  'r.subject_id, r.subject_relation, r.caveat_name, r.caveat_context, r.expires_at FROM json_each(?) j ' +
  'JOIN relationships r ON r.id = j.value';
const DELETE_ROWS = 'DELETE FROM relationships WHERE id IN (SELECT value FROM json_each(?))';

/**
 * Insert every relationship as a new current version of `revision`, with change-log entries from
 * `ordinal` on; true when done. False when a relationship already has a current version (the unique
 * index on current versions refuses it): then nothing of this call is left, and the caller reruns it
 * with the general rules, which report the conflict or replace an expired version.
 */
export function tryCreateAll(stmts: StatementCache, revision: Revision, ordinal: number, updates: readonly RelationshipUpdate[]): boolean {
  const insert = stmts.get(INSERT_ROW);
  const ids: number[] = [];
  try {
    for (const u of updates) ids.push(Number(insert.run(...valuesOf(u.relationship), revision).lastInsertRowid));
    stmts.get(LOG_ROWS).run(revision, ordinal, JSON.stringify(ids));
    return true;
  } catch (e) {
    if (!stmts.db.inTransaction) throw e; // SQLite rolled the whole transaction back (I/O error, disk full)
    // The change-log INSERT is last and one statement: if it failed, SQLite already undid it.
    sqliteCall(() => stmts.get(DELETE_ROWS).run(JSON.stringify(ids)));
    if ((e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
    throw e;
  }
}
