/**
 * Garbage collection for SQLite, with the memory datastore's semantics (memory-datastore.ts gc()).
 * The oldest readable revision is raised first, in its own commit, so a reader never sees a revision
 * with half its rows collected; rows are then deleted in small batches, each its own short write
 * transaction, so requests queued behind the write lock are not held up for long.
 */
import type { Revision } from '../datastore.js';
import type { GcResult } from '../memory/memory-datastore.js';
import type { StatementCache } from './sqlite-queries.js';
import { expiryBoundary } from './sqlite-queries.js';

const BATCH = 5_000;

/** Runs `fn` as one write transaction, between other transactions. */
export type WriteRunner = <T>(fn: () => T) => Promise<T>;

export async function collectGarbage(run: WriteRunner, stmts: StatementCache, nowMs: number, gcWindowMs: number): Promise<GcResult> {
  const boundary: Revision = await run(() => {
    const b = expiryBoundary(stmts, nowMs, gcWindowMs);
    stmts.get("UPDATE metadata SET value = ? WHERE key = 'oldest_readable'").run(String(b));
    return b;
  });
  const cutoff = nowMs - gcWindowMs;
  let versions = 0;
  for (const [where, bound] of [['deleted_rev <= ?', boundary], ['expires_at <= ?', cutoff]] as const) {
    const sql = `DELETE FROM relationships WHERE id IN (SELECT id FROM relationships WHERE ${where} LIMIT ${BATCH})`;
    for (;;) {
      const n = await run(() => stmts.get(sql).run(bound).changes);
      versions += n;
      if (n < BATCH) break;
    }
  }
  const commits = await run(() => {
    stmts.get('DELETE FROM changes WHERE revision < ?').run(boundary);
    // Keep the schema that was current at the boundary.
    stmts.get('DELETE FROM schemas WHERE revision < (SELECT max(revision) FROM schemas WHERE revision <= ?)').run(boundary);
    return stmts.get('DELETE FROM commits WHERE revision < ?').run(boundary).changes;
  });
  return { oldestReadable: boundary, versions, commits };
}
