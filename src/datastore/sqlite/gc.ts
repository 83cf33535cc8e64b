/**
 * Garbage collection for SQLite, with the memory datastore's semantics (memory/gc.ts).
 * The oldest readable revision is raised first, in its own commit, so a reader never sees a revision
 * with half its rows collected; rows are then deleted in small batches, each its own short write
 * transaction, so requests queued behind the write lock are not held up for long.
 */
import type { Revision } from '../datastore.js';
import type { GcResult } from '../common/options.js';
import type { StatementCache } from './queries.js';
import { expiryBoundary } from './queries.js';
import { copyCreated } from './create-batches.js';

const BATCH = 5_000;

/**
 * Commits still watchable whose changes are read from the rows they created (create-batches.ts) and
 * that created a row this collection deletes as expired: their changes are copied to the change log
 * first. (A row deleted at or before the boundary was created before it, by an unwatchable commit.)
 */
const LAZY_COMMITS_LOSING_ROWS =
  'SELECT revision, created_from, created_to FROM commits WHERE created_from IS NOT NULL AND revision IN ' +
  '(SELECT created_rev FROM relationships WHERE expires_at <= ? AND created_rev >= ?)';

/** Runs `fn` as one write transaction, between other transactions. */
export type WriteRunner = <T>(fn: () => T) => Promise<T>;

export async function collectGarbage(
  run: WriteRunner,
  stmts: StatementCache,
  nowMs: number,
  gcWindowMs: number,
): Promise<GcResult> {
  const cutoff = nowMs - gcWindowMs;
  const boundary: Revision = await run(() => {
    const b = expiryBoundary(stmts, nowMs, gcWindowMs);
    stmts.get("UPDATE metadata SET value = ? WHERE key = 'oldest_readable'").run(String(b));
    return b;
  });
  let versions = 0;
  for (const [where, bound] of [
    ['deleted_rev <= ?', boundary],
    ['expires_at <= ?', cutoff],
  ] as const) {
    const sql = `DELETE FROM relationships WHERE id IN (SELECT id FROM relationships WHERE ${where} LIMIT ${BATCH})`;
    for (;;) {
      const n = await run(() => {
        // In the same transaction as the deletion: a commit made since the last batch may have created an expired row.
        if (where.startsWith('expires_at')) keepChangesOfExpiredRows(stmts, cutoff, boundary);
        return stmts.get(sql).run(bound).changes;
      });
      versions += n;
      if (n < BATCH) break;
    }
  }
  const commits = await run(() => {
    stmts.get('DELETE FROM changes WHERE revision < ?').run(boundary);
    // Keep the schema that was current at the boundary.
    stmts
      .get('DELETE FROM schemas WHERE revision < (SELECT max(revision) FROM schemas WHERE revision <= ?)')
      .run(boundary);
    return stmts.get('DELETE FROM commits WHERE revision < ?').run(boundary).changes;
  });
  return { oldestReadable: boundary, versions, commits };
}

function keepChangesOfExpiredRows(stmts: StatementCache, cutoff: number, boundary: Revision): void {
  const lazy = stmts.get(LAZY_COMMITS_LOSING_ROWS).all(cutoff, boundary) as {
    revision: number;
    created_from: number;
    created_to: number;
  }[];
  for (const c of lazy) {
    copyCreated(stmts, BigInt(c.revision), 0, { first: c.created_from, last: c.created_to });
    stmts.get('UPDATE commits SET created_from = NULL, created_to = NULL WHERE revision = ?').run(c.revision);
  }
}
